"""The lean RTM_GETSTATS parser against pyroute2's, on the same recorded kernel replies."""

from __future__ import annotations

import errno
import struct
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifstatsmsg import ifstatsmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from tests.netlink_data import reply, split
from vnettop.collect import counters
from vnettop.collect.decode import decode_stats
from vnettop.linux import netlink as linux_netlink
from vnettop.model import Stats

raw = reply
messages = split


def reseq(data: bytes, seq: int) -> bytes:
    """The same messages, renumbered as the answer to request `seq`."""
    return b"".join(m[:8] + struct.pack("=I", seq) + m[12:] for m in messages(data))


def done(seq: int, code: int = 0) -> bytes:
    return struct.pack("=IHHIIi", 20, counters.NLMSG_DONE, 2, seq, 0, code)


@pytest.mark.parametrize("name", ["stats_a", "stats_b"])
def test_lean_equals_pyroute2_on_recorded_replies(name: str) -> None:
    data = raw(name)
    seq = struct.unpack_from("=I", data, 8)[0]
    ours: dict[int, Stats] = {}
    assert counters.parse_stats(data, seq, ours) is True
    theirs = decode_stats(MarshalRtnl().parse(data))
    assert ours == theirs
    assert len(ours) == len(messages(data)) - 1  # every RTM_NEWSTATS, the DONE excluded
    assert any(s.tx_bytes > 0 for s in ours.values())  # not a table of zeros agreeing by luck


def test_each_counter_lands_in_its_own_field() -> None:
    # A message whose eight counters are all different, encoded by pyroute2.
    msg = ifstatsmsg()
    msg["header"] = {"type": counters.RTM_NEWSTATS, "flags": 2, "sequence_number": 9, "pid": 0}
    for field, value in (("family", 0), ("pad1", 0), ("pad2", 0), ("ifindex", 33), ("filter_mask", 1)):
        msg[field] = value
    names = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped",
             "tx_dropped")
    values = {field[0]: 0 for field in ifstatsmsg.ifstats64.fields}
    values.update({n: 1000 + i for i, n in enumerate(names)})
    msg["attrs"] = [["IFLA_STATS_LINK_64", values]]
    msg.encode()
    out: dict[int, Stats] = {}
    assert counters.parse_stats(bytes(msg.data) + done(9), 9, out)
    assert out == {33: Stats(rx_bytes=1002, tx_bytes=1003, rx_packets=1000, tx_packets=1001,
                             rx_errors=1004, tx_errors=1005, rx_dropped=1006, tx_dropped=1007)}


def test_request_is_a_stats_dump_for_link64_only() -> None:
    msg = ifstatsmsg(counters.build_request(77))
    msg.decode()
    assert (msg["header"]["type"], msg["header"]["flags"], msg["header"]["sequence_number"]) == (
        94, 0x301, 77)
    assert (msg["ifindex"], msg["filter_mask"]) == (0, 1)
    assert msg["header"]["length"] == len(counters.build_request(77)) == 28


def test_failed_dump_reports_errno_in_done() -> None:
    with pytest.raises(counters.DumpError) as info:
        counters.parse_stats(done(5, -errno.EINVAL), 5, {})
    assert info.value.errno == errno.EINVAL


def test_nlmsg_error_raises_but_an_ack_does_not() -> None:
    err = struct.pack("=IHHIIi", 36, counters.NLMSG_ERROR, 0, 5, 0, -errno.EPERM) + bytes(16)
    with pytest.raises(counters.DumpError) as info:
        counters.parse_stats(err, 5, {})
    assert info.value.errno == errno.EPERM
    ack = struct.pack("=IHHIIi", 36, counters.NLMSG_ERROR, 0, 5, 0, 0) + bytes(16)
    assert counters.parse_stats(ack, 5, {}) is False


def test_other_sequence_numbers_are_skipped() -> None:
    stale = reseq(raw("stats_b"), 4)  # an abandoned earlier dump, DONE and all
    fresh = reseq(raw("stats_a"), 5)
    out: dict[int, Stats] = {}
    assert counters.parse_stats(stale, 5, out) is False and out == {}
    assert counters.parse_stats(fresh, 5, out) is True
    assert sorted(out) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]


def test_truncated_buffer_is_an_error() -> None:
    data = raw("stats_a")
    with pytest.raises(OSError) as info:
        counters.parse_stats(data[:100], None, {})
    assert info.value.errno == errno.EBADMSG


