"""events.parse_messages (a few struct reads) against pyroute2's message classes, on real notifications.

`tests/data/netlink/events_a.hex` holds every datagram an event socket bound to `events.EVENT_GROUPS`
received in a throwaway namespace while veths were added, set up/down, enslaved, moved to another
namespace and deleted, v4/v6 addresses and a neighbour and a bridge FDB entry were added and removed,
and an nsid was assigned and then dropped (made by `python -m tests.record_netlink_more`). Each message
is decoded with `ifinfmsg` / `ifaddrmsg` / `ndmsg` / `nsidmsg` and must give the same event.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

from tests.netlink_data import datagrams, split
from vnettop import names
from vnettop.collect import events
from vnettop.collect.events import NetlinkEvent

NS = 4026532001
EVENT_NSID = 8  # what tests/record_netlink_more.py gave the namespace the veth end moved to


def pyroute2_event(raw: bytes) -> NetlinkEvent:
    """The same event, from pyroute2's own decoder."""
    mtype = struct.unpack_from("=H", raw, 4)[0]
    msg: Any
    if mtype in (events.RTM_NEWLINK, events.RTM_DELLINK):
        msg = ifinfmsg(raw)
        msg.decode()
        new_nsid = msg.get_attr("IFLA_NEW_NETNSID")
        if new_nsid is not None:
            # pyroute2 0.9.7 maps IFLA_NEW_NETNSID as 'be32'; the kernel writes it with nla_put_s32
            # (host order, like IFLA_LINK_NETNSID): undo pyroute2's byte swap.
            new_nsid = struct.unpack("=i", struct.pack(">I", new_nsid))[0]
        return NetlinkEvent(NS, msg["header"]["type"], msg["family"], msg["index"],
                            names.from_wire(msg.get_attr("IFLA_IFNAME")), new_nsid,
                            msg.get_attr("IFLA_NEW_IFINDEX"))
    if mtype in (events.RTM_NEWADDR, events.RTM_DELADDR):
        msg = ifaddrmsg(raw)
        msg.decode()
        return NetlinkEvent(NS, msg["header"]["type"], msg["family"], msg["index"])
    if mtype in (events.RTM_NEWNEIGH, events.RTM_DELNEIGH):
        msg = ndmsg(raw)
        msg.decode()
        entry = None
        if msg["family"] == events.AF_BRIDGE:  # what `decode.decode_fdb` reads of a dump's message
            entry = (msg.get_attr("NDA_MASTER"), msg.get_attr("NDA_LLADDR"), msg["ifindex"], msg["state"],
                     msg.get_attr("NDA_VLAN"))
        return NetlinkEvent(NS, msg["header"]["type"], msg["family"], msg["ifindex"], entry=entry)
    msg = nsidmsg(raw)
    msg.decode()
    return NetlinkEvent(NS, msg["header"]["type"], msg["rtgen_family"])


def both_ways(lean_bytes: bytes, pyroute2_bytes: bytes) -> tuple[list[NetlinkEvent], list[NetlinkEvent]]:
    return events.parse_messages(lean_bytes, NS), [pyroute2_event(m) for m in split(pyroute2_bytes)]


RECORDED = datagrams("events_a")


@pytest.mark.parametrize("index", range(len(RECORDED)))
def test_each_notification_decodes_the_same_both_ways(index: int) -> None:
    lean, reference = both_ways(RECORDED[index], RECORDED[index])
    assert lean, "the lean decoder read nothing"
    assert lean == reference


def test_one_buffer_of_every_notification_decodes_the_same() -> None:
    """Messages are walked by their lengths: one buffer of all of them gives the same events, in order."""
    everything = b"".join(RECORDED)
    lean, reference = both_ways(everything, everything)
    assert len(lean) == sum(len(split(d)) for d in RECORDED) == len(reference)
    assert lean == reference


