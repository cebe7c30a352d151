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


def _shape_of(msg: bytes) -> tuple[int, tuple[bytes, ...]]:
    """The chain's length and every attribute header on it, walked here by hand."""
    heads, pos = [], 32
    while pos + 4 <= len(msg):
        heads.append(msg[pos:pos + 4])
        pos += (struct.unpack_from("=H", msg, pos)[0] + 3) & ~3
    return len(msg) - 32, tuple(heads)


def _attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + bytes(-(4 + len(payload)) % 4)


def test_every_recorded_link_is_found_alike_walked_or_from_its_shape() -> None:
    msgs = _link_messages()
    assert len(msgs) > 20
    distinct = {_shape_of(m) for m in msgs}
    assert len(distinct) < len(msgs)  # (some share a shape: else nothing here is answered from one)
    shapes = AttributeShapes(rtnl_parser.TOP_WANTED)
    for _ in range(2):
        for msg in msgs:
            assert shapes.find(msg, 32, len(msg)) == attributes(msg, 32, len(msg), rtnl_parser.TOP_WANTED)
    # Each shape walked once, the first time it came: every other message answered from its shape.
    assert shapes.walks == len(distinct) and shapes.hits == 2 * len(msgs) - len(distinct)
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


def _link(chain: bytes | bytearray) -> bytes:
    """A whole RTM_NEWLINK message (ifindex 3, ethernet) around an attribute chain."""
    return struct.pack("=IHHIIBxHiII", 32 + len(chain), RTM_NEWLINK, 0, 0, 0, 0, 1, 3, 0, 0) + bytes(chain)


@pytest.mark.parametrize("at", ["first", "second"])
def test_a_malformed_chain_of_a_remembered_length_still_raises(at: str) -> None:
    good = _attr(3, b"ab\0") + _attr(4, struct.pack("=I", 1500)) + _attr(13, struct.pack("=I", 1000))
    shapes = AttributeShapes(frozenset({3, 4}))
    shapes.find(good, 0, len(good))
    bad = bytearray(good)
    struct.pack_into("=H", bad, 0 if at == "first" else 8, 200)  # an attribute claims more than the chain holds
    with pytest.raises(ValueError):
        shapes.find(bad, 0, len(bad))
    # The link parser (its own shapes) after the good message: pyroute2 decides the bad one.
    assert rtnl_parser.parse_link(memoryview(_link(good)), 0, len(good) + 32, 1).link.mtu == 1500
    bad_msg = memoryview(_link(bad))
    with pytest.raises(rtnl_parser.Fallback):
        rtnl_parser.parse_link(bad_msg, 0, len(bad_msg), 1)


def test_flags_on_a_type_trailing_bytes_and_an_empty_chain_are_answered_as_the_walk_does() -> None:
    wanted = frozenset({3, 4})
    shapes = AttributeShapes(wanted)
    plain = _attr(3, b"ab\0") + _attr(4, struct.pack("=I", 1500))
    flagged = _attr(3 | 0x8000, b"ab\0") + _attr(4, struct.pack("=I", 1500))  # NLA_F_NESTED on the name
    for chain in (plain, flagged, plain, flagged):
        assert shapes.find(chain, 0, len(chain)) == attributes(chain, 0, len(chain), wanted) == {3: (4, 3), 4: (12, 4)}
    assert shapes.walks == 2 and shapes.hits == 2  # two shapes: the flag is part of a header
    for tail in (b"\x01\x02", b"\xff\xfe"):  # bytes after the last attribute, fewer than a header
        chain = plain + tail
        assert shapes.find(chain, 0, len(chain)) == attributes(chain, 0, len(chain), wanted)
    assert shapes.walks == 3 and shapes.hits == 3
    assert shapes.find(b"", 0, 0) == {} and shapes.find(b"", 0, 0) == {}
    assert shapes.walks == 4 and shapes.hits == 4


def test_a_buffer_changed_after_a_shape_was_learned_from_it_is_read_as_it_is_now() -> None:
    wanted = frozenset({3, 4})
    shapes = AttributeShapes(wanted)
    buf = bytearray(_attr(3, b"ab\0") + _attr(4, struct.pack("=I", 1500)))
    shapes.find(buf, 0, len(buf))
    buf[:] = _attr(4, struct.pack("=I", 9000)) + _attr(3, b"cd\0")
    assert shapes.find(buf, 0, len(buf)) == {4: (4, 4), 3: (12, 3)}


def test_a_length_keeps_at_most_its_share_of_shapes() -> None:
    shapes = AttributeShapes(frozenset({3}))
    kinds = [4, 5, 6, 7, 8]  # five chains of one length, each with another second attribute
    chains = [_attr(3, b"ab\0") + _attr(kind, struct.pack("=I", 1)) for kind in kinds]
    assert len({len(c) for c in chains}) == 1 and shapes.PER_LENGTH == 4
    for chain in chains * 2:
        assert shapes.find(chain, 0, len(chain)) == {3: (4, 3)}
    assert shapes._count == 4 and shapes.hits == 4 and shapes.walks == 6  # the fifth walked each time


def test_past_its_bound_nothing_more_is_remembered_and_answers_stay_right() -> None:
    shapes = AttributeShapes(frozenset({3}))
    shapes.MAX_SHAPES = 2
    names = [b"n" * size + b"\0" for size in (3, 7, 11, 15)]  # four lengths, four shapes
    for name in names * 2:
        chain = _attr(3, name)
        assert shapes.find(chain, 0, len(chain)) == {3: (4, len(name))}
    assert shapes._count == 2 and shapes.hits == 2 and shapes.walks == 6
