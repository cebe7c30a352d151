"""sockets.dump_listeners (struct reads) against pyroute2's `inet_diag_msg`, on real sock_diag replies.

`tests/data/netlink/sockdiag_{tcp,tcp6,udp,udp6}_a.hex` are the datagrams the kernel answered to the
four requests dump_listeners sends (made by `python -m tests.record_netlink_more` in a throwaway
namespace holding tcp listeners on 127.0.0.1:8081, 0.0.0.0:8082, [::1]:8083, [::]:8084, v6-only, and
one established connection to 8081, which a LISTEN-only dump must not return; bound udp sockets on
127.0.0.1:8085 and [::]:8086, and a connected one, which a CLOSE-only dump must not return). Here a
fake netlink socket checks the requests and replays the replies; pyroute2 decodes the same bytes.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
from pyroute2.netlink.diag import inet_diag_msg, inet_diag_req

from tests.netlink_data import datagrams, split
from vnettop.collect import sockets
from vnettop.collect.types import NsEntry
from vnettop.model import Listening

TCP_LISTEN_STATE = 10
UDP_UNCONNECTED_STATE = 7
TCP, UDP = socket.IPPROTO_TCP, socket.IPPROTO_UDP
PROTO: dict[tuple[int, int], str] = {(socket.AF_INET, TCP): "tcp", (socket.AF_INET6, TCP): "tcp6",
                                     (socket.AF_INET, UDP): "udp", (socket.AF_INET6, UDP): "udp6"}
OPENED = {("tcp", "127.0.0.1", 8081), ("tcp", "0.0.0.0", 8082), ("tcp6", "::1", 8083), ("tcp6", "::", 8084),
          ("udp", "127.0.0.1", 8085), ("udp6", "::", 8086)}

Key = tuple[int, int]  # (family, protocol) of a request
REPLIES: dict[Key, list[bytes]] = {key: datagrams(f"sockdiag_{name}_a") for key, name in PROTO.items()}


def with_seq(datagram: bytes, seq: int) -> bytes:
    """`datagram` with every message's sequence number set to `seq`."""
    out = bytearray(datagram)
    off = 0
    while off + 16 <= len(out):
        (length,) = struct.unpack_from("=I", out, off)
        struct.pack_into("=I", out, off + 8, seq)
        off += max(16, (length + 3) & ~3)
    return bytes(out)


class ReplaySocket:
    """Stands in for the NETLINK_SOCK_DIAG socket: checks each request, then replays the recorded replies."""

    def __init__(self, replies: dict[Key, list[bytes]]) -> None:
        self.replies = replies
        self.queue: list[bytes] = []
        self.requests: list[Any] = []

    def __enter__(self) -> ReplaySocket:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def settimeout(self, _timeout: float) -> None:
        pass

    def send(self, data: bytes) -> int:
        req = inet_diag_req(data)
        req.decode()
        self.requests.append(req)
        # The kernel answers with the request's sequence number (recorded: that of the recording's request).
        self.queue = [with_seq(d, req["header"]["sequence_number"])
                      for d in self.replies[(req["sdiag_family"], req["sdiag_protocol"])]]
        return len(data)

    def recv(self, _size: int) -> bytes:
        return self.queue.pop(0)