def test_recording_covers_every_kind_the_hub_reads() -> None:
    got = [e for d in RECORDED for e in events.parse_messages(d, NS)]
    kinds = Counter((e.msg_type, e.family) for e in got)
    for want in [(events.RTM_NEWLINK, socket.AF_UNSPEC), (events.RTM_NEWLINK, events.AF_BRIDGE),
                 (events.RTM_DELLINK, socket.AF_UNSPEC), (events.RTM_NEWADDR, socket.AF_INET),
                 (events.RTM_NEWADDR, socket.AF_INET6), (events.RTM_DELADDR, socket.AF_INET),
                 (events.RTM_NEWNEIGH, socket.AF_INET), (events.RTM_DELNEIGH, socket.AF_INET),
                 (events.RTM_NEWNEIGH, events.AF_BRIDGE), (events.RTM_DELNEIGH, events.AF_BRIDGE),
                 (events.RTM_NEWNSID, socket.AF_UNSPEC), (events.RTM_DELNSID, socket.AF_UNSPEC)]:
        assert kinds[want], f"no {want} notification recorded"
    assert {e.kind for e in got} == {"link", "addr", "neigh", "fdb", "nsid"}
    names = {e.ifname for e in got if e.kind == "link"}
    assert names == {"ev0", "ev1", "evbr"}


def test_the_move_carries_the_new_nsid_and_ifindex() -> None:
    moves = [e for d in RECORDED for e in events.parse_messages(d, NS) if e.moved]
    assert len(moves) == 1
    (move,) = moves
    assert (move.ifname, move.new_nsid) == ("ev1", EVENT_NSID)
    assert move.new_ifindex is not None and move.new_ifindex > 1  # lo is 1 in every namespace
    # A plain deletion is not a move (AF_BRIDGE RTM_DELLINKs are ports leaving a bridge: ev1's nomaster).
    deletions = [e for d in RECORDED for e in events.parse_messages(d, NS)
                 if e.msg_type == events.RTM_DELLINK and not e.moved]
    assert {(e.family, e.ifname) for e in deletions} == {
        (socket.AF_UNSPEC, "ev0"), (socket.AF_UNSPEC, "evbr"), (events.AF_BRIDGE, "ev1")}


def _offset_of(raw: bytes, atype: int) -> int:
    """Offset of the payload of the first top-level link attribute `atype`."""
    pos = 16 + 16
    while pos + 4 <= len(raw):
        length, kind = struct.unpack_from("=HH", raw, pos)
        if kind & 0x3FFF == atype:
            return pos + 4
        pos += (length + 3) & ~3
    raise LookupError(atype)


def _move_message() -> bytes:
    for d in RECORDED:
        for m in split(d):
            if any(e.moved for e in events.parse_messages(m, NS)):
                return m
    raise LookupError("no move recorded")


@pytest.mark.parametrize("where", ["ifindex", "family", "type", "name", "new_nsid", "new_ifindex"])
def test_the_comparison_sees_one_corrupted_byte(where: str) -> None:
    """Corrupt one byte of the lean side's copy: the comparison must break (it is not vacuous)."""
    raw = _move_message()
    offset = {"ifindex": 20, "family": 16, "type": 4,
              "name": _offset_of(raw, events.IFLA_IFNAME),
              "new_nsid": _offset_of(raw, events.IFLA_NEW_NETNSID),
              "new_ifindex": _offset_of(raw, events.IFLA_NEW_IFINDEX)}[where]
    bad = bytearray(raw)
    bad[offset] ^= 0x01
    lean, reference = both_ways(bytes(bad), raw)
    assert lean != reference


NAMES = datagrams("events_names")


def test_names_that_are_not_utf8_decode_the_same_both_ways() -> None:
    """`events_names.hex` (tests/record_netlink_names.py): devices named with bytes that are not UTF-8."""
    everything = b"".join(NAMES)
    lean, reference = both_ways(everything, everything)
    assert lean == reference
    got = {e.ifname for e in lean if e.kind == "link"}
    # Spelled as bytes: linters may fold lone surrogates in literals together.
    want = {names.from_bytes(raw) for raw in (b"br\xff\xfe", b"ve\xff", b"ve\xfe", b"tp\xe9", "t\u00fcn".encode(),
                                              b"a\\xff")}
    assert len(want) == 6 and want <= got
