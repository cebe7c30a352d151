"""Remembered attribute-chain shapes answer exactly as the walk does: over every recorded link message (first
walked, then answered from a shape), for messages of one length but other shapes, for a malformed chain of
a remembered length, and when no more shapes may be remembered."""

from __future__ import annotations

import struct

import pytest

from tests.netlink_data import reply, split
from vnettop.collect import rtnl_parser
from vnettop.linux.attr_shapes import AttributeShapes
from vnettop.linux.netlink import attributes

RTM_NEWLINK = 16
RECORDINGS = ("links_a", "links_b", "links_synthetic", "links_names")


def _link_messages() -> list[bytes]:
    return [m for name in RECORDINGS for m in split(reply(name)) if struct.unpack_from("=H", m, 4)[0] == RTM_NEWLINK]


def _attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + bytes(-(4 + len(payload)) % 4)


def test_every_recorded_link_is_found_alike_walked_or_from_its_shape() -> None:
    msgs = _link_messages()
    assert len(msgs) > 20
    shapes = AttributeShapes(rtnl_parser.TOP_WANTED)
    for round_ in range(2):
        for msg in msgs:
            assert shapes.find(msg, 32, len(msg)) == attributes(msg, 32, len(msg), rtnl_parser.TOP_WANTED)
        if round_ == 0:
            learned, walked = shapes._count, shapes.walks
            assert learned > 0 and walked == len(msgs) - shapes.hits
    assert shapes.walks == walked  # the second round: every message answered by a shape
    assert shapes.hits >= len(msgs)
    # In a buffer of several messages, at any offset: the offsets are the message's own.
    buf = b"".join(msgs)
    off = 0
    for msg in msgs:
        assert shapes.find(memoryview(buf), off + 32, off + len(msg)) == attributes(
            buf, off + 32, off + len(msg), rtnl_parser.TOP_WANTED)
        off += len(msg)


def test_a_chain_of_the_same_length_but_another_shape_is_walked() -> None:
    wanted = frozenset({3, 4})  # IFLA_IFNAME, IFLA_MTU
    first = _attr(3, b"ab\0") + _attr(4, struct.pack("=I", 1500))
    swapped = _attr(4, struct.pack("=I", 9000)) + _attr(3, b"cd\0")
    other_sizes = _attr(3, b"a\0") + _attr(5, struct.pack("=I", 7))  # same length, another kind at the end
    assert len(first) == len(swapped) == len(other_sizes)
    shapes = AttributeShapes(wanted)
    assert shapes.find(first, 0, len(first)) == {3: (4, 3), 4: (12, 4)}
    assert shapes.find(swapped, 0, len(swapped)) == {4: (4, 4), 3: (12, 3)}
    assert shapes.find(other_sizes, 0, len(other_sizes)) == {3: (4, 2)}
    assert shapes.walks == 3 and shapes.hits == 0
    again = _attr(3, b"xy\0") + _attr(4, struct.pack("=I", 1280))  # the first's shape, other values
    assert shapes.find(again, 0, len(again)) == {3: (4, 3), 4: (12, 4)} and shapes.hits == 1
    # The first attribute of a repeated type, as the walk keeps it.
    twice = _attr(3, b"ab\0") + _attr(3, b"zz\0")
    assert shapes.find(twice, 0, len(twice)) == {3: (4, 3)}
    assert shapes.find(twice, 0, len(twice)) == {3: (4, 3)} and shapes.hits == 2


def test_a_malformed_chain_of_a_remembered_length_still_raises() -> None:
    shapes = AttributeShapes(frozenset({3, 4}))
    good = _attr(3, b"ab\0") + _attr(4, struct.pack("=I", 1500))
    shapes.find(good, 0, len(good))
    bad = bytearray(good)
    struct.pack_into("=H", bad, 0, 200)  # the first attribute claims more than the chain holds
    with pytest.raises(ValueError):
        shapes.find(bad, 0, len(bad))
    with pytest.raises(rtnl_parser.Fallback):  # what the link parser makes of it: pyroute2 decides
        msg = bytearray(struct.pack("=IHHIIBxHiII", 32 + len(bad), RTM_NEWLINK, 0, 0, 0, 0, 1, 3, 0, 0)) + bad
        rtnl_parser.parse_link(memoryview(bytes(msg)), 0, len(msg), 1)


def test_past_its_bound_nothing_more_is_remembered_and_answers_stay_right() -> None:
    shapes = AttributeShapes(frozenset({3}))
    shapes.MAX_SHAPES = 2
    names = [b"n" * size + b"\0" for size in (3, 7, 11, 15)]  # four lengths, four shapes
    for name in names * 2:
        chain = _attr(3, name)
        assert shapes.find(chain, 0, len(chain)) == {3: (4, len(name))}
    assert shapes._count == 2 and shapes.hits == 2 and shapes.walks == 6