def lean(replies: dict[Key, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[int, Listening], list[Any]]:
    fake = ReplaySocket(replies)
    return sockets.dump_listeners(fake), fake.requests  # type: ignore[arg-type]


def reference(replies: dict[Key, list[bytes]]) -> dict[int, Listening]:
    """socket inode -> Listening, by pyroute2's inet_diag_msg: tcp in LISTEN, udp unconnected with a port."""
    out: dict[int, Listening] = {}
    for (family, protocol), chunks in replies.items():
        for raw in (m for chunk in chunks for m in split(chunk)):
            if struct.unpack_from("=H", raw, 4)[0] != sockets.SOCK_DIAG_BY_FAMILY:
                continue
            msg = inet_diag_msg(raw)
            msg.decode()
            assert msg["idiag_family"] == family
            want = TCP_LISTEN_STATE if protocol == TCP else UDP_UNCONNECTED_STATE
            if msg["idiag_state"] == want and msg["idiag_sport"]:
                out[msg["idiag_inode"]] = Listening(PROTO[(family, protocol)], msg["idiag_src"], msg["idiag_sport"])
    return out


def test_requests_are_listen_only_tcp_and_unconnected_udp_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    _, requests = lean(REPLIES, monkeypatch)
    assert [(r["sdiag_family"], r["sdiag_protocol"], r["idiag_states"]) for r in requests] == [
        (socket.AF_INET, TCP, 1 << TCP_LISTEN_STATE), (socket.AF_INET6, TCP, 1 << TCP_LISTEN_STATE),
        (socket.AF_INET, UDP, 1 << UDP_UNCONNECTED_STATE), (socket.AF_INET6, UDP, 1 << UDP_UNCONNECTED_STATE)]
    assert [r["header"]["type"] for r in requests] == [sockets.SOCK_DIAG_BY_FAMILY] * 4


def test_listeners_decode_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    got, _ = lean(REPLIES, monkeypatch)
    want = reference(REPLIES)
    assert got == want
    assert {(e.proto, e.address, e.port) for e in got.values()} == OPENED  # what the recorder opened
    assert len(set(got)) == 6 and all(inode > 0 for inode in got)


@pytest.mark.parametrize("proto", ["tcp", "udp"])
@pytest.mark.parametrize("where", ["port", "address", "inode", "family"])
def test_the_comparison_sees_one_corrupted_byte(where: str, proto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Corrupt one byte of the first listener in the lean side's copy: the comparison must break."""
    body = 16  # after nlmsghdr: inet_diag_msg
    offset = body + {"port": 5, "address": 11, "inode": 68, "family": 0}[where]
    key = (socket.AF_INET, TCP if proto == "tcp" else UDP)
    first = bytearray(REPLIES[key][0])
    first[offset] ^= 0x01 if where != "family" else (socket.AF_INET ^ socket.AF_INET6)
    bad: dict[Key, list[bytes]] = {**REPLIES, key: [bytes(first), *REPLIES[key][1:]]}
    got, _ = lean(bad, monkeypatch)
    assert got != reference(REPLIES)


def test_a_refused_udp_dump_gives_the_tcp_listeners_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """No udp_diag in the kernel (the udp request answered ENOENT): the tcp listeners come with the error,
    so the caller reads only the /proc udp tables."""
    refused = struct.pack("=IHHIIi", 36, 2, 0, 3, 0, -2) + bytes(16)  # NLMSG_ERROR -ENOENT, seq 3
    with pytest.raises(sockets.NoUdpDiag) as caught:
        lean({**REPLIES, (socket.AF_INET, UDP): [refused]}, monkeypatch)
    tcp = {inode: e for inode, e in reference(REPLIES).items() if e.proto.startswith("tcp")}
    assert caught.value.tcp == tcp and len(tcp) == 4


class KeptSocket(ReplaySocket):
    """A socket `DiagSockets` keeps: the replies to each request, after whatever an earlier, abandoned
    answer left queued (`stale`); `broken` (family, protocol) times out instead of answering."""

    def __init__(self, replies: dict[Key, list[bytes]], broken: Key | None = None,
                 stale: list[bytes] | None = None) -> None:
        super().__init__(replies)
        self.broken = broken
        self.stale = list(stale or [])
        self.closed = False

    def send(self, data: bytes) -> int:
        n = super().send(data)
        req = self.requests[-1]
        if (req["sdiag_family"], req["sdiag_protocol"]) == self.broken:
            self.queue = [split(self.queue[0])[0]]  # the first message only, then nothing in time
        self.queue = self.stale + self.queue
        self.stale = []
        return n

    def recv(self, size: int) -> bytes:
        if not self.queue:
            raise TimeoutError(11, "timed out")
        return super().recv(size)

    def close(self) -> None:
        self.closed = True


NS = NsEntry(4026532999, ("vnt-x",), False, "/nonexistent/vnt-x", (1,))


def test_a_kept_socket_is_asked_again_and_old_replies_on_it_are_skipped() -> None:
    """Stale replies queued on a kept socket (of an earlier request's sequence number) are skipped: each
    answer is the one to its own request."""
    leftover = [with_seq(REPLIES[(socket.AF_INET6, UDP)][0], 1)]
    fake = KeptSocket(REPLIES, stale=leftover)
    diag = sockets.DiagSockets()
    diag._keep(NS.inode, fake)  # type: ignore[arg-type]
    assert diag.listeners([NS]) == [reference(REPLIES)]
    assert diag.listeners([NS]) == [reference(REPLIES)] and diag.made == 1 and not fake.closed


def test_a_dump_that_broke_off_closes_its_socket_and_a_refused_one_keeps_it() -> None:
    diag = sockets.DiagSockets()
    broken = KeptSocket(REPLIES, broken=(socket.AF_INET6, TCP))
    diag._keep(NS.inode, broken)  # type: ignore[arg-type]
    (result,) = diag.listeners([NS])
    assert isinstance(result, TimeoutError)  # not taken for "no IPv6": part of the answer may be queued
    assert not isinstance(result, sockets.DumpError)
    assert broken.closed and NS.inode not in diag.held()
    (again,) = diag.listeners([NS])  # a new socket is needed: its path does not open here
    assert isinstance(again, FileNotFoundError)

    refused_v6 = struct.pack("=IHHIIi", 36, 2, 0, 0, 0, -2) + bytes(16)  # NLMSG_ERROR -ENOENT: no IPv6 diag
    refusing = KeptSocket({**REPLIES, (socket.AF_INET6, TCP): [refused_v6], (socket.AF_INET6, UDP): [refused_v6]})
    diag._keep(NS.inode, refusing)  # type: ignore[arg-type]
    (only_v4,) = diag.listeners([NS])
    assert only_v4 == {i: e for i, e in reference(REPLIES).items() if e.proto in ("tcp", "udp")}
    assert not refusing.closed and NS.inode in diag.held()