class FakeSocket:
    """Plays the kernel: answers a request with the recording, split over several datagrams."""

    def __init__(self, name: str, pieces: int = 3) -> None:
        self.name, self.pieces = name, pieces
        self.pending: list[bytes] = []
        self.sent: list[bytes] = []

    def settimeout(self, timeout: float) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = struct.unpack_from("=I", data, 8)[0]
        msgs = messages(reseq(raw(self.name), seq))
        step = max(1, len(msgs) // self.pieces)
        self.pending = [b"".join(msgs[i:i + step]) for i in range(0, len(msgs), step)]
        return len(data)

    def recv(self, nbytes: int) -> bytes:
        """What `recv` gives: the datagram `recv_into` would have written, as bytes."""
        buf = bytearray(nbytes)
        return bytes(buf[:self.recv_into(buf, nbytes, 0)])

    def recv_into(self, buf: Any, nbytes: int, flags: int) -> int:
        chunk = self.pending.pop(0)
        buf[:len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        pass


def test_stats_socket_reads_a_dump_split_over_datagrams() -> None:
    fake = FakeSocket("stats_a")
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()
    second = sock.dump()
    assert first == second == decode_stats(MarshalRtnl().parse(raw("stats_a")))
    seqs = [struct.unpack_from("=I", req, 8)[0] for req in fake.sent]
    # One fixed sequence number for counters (an unchanged answer is then the very same bytes); an
    # abandoned answer is drained before the next request instead.
    assert seqs[0] == seqs[1] == counters.STATS_SEQ


class FakeIPRoute:
    """No usable fileno: dump_stats must fall back to pyroute2's parser."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "closed")

    def stats(self, command: str, **kwarg: Any) -> Any:
        self.asked.append(dict(kwarg, command=command))
        return MarshalRtnl().parse(raw("stats_b"))


def test_dump_stats_falls_back_to_pyroute2() -> None:
    ipr = FakeIPRoute()
    assert sorted(counters.dump_stats(ipr)) == [1, 2, 11]
    assert ipr.asked == [{"command": "dump", "filter_mask": 1}]


def test_dump_stats_raises_what_the_kernel_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        def dump(self) -> dict[int, Stats]:
            raise counters.DumpError(errno.EINVAL, "stats dump failed: Invalid argument")

    monkeypatch.setattr(counters, "_socket_for", lambda ipr: Refusing())
    ipr = FakeIPRoute()
    with pytest.raises(counters.DumpError):
        counters.dump_stats(ipr)
    assert ipr.asked == []  # pyroute2 would have hidden the errno behind an empty answer


# -- RTM_GETNSID --------------------------------------------------------------------------------------


def test_nsid_request_is_a_plain_query_with_the_fd() -> None:
    from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

    msg = nsidmsg(linux_netlink.build_nsid_request(12, 33))
    msg.decode()
    assert (msg["header"]["type"], msg["header"]["flags"], msg["header"]["sequence_number"]) == (90, 1, 12)
    assert msg["header"]["length"] == len(linux_netlink.build_nsid_request(12, 33))
    assert msg.get_attr("NETNSA_FD") == 33 and [a[0] for a in msg["attrs"]] == ["NETNSA_FD"]


def nsid_reply(seq: int, nsid: int) -> bytes:
    from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

    msg = nsidmsg()
    msg["header"] = {"type": linux_netlink.RTM_NEWNSID, "flags": 0, "sequence_number": seq, "pid": 0}
    msg["rtgen_family"] = 0
    msg["attrs"] = [["NETNSA_NSID", nsid & 0xFFFFFFFF]]
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize(("nsid", "expected"), [(0, 0), (7, 7), (-1, None)])
def test_nsid_reply(nsid: int, expected: int | None) -> None:
    out: list[int | None] = []
    assert linux_netlink.parse_nsid(nsid_reply(3, 99) + nsid_reply(4, nsid), 4, out) is True
    assert out == [expected]  # the stale answer to request 3 is skipped


def test_nsid_query_refused() -> None:
    err = struct.pack("=IHHIIi", 36, counters.NLMSG_ERROR, 0, 5, 0, -errno.EBADF) + bytes(16)
    with pytest.raises(counters.DumpError) as info:
        linux_netlink.parse_nsid(err, 5, [])
    assert info.value.errno == errno.EBADF


class Stalling:
    """Sends the first datagram of each answer, then times out once; afterwards behaves like a kernel
    that continues an open dump as it is read (non-blocking reads end with BlockingIOError)."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []
        self.stall = True
        self.blocking = True
        self.refused_busy = False

    def settimeout(self, timeout: float) -> None:
        self.blocking = timeout != 0.0

    def send(self, data: bytes) -> int:
        seq = struct.unpack_from("=I", data, 8)[0]
        if self.queue:  # the previous dump was never read to its end: the kernel says EBUSY
            self.refused_busy = True
            self.queue.append(struct.pack("=IHHIIi", 36, counters.NLMSG_ERROR, 0, seq, 0, -errno.EBUSY) + data[:16])
            return len(data)
        self.queue = messages(reseq(raw("stats_a"), seq))
        return len(data)

    def recv(self, nbytes: int) -> bytes:
        """What `recv` gives: the datagram `recv_into` would have written, as bytes."""
        buf = bytearray(nbytes)
        return bytes(buf[:self.recv_into(buf, nbytes, 0)])

    def recv_into(self, buf: Any, nbytes: int, flags: int) -> int:
        if not self.queue:
            if self.blocking:
                raise TimeoutError("timed out")
            raise BlockingIOError(errno.EAGAIN, "nothing queued")
        if self.stall and len(self.queue) < len(messages(raw("stats_a"))):
            self.stall = False
            raise TimeoutError("timed out")
        chunk = self.queue.pop(0)
        buf[:len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        pass


def test_a_half_read_dump_is_drained_before_the_next_request() -> None:
    fake = Stalling()
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        sock.dump()
    assert fake.queue  # the kernel still holds the rest of that dump
    assert sock.dump() == decode_stats(MarshalRtnl().parse(raw("stats_a")))
    # Drained first; the socket stays non-blocking (waits for an answer go through poll, see netlink.py).
    assert not fake.refused_busy and not fake.blocking


class Answering:
    """A kernel that answers every counters request with `devices` (ifindex -> rx_packets), whole in one
    datagram (split in two when `split`)."""

    def __init__(self, devices: dict[int, int], split: bool = False) -> None:
        self.devices, self.split = devices, split
        self.queue: list[bytes] = []
        self.sent: list[bytes] = []

    def settimeout(self, timeout: float) -> None:
        pass

    def send(self, data: bytes) -> int:
        seq, mask = struct.unpack_from("=I", data, 8)[0], struct.unpack_from("=I", data, 24)[0]
        self.sent.append(data)
        msgs = []
        for ifindex, rx_packets in sorted(self.devices.items()):
            values = struct.pack("=8Q", rx_packets, 2, 3, 4, 0, 0, 0, 0)
            attr = (struct.pack("=HH", 4 + len(values), counters.IFLA_STATS_LINK_64) + values
                    if mask == counters.FILTER_LINK_64 else struct.pack("=HH", 4, counters.IFLA_STATS_AF_SPEC))
            body = struct.pack("=BBHII", 0, 0, 0, ifindex, mask) + attr
            # (the port id the kernel writes in its answers: the socket's, never 0 for a user socket)
            msgs.append(struct.pack("=IHHII", 16 + len(body), counters.RTM_NEWSTATS, 2, seq, 2816) + body)
        msgs.append(struct.pack("=IHHIIi", 20, counters.NLMSG_DONE, 2, seq, 2816, 0))
        self.queue = [b"".join(msgs[:1]), b"".join(msgs[1:])] if self.split else [b"".join(msgs)]
        return len(data)

    def recv(self, nbytes: int) -> bytes:
        """What `recv` gives: the datagram `recv_into` would have written, as bytes."""
        buf = bytearray(nbytes)
        return bytes(buf[:self.recv_into(buf, nbytes, 0)])

    def recv_into(self, buf: Any, nbytes: int, flags: int) -> int:
        chunk = self.queue.pop(0)
        buf[:len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        pass


def test_an_unchanged_answer_gives_the_last_mapping_itself() -> None:
    """Same bytes as last time: the very same dict (the collector's "idle namespace"), also for an answer
    in several datagrams; any change, a new one equal to a fresh parse."""
    fake = Answering({1: 10, 2: 20})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()
    assert sock.dump() is first
    fake.devices[2] = 21  # a counter moved
    moved = sock.dump()
    assert moved is not first and moved[2].rx_packets == 21
    assert moved[1] is first[1]  # the idle device keeps its Stats object
    assert sock.dump() is moved
    fake.devices[3] = 0  # a device came
    assert set(sock.dump()) == {1, 2, 3}
    del fake.devices[1]  # and one went
    assert set(sock.dump()) == {2, 3}
    fake.split = True
    parts = sock.dump()
    assert parts == {2: moved[2], 3: parts[3]} and parts[2] is moved[2]
    assert sock.dump() is parts


def fresh_parse(devices: dict[int, int], split: bool) -> dict[int, Stats]:
    return counters.StatsSocket(Answering(dict(devices), split)).dump()  # type: ignore[arg-type]


@pytest.mark.parametrize("moved", [1, 2, 3])
def test_a_many_datagram_answer_parses_only_the_datagrams_that_changed(moved: int) -> None:
    """The root of a hypervisor answers in many datagrams: an unchanged datagram is not parsed again (its
    devices keep their Stats objects), a changed one is, and the whole equals a fresh parse."""
    fake = Answering({1: 10, 2: 20, 3: 30}, split=True)  # device 1 in the first datagram; 2, 3 in the second
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()
    fake.devices[moved] += 1
    calls: list[int] = []
    real, real_read = counters.parse_stats, counters.Layout.read

    def counting(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        return real(*args, **kwargs)

    def counting_read(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_read(*args, **kwargs)

    counters.parse_stats = counting
    counters.Layout.read = counting_read  # type: ignore[method-assign]
    try:
        now = sock.dump()
    finally:
        counters.parse_stats = real
        counters.Layout.read = real_read  # type: ignore[method-assign]
    assert now == fresh_parse(fake.devices, split=True)
    assert len(calls) == 1  # only the datagram holding the device that moved (parsed, or read by its layout)
    assert [now[i] is first[i] for i in (1, 2, 3)] == [i != moved for i in (1, 2, 3)]
    assert sock.dump() is now


def dump_counting_walks(sock: counters.StatsSocket, fake: Answering) -> tuple[dict[int, Stats], int]:
    """`sock.dump()`, checked equal to a fresh parse of what `fake` answers, and how many datagrams were
    walked message by message (`parse_stats`) rather than read through a layout."""
    expected = fresh_parse(fake.devices, split=fake.split)
    walks: list[int] = []
    real = counters.parse_stats

    def counting(*args: Any, **kwargs: Any) -> bool:
        walks.append(1)
        return real(*args, **kwargs)

    counters.parse_stats = counting
    try:
        got = sock.dump()
    finally:
        counters.parse_stats = real
    assert got == expected
    return got, len(walks)


def test_a_datagram_laid_out_as_last_time_is_read_without_walking_its_messages() -> None:
    """A namespace whose counters moved but whose devices did not: its answer is read through the layout
    of the last one (no message walk), equal to a fresh parse, idle devices keeping their Stats; a change
    of devices (one more, one less) is parsed message by message again, and still right."""
    fake = Answering({1: 10, 2: 20, 3: 30})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()

    fake.devices[2] = 21
    moved, n = dump_counting_walks(sock, fake)
    assert n == 0 and moved[1] is first[1] and moved[3] is first[3] and moved[2].rx_packets == 21
    fake.devices[3] = 31
    again, n = dump_counting_walks(sock, fake)
    assert n == 0 and again[2] is moved[2]
    assert sock.dump() is again
    fake.devices[4] = 40  # a device came: another layout, walked
    assert dump_counting_walks(sock, fake)[1] == 1
    fake.devices[4] = 41  # (and read by its layout from then on)
    assert dump_counting_walks(sock, fake)[1] == 0
    del fake.devices[1]  # a device went
    assert dump_counting_walks(sock, fake)[1] == 1
    del fake.devices[4]  # one went and another came: an answer of the same size, other devices
    fake.devices[9] = 90
    swapped, n = dump_counting_walks(sock, fake)
    assert n == 1 and set(swapped) == {2, 3, 9}


def test_every_datagram_of_a_long_answer_is_read_through_its_layout() -> None:
    """A long answer (a hypervisor's root namespace) comes in many datagrams, and on a busy tick the
    counters move in most of them: each, not only the one ending the answer, is read through the layout
    of last time, without a walk over its messages; equal to a fresh parse, idle devices keeping their
    Stats. A datagram whose devices changed is walked again, and the answer is still right."""
    fake = Answering({1: 10, 2: 20, 3: 30}, split=True)  # device 1 in the first datagram; 2, 3 in the second
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()

    fake.devices[1], fake.devices[2] = 11, 21  # both datagrams changed
    moved, n = dump_counting_walks(sock, fake)
    assert n == 0 and moved[3] is first[3] and moved[1].rx_packets == 11 and moved[2].rx_packets == 21
    fake.devices[1] = 12  # the first only
    again, n = dump_counting_walks(sock, fake)
    assert n == 0 and again[2] is moved[2] and again[1].rx_packets == 12
    assert sock.dump() is again
    del fake.devices[1]  # the first datagram now holds device 2 (another layout): walked, and right
    fake.devices[4] = 40
    _, n = dump_counting_walks(sock, fake)
    assert n >= 1


def test_counters_not_shown_moving_leave_the_namespace_idle() -> None:
    """Only counters vnettop does not show moved (the bytes differ past the first eight): the last mapping
    itself comes back (the collector then treats the namespace as idle), and the next answer alike is
    recognised as unchanged from its bytes."""
    fake = Answering({1: 10, 2: 20})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()
    send = fake.send

    def other_counter_moved(data: bytes) -> int:
        n = send(data)
        # grow each message by a ninth counter (rx_compressed...) that changed: same layout otherwise
        fake.queue = [_with_extra_counter(chunk, 7) for chunk in fake.queue]
        return n

    fake.send = other_counter_moved  # type: ignore[method-assign]
    base = sock.dump()  # the layout changed (longer messages): parsed, equal values
    assert base == first
    fake.send = lambda data: (send(data), setattr(fake, "queue",  # type: ignore[method-assign]
                              [_with_extra_counter(c, 8) for c in fake.queue]))[0]
    assert sock.dump() is base
    assert sock.dump() is base


def _with_extra_counter(chunk: bytes, value: int) -> bytes:
    """`chunk`'s RTM_NEWSTATS messages with one more u64 after the eight counters."""
    out = []
    for m in messages(chunk):
        mlen, mtype = struct.unpack_from("=IH", m)
        if mtype == counters.RTM_NEWSTATS:
            head = struct.pack("=I", mlen + 8) + m[4:28] + struct.pack("=H", struct.unpack_from("=H", m, 28)[0] + 8)
            m = head + m[30:] + struct.pack("=Q", value)
        out.append(m)
    return b"".join(out)


def _stats_message(ifindex: int, attrs: list[tuple[int, bytes]], seq: int = 7) -> bytes:
    body = struct.pack("=BBHII", 0, 0, 0, ifindex, counters.FILTER_LINK_64)
    for kind, payload in attrs:
        body += struct.pack("=HH", 4 + len(payload), kind) + payload
    return struct.pack("=IHHII", 16 + len(body), counters.RTM_NEWSTATS, 2, seq, 0) + body


@pytest.mark.parametrize("layout", ["first", "after another", "too short"])
def test_the_counters_attribute_is_found_wherever_it_is(layout: str) -> None:
    """The usual message holds IFLA_STATS_LINK_64 first (read in place); one laid out otherwise is walked
    attribute by attribute; one too short for the counters gives no counters (not garbage)."""
    values = struct.pack("=8Q", 11, 12, 13, 14, 15, 16, 17, 18)
    other = (2, bytes(12))  # another attribute (IFLA_STATS_LINK_XSTATS-like), 4-byte aligned
    attrs = {"first": [(counters.IFLA_STATS_LINK_64, values)],
             "after another": [other, (counters.IFLA_STATS_LINK_64, values)],
             "too short": [(counters.IFLA_STATS_LINK_64, values[:40])]}[layout]
    out: dict[int, Stats] = {}
    counters.parse_stats(_stats_message(5, attrs), 7, out)
    if layout == "too short":
        assert out == {}
    else:
        assert out == {5: Stats(rx_bytes=13, tx_bytes=14, rx_packets=11, tx_packets=12, rx_errors=15, tx_errors=16,
                                rx_dropped=17, tx_dropped=18)}


@pytest.mark.parametrize("split", [False, True])
def test_the_device_list_asks_for_no_counters_and_follows_the_devices(split: bool) -> None:
    """`devices` (asked of a namespace whose counters are read on a slower cadence): an RTM_GETSTATS dump for
    IFLA_STATS_AF_SPEC only, its own sequence number; the devices of the answer, the very same set while
    the answer is the same (counters moving change nothing in it), a new one when a device came or went,
    in either datagram of a split answer. The counters' own answers are not disturbed."""
    fake = Answering({1: 10, 2: 20, 3: 30}, split=split)
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    first = sock.dump()
    listed = sock.devices()
    assert listed == {1, 2, 3}
    mask, seq = struct.unpack_from("=I", fake.sent[-1], 24)[0], struct.unpack_from("=I", fake.sent[-1], 8)[0]
    assert mask == counters.FILTER_AF_SPEC and seq == counters.DEVICES_SEQ != counters.STATS_SEQ
    fake.devices[3] = 31  # counters moved: the same devices
    assert sock.devices() is listed
    assert not fake.queue  # the whole answer read
    assert sock.dump()[3].rx_packets == 31 and sock.dump()[1] is first[1]
    fake.devices[4] = 40  # a device came (the last datagram of a split answer)
    assert sock.devices() == {1, 2, 3, 4}
    del fake.devices[1]  # one went (the first)
    assert sock.devices() == {2, 3, 4}
    fake.split = not split  # the same devices in another number of datagrams
    assert sock.devices() == {2, 3, 4}
    assert sock.dump() == fresh_parse(fake.devices, not split)


def test_a_refused_device_list_raises_what_the_kernel_said() -> None:
    """A device list the kernel ends with an error (its errno in NLMSG_DONE) is a DumpError, not an empty
    namespace."""
    fake = Answering({1: 10})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    send = fake.send

    def refusing(data: bytes) -> int:
        n = send(data)
        seq = struct.unpack_from("=I", data, 8)[0]
        fake.queue = [done(seq, -errno.EPERM)]
        return n

    fake.send = refusing  # type: ignore[method-assign]
    with pytest.raises(counters.DumpError):
        sock.devices()


class Cutting(Answering):
    """`Answering`, but a datagram longer than the read is cut as the kernel cuts it: the read gets what
    fits, and (MSG_TRUNC) the datagram's whole length."""

    def recv_into(self, buf: Any, nbytes: int, flags: int) -> int:
        if not self.queue:
            raise BlockingIOError(errno.EAGAIN, "nothing queued")
        chunk = self.queue.pop(0)
        buf[:min(len(chunk), nbytes)] = chunk[:nbytes]
        return len(chunk)


@pytest.mark.parametrize("ask", ["counters", "devices"])
def test_a_cut_answer_is_an_error_never_the_last_answer_again(ask: str) -> None:
    """An answer as long as the last one but cut by a shorter read: the buffer still holds the last
    answer's tail, and must not make the cut one look like it."""
    fake = Cutting({1: 10, 2: 20})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    read = sock.dump if ask == "counters" else sock.devices
    first = read()
    assert read() is first  # idle: the very same answer
    sock.bufsize = 60  # shorter than the answer (84 bytes for the device list, 212 for the counters)
    with pytest.raises(OSError) as cut:
        read()
    assert cut.value.errno == errno.EMSGSIZE and sock._dirty  # (drained before the next request)
    sock.bufsize = 4096
    assert read() is first  # read whole again: the last answer, as before the cut one


class Misbehaving(Cutting):
    """A kernel whose next answer goes wrong as `fault` says: the request refused, an empty datagram, or
    no answer at all."""

    def __init__(self, devices: dict[int, int]) -> None:
        super().__init__(devices)
        self.fault: str | None = None

    def send(self, data: bytes) -> int:
        if self.fault == "send refused":
            self.fault = None
            raise OSError(errno.ENOBUFS, "No buffer space available")
        n = super().send(data)
        if self.fault == "empty datagram":
            self.queue = [b""]
        elif self.fault == "no answer":
            self.queue = []
        self.fault = None
        return n


@pytest.mark.parametrize("ask", ["counters", "devices"])
@pytest.mark.parametrize(("fault", "error"), [("send refused", errno.ENOBUFS), ("empty datagram", errno.ECONNRESET),
                                              ("no answer", errno.ETIMEDOUT)])
def test_a_first_datagram_that_goes_wrong_raises_and_the_next_request_starts_clean(
        monkeypatch: pytest.MonkeyPatch, ask: str, fault: str, error: int) -> None:
    fake = Misbehaving({1: 10, 2: 20})
    sock = counters.StatsSocket(fake)  # type: ignore[arg-type]
    read = sock.dump if ask == "counters" else sock.devices
    first = read()

    def no_wait() -> None:  # (the socket's wait for an answer, without its 5 s)
        raise TimeoutError(errno.ETIMEDOUT, "no netlink answer in time")

    monkeypatch.setattr(sock, "_wait", no_wait)
    fake.fault = fault
    with pytest.raises(OSError) as failed:
        read()
    assert failed.value.errno == error and sock._dirty
    assert read() is first and not sock._dirty
