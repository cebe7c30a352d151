"""The RTM_GETNSID client (`linux.netlink.NetlinkSocket.nsid_of`, what the pool asks) and its parser against pyroute2's `nsidmsg` / `nlmsgerr`, on real replies.

`tests/data/netlink/nsid_*.hex` are the kernel's answers to the client's exact request, sent from a
throwaway namespace A (made by `python -m tests.record_netlink_more`): for a namespace A calls nsid 7
(`assigned`), one it has no nsid for (`unassigned`: NETNSA_NSID -1), and an fd that is no namespace
(`error`: NLMSG_ERROR -EINVAL). A fake socket replays them, with the sequence number the request used.
"""

from __future__ import annotations

import errno
import struct

import pytest
from pyroute2.netlink import nlmsgerr
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

from tests.netlink_data import datagrams
from vnettop.linux import netlink as linux_netlink

TARGET_FD = 123
NSID = 7  # what tests/record_netlink_more.py gave the assigned namespace


def reply(name: str) -> bytes:
    (datagram,) = datagrams(f"nsid_{name}")
    return datagram


class ReplaySocket:
    """Answers the client's request with a recorded reply, renumbered to the request's sequence."""

    def __init__(self, answer: bytes, stale: bytes | None = None) -> None:
        self.answer = answer
        self.stale = stale  # a reply of another sequence number, sent first (must be skipped)
        self.queue: list[bytes] = []
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = struct.unpack_from("=I", data, 8)[0]
        answer = bytearray(self.answer)
        struct.pack_into("=I", answer, 8, seq)
        self.queue = ([self.stale] if self.stale else []) + [bytes(answer)]
        return len(data)

    def recv(self, _size: int) -> bytes:
        return self.queue.pop(0)

    def recv_into(self, buf: bytearray, _size: int, _flags: int = 0) -> int:
        data = self.queue.pop(0)
        buf[:len(data)] = data
        return len(data)

    def settimeout(self, _timeout: float | None) -> None:
        pass


def query_way(answer: bytes, stale: bytes | None = None) -> tuple[int | OSError | None, bytes]:
    sock = ReplaySocket(answer, stale)
    try:
        result: int | OSError | None = linux_netlink.NetlinkSocket(sock).nsid_of(TARGET_FD)  # type: ignore[arg-type]
    except OSError as exc:
        result = exc
    return result, sock.sent[0]


def reference(answer: bytes) -> int | OSError | None:
    """The same answer by pyroute2: the nsid, None when unassigned (-1 as u32), or the error."""
    if struct.unpack_from("=H", answer, 4)[0] == linux_netlink.NLMSG_ERROR:
        err = nlmsgerr(answer)
        err.decode()
        return OSError(-err["error"], "")
    msg = nsidmsg(answer)
    msg.decode()
    assert msg["header"]["type"] == linux_netlink.RTM_NEWNSID
    nsid = msg.get_attr("NETNSA_NSID")
    return None if nsid == 0xFFFFFFFF else nsid


def same(a: int | OSError | None, b: int | OSError | None) -> bool:
    if isinstance(a, OSError) or isinstance(b, OSError):
        return isinstance(a, OSError) and isinstance(b, OSError) and a.errno == b.errno
    return a == b


def test_request_is_a_getnsid_by_fd() -> None:
    _, sent = query_way(reply("assigned"))
    msg = nsidmsg(sent)
    msg.decode()
    assert msg["header"]["type"] == linux_netlink.RTM_GETNSID
    assert msg.get_attr("NETNSA_FD") == TARGET_FD
    assert msg.get_attr("NETNSA_NSID") is None  # a query, never an assignment


@pytest.mark.parametrize(("name", "literal"), [("assigned", NSID), ("unassigned", None),
                                               ("error", errno.EINVAL)])
def test_replies_decode_the_same_both_ways(name: str, literal: int | None) -> None:
    got, _ = query_way(reply(name))
    want = reference(reply(name))
    assert same(got, want), (got, want)
    if isinstance(got, OSError):
        assert got.errno == literal
    else:
        assert got == literal


def test_a_stale_reply_of_another_sequence_is_skipped() -> None:
    stale = reply("unassigned")  # recorded with sequence 2; a fresh socket's first request is 1
    got, _ = query_way(reply("assigned"), stale=stale)
    assert got == NSID


@pytest.mark.parametrize("name", ["assigned", "error"])
def test_the_comparison_sees_one_corrupted_byte(name: str) -> None:
    """Corrupt the value byte (the nsid / the errno) in the lean side's copy: the comparison must break."""
    bad = bytearray(reply(name))
    bad[24 if name == "assigned" else 16] ^= 0x01
    got, _ = query_way(bytes(bad))
    assert not same(got, reference(reply(name)))


def lean_stats_socket_way(answer: bytes) -> int | OSError | None:
    """linux_netlink.parse_nsid (the StatsSocket's decoder), on the reply as recorded (its own sequence number)."""
    out: list[int | None] = []
    try:
        assert linux_netlink.parse_nsid(answer, struct.unpack_from("=I", answer, 8)[0], out) is True
    except OSError as exc:
        return exc
    (nsid,) = out
    return nsid


@pytest.mark.parametrize("name", ["assigned", "unassigned", "error"])
def test_the_stats_socket_decoder_agrees_too(name: str) -> None:
    got, want = lean_stats_socket_way(reply(name)), reference(reply(name))
    assert same(got, want), (got, want)


def test_both_lean_requests_are_the_same_bytes() -> None:
    _, sent = query_way(reply("assigned"))
    seq = struct.unpack_from("=I", sent, 8)[0]
    assert linux_netlink.build_nsid_request(seq, TARGET_FD) == sent


def test_the_stats_socket_comparison_sees_one_corrupted_byte() -> None:
    bad = bytearray(reply("assigned"))
    bad[24] ^= 0x01
    assert not same(lean_stats_socket_way(bytes(bad)), reference(reply("assigned")))


def test_an_answer_of_the_usual_size_with_another_attribute_is_walked_not_read_in_place() -> None:
    """The in-place read takes the usual layout only: the same 28 bytes holding another attribute
    (NETNSA_CURRENT_NSID, 5) name no nsid, as pyroute2 reads them; the walk says so."""
    other = bytearray(reply("assigned"))
    struct.pack_into("=H", other, 22, 5)  # the attribute's type (its header at offset 20: length, type)
    got, _ = query_way(bytes(other))
    assert got is None and reference(bytes(other)) is None
