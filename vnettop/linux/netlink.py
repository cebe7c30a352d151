"""The netlink wire: one message walker, one attribute walker, one request-and-answer socket, and the
one RTM_GETNSID client.

Why one of each: the collector's dumps, its counters, its event sockets, its sock_diag reader and its
namespace-id queries each walked netlink messages by hand (six walkers, three nsid clients), each with
its own idea of a truncated message or a kernel error. Here a buffer is walked once, the same way for
all: a message shorter than its header or longer than the buffer is EBADMSG; an error the kernel puts
in NLMSG_ERROR *or* in NLMSG_DONE's payload (a failed dump reports it there, which pyroute2 ignores) is
a `DumpError` carrying the errno.

Nothing here decodes rtnetlink payloads: the callers do, from the offsets the walkers give.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import select
import socket
import struct
import threading
from collections.abc import Callable, Container, Iterator
from typing import Self

from vnettop.linux.nsenter import socket_in

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLM_F_DUMP_INTR = 0x10
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWNSID, RTM_GETNSID = 88, 90
NETNSA_NSID, NETNSA_FD = 1, 3
NLA_TYPE_MASK = 0x3FFF
SIOCGSKNS = 0x894C  # ioctl on a socket: an fd on the socket's network namespace
BUFSIZE = 65536  # the kernel fills dump skbs up to 32 KiB when the reader's buffer allows it
#: What a socket reads its answers with until one of them proves long (see `NetlinkSocket.bufsize`).
#: At least NLMSG_GOODSIZE (a page less the skb's shared info, at most 8 KiB less it), so no datagram
#: the kernel makes for this reader is longer.
SMALL_BUFSIZE = max(4096, min(os.sysconf("SC_PAGE_SIZE"), 8192))
#: An answer in more datagrams than this makes its socket read with BUFSIZE from then on.
LONG_ANSWER = 8

HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NLA = struct.Struct("=HH")
_I32 = struct.Struct("=i")

Buffer = bytes | bytearray | memoryview


class DumpError(OSError):
    """The kernel itself refused or failed the request (errno from NLMSG_DONE / NLMSG_ERROR)."""


def messages(buf: Buffer, seq: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(offset, length, type, flags) of each message in `buf`, of sequence `seq` if given.

    Raises OSError(EBADMSG) on a truncated message. Replies of another sequence number (a stale answer
    to an abandoned request) are skipped.
    """
    off, size = 0, len(buf)
    unpack = HEADER.unpack_from
    while off + 16 <= size:
        length, mtype, flags, mseq, _pid = unpack(buf, off)
        if length < 16 or off + length > size:
            raise OSError(errno.EBADMSG, f"truncated netlink message ({length} bytes at {off})")
        if seq is None or mseq == seq:
            yield off, length, mtype, flags
        off += (length + 3) & ~3


def error_of(buf: Buffer, off: int, length: int) -> int:
    """The errno an NLMSG_ERROR or NLMSG_DONE message carries (0: none, an ACK or a clean end)."""
    code = _I32.unpack_from(buf, off + 16)[0] if length >= 20 else 0
    return -code if code < 0 else 0


def check_end(buf: Buffer, off: int, length: int, mtype: int, what: str) -> bool:
    """For a message of type `mtype`: raise DumpError if it is a kernel error, True if it ends a dump."""
    if mtype not in (NLMSG_DONE, NLMSG_ERROR):
        return False
    code = error_of(buf, off, length)
    if code:
        raise DumpError(code, f"{what}: {os.strerror(code)}")
    return mtype == NLMSG_DONE


def attributes(buf: Buffer, pos: int, end: int, wanted: Container[int] | None = None,
               strict: bool = True) -> dict[int, tuple[int, int]]:
    """Type -> (payload offset, size) of the first attribute of each (wanted) type in [pos, end).

    The first, as pyroute2 keeps the first. One pass, no decoding: a link message has ~55 attributes and
    this loop is most of a parser's time. A malformed chain raises ValueError when `strict`, else ends
    the walk there (event decoding keeps what it could read).
    """
    found: dict[int, tuple[int, int]] = {}
    unpack = _NLA.unpack_from
    while pos + 4 <= end:
        size, kind = unpack(buf, pos)
        if size < 4 or pos + size > end:
            if strict:
                raise ValueError("malformed attribute chain")
            break
        kind &= NLA_TYPE_MASK
        if (wanted is None or kind in wanted) and kind not in found:
            found[kind] = (pos + 4, size - 4)
        pos += (size + 3) & ~3
    return found


# -- RTM_GETNSID ---------------------------------------------------------------------------------

_NSID_REQ = struct.Struct("=IHHIIB3xHHI")  # nlmsghdr + rtgenmsg (padded) + NETNSA_FD
#: The kernel's answer to it, as `rtnl_net_fill` makes it for a request without a target nsid: nlmsghdr,
#: rtgenmsg (padded), NETNSA_NSID (s32; -1: none assigned).
_NSID_ANSWER = struct.Struct("=IHHII4xHHi")


def build_nsid_request(seq: int, ns_fd: int) -> bytes:
    """RTM_GETNSID with NETNSA_FD: "what nsid does this socket's namespace give the namespace `ns_fd`?"

    A query only: the kernel answers with `peernet2id` and never assigns an nsid for it (RTM_NEWNSID
    would be a lasting change no read-only tool may make).
    """
    return _NSID_REQ.pack(_NSID_REQ.size, RTM_GETNSID, NLM_F_REQUEST, seq, 0, socket.AF_UNSPEC, 8, NETNSA_FD,
                          ns_fd)


def parse_nsid(data: Buffer, seq: int | None, out: list[int | None]) -> bool:
    """The RTM_NEWNSID answering `seq`: append its nsid (None: unassigned) to `out`; True once found.

    The kernel's usual answer (`_NSID_ANSWER`: the datagram is that one message) is read in place; any
    other datagram (an error, a stale answer to an abandoned request, another layout) is walked message by
    message."""
    if len(data) == _NSID_ANSWER.size:
        length, mtype, _flags, mseq, _pid, alen, atype, value = _NSID_ANSWER.unpack_from(data)
        if (length == _NSID_ANSWER.size and mtype == RTM_NEWNSID and (seq is None or mseq == seq)
                and alen == 8 and atype & NLA_TYPE_MASK == NETNSA_NSID):
            out.append(value if value >= 0 else None)
            return True
    for off, length, mtype, _flags in messages(data, seq):
        if mtype == RTM_NEWNSID:
            nsid: int | None = None
            where = attributes(data, off + 20, off + length, (NETNSA_NSID,), strict=False).get(NETNSA_NSID)
            if where is not None and where[1] >= 4:
                (nsid,) = _I32.unpack_from(data, where[0])
            out.append(nsid if nsid is not None and nsid >= 0 else None)
            return True
        if mtype == NLMSG_ERROR:
            check_end(data, off, length, mtype, "nsid query failed")
    return False


_buffers = threading.local()


def _thread_buffer() -> bytearray:
    """The receive buffer of the calling thread, shared by all its sockets.

    Why not one per socket: an answer is consumed before the next request on the same thread (the
    view a consumer gets is only valid during its call), and at 1000 namespaces 1000 sockets' own
    64 KiB buffers were 64 MB, most of a collector's memory.
    """
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(BUFSIZE)
    return buf


class NetlinkSocket:
    """A netlink socket for requests and their answers (no notifications), safe to share between threads.

    `exchange` is the one request-and-read loop: it sends, feeds each datagram to a consumer until the
    consumer says the answer is complete, and drains an answer it had to abandon before the next request
    (the kernel refuses a new dump with EBUSY while one is unread).
    """

    def __init__(self, sock: socket.socket, timeout: float = 5.0) -> None:
        self._sock = sock
        # Non-blocking, and `recv` waits (up to `timeout`) only when nothing is queued: with a timeout
        # set on the socket, Python polls before every send and receive, an extra system call each, and
        # the kernel has almost always queued the answer by the time `send` returns (a dump's parts are
        # made as they are read). Measured: 11.3 -> 8.3 us for one namespace's counters.
        self._sock.settimeout(0.0)
        self._poll: select.poll | None = None  # made the first time an answer is not there at once
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._timeout = timeout
        self._dirty = False  # an answer was abandoned half-read: drain it before the next request
        #: How much each read asks for. The kernel sizes the buffer it makes each part of a dump in by
        #: the longest read the socket has seen (capped at 32 KiB): read with BUFSIZE once, and every
        #: later dump on the socket, even the counters of a namespace of three devices (700 bytes), is
        #: made in a 32 KiB buffer the kernel takes from its page allocator and frees. Small reads keep
        #: that at a page: measured at 1000 namespaces, a counters round of 1000 sockets took 10.4
        #: instead of 11.8 ms of processor time (median of 40). A socket whose answers prove long (a
        #: hypervisor's root namespace: thousands of devices) reads with BUFSIZE from then on, fewer
        #: parts; the kernel never lowers its size again anyway.
        self.bufsize = SMALL_BUFSIZE

    @property
    def _buf(self) -> bytearray:
        return _thread_buffer()

    @classmethod
    def here(cls, protocol: int = NETLINK_ROUTE) -> Self:
        """A socket in the calling thread's namespace."""
        return cls(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, protocol))

    @classmethod
    def in_namespace(cls, ns_fd: int) -> Self:
        """A socket in the namespace `ns_fd` (an open nsfs fd), made on a helper thread if not ours."""
        return cls(socket_in(ns_fd))

    @classmethod
    def beside(cls, sock_fd: int) -> Self:
        """A socket in the same namespace as the socket `sock_fd` (e.g. an IPRoute's fileno())."""
        ns_fd = fcntl.ioctl(sock_fd, SIOCGSKNS)
        try:
            return cls.in_namespace(ns_fd)
        finally:
            os.close(ns_fd)

    def exchange(self, request: Callable[[int], bytes], consume: Callable[[memoryview, int], bool]) -> None:
        """Send `request(seq)`, feed each datagram of the answer to `consume(view, seq)` until it says done.

        The view is only valid during the call (the buffer is reused): copy what must outlive it.
        Raises OSError on a socket failure, and whatever `consume` raises (DumpError for a kernel refusal).
        """
        with self._lock:
            if self._dirty:
                self._drain()
            seq = next(self._seq) & 0xFFFFFFFF
            self.send(request(seq))
            try:
                for index in itertools.count():
                    n = self.part(index)
                    if consume(memoryview(_thread_buffer())[:n], seq):
                        return
            except DumpError:
                raise  # the kernel ended the answer (NLMSG_DONE / NLMSG_ERROR): nothing is left over
            except BaseException:
                self._dirty = True
                raise

    def send(self, request: bytes) -> None:
        """Send one request (to the kernel: it never makes a sender wait, but be correct if it did)."""
        try:
            self._sock.send(request)
        except BlockingIOError:
            self._sock.settimeout(self._timeout)
            try:
                self._sock.send(request)
            finally:
                self._sock.settimeout(0.0)

    def part(self, index: int) -> int:
        """Read part `index` (from 0) of an answer into the buffer; its size. Raises OSError if it was cut
        (read with MSG_TRUNC: the size is the datagram's, so a cut one is told from one that fills the
        read) or the socket was closed. From part LONG_ANSWER on, the socket reads with BUFSIZE (see
        `bufsize`)."""
        if index == LONG_ANSWER:
            self.bufsize = BUFSIZE
        return self._checked(self.recv())

    def _checked(self, n: int) -> int:
        """`n`, the size of a datagram just read, if it is a whole one; else OSError."""
        if 0 < n <= self.bufsize:
            return n
        raise self._not_whole(n)

    def _not_whole(self, n: int) -> OSError:
        """The error for a datagram of size `n` that is not a whole one (cut: MSG_TRUNC told its size)."""
        if n > self.bufsize:
            return OSError(errno.EMSGSIZE, f"netlink reply truncated ({n} bytes)")
        return OSError(errno.ECONNRESET, "netlink socket closed mid-dump")

    def ask_first(self, request: bytes, same: bytes | bytearray | None) -> bytearray | None:
        """Send `request` (an abandoned answer drained first) and read part 0 of its answer: None if that
        is the very bytes `same` (compared in the buffer, no copy made), else a copy of it. Raises as
        `send` and `part` do.

        The caller holds `_lock`, marks the socket dirty if this raises or if it does not read the
        answer to its end, and passes as `same` only a datagram that ended its answer (so that on None
        nothing is left to read).

        Why: most answers of a tick's counters and device lists are the very bytes of the last one (an
        idle namespace), and one of them is asked of each namespace on each tick: `send`, `part` and the
        copy it needs, in one call. Measured on a 2-core Xeon VM, 200 namespaces after 0.2 s idle as
        between ticks (medians of 30 rounds a run): their counters loop 2.11 -> 1.98 ms, the same
        requests made with bare socket calls 1.7 ms."""
        if self._dirty:
            self._drain()
        sock = self._sock
        try:
            sock.send(request)
        except BlockingIOError:
            self.send(request)
        buf = _thread_buffer()
        size = self.bufsize
        try:  # (`recv`'s read, written out)
            n = sock.recv_into(buf, size, socket.MSG_TRUNC)
        except BlockingIOError:
            self._wait()
            n = sock.recv_into(buf, size, socket.MSG_TRUNC)
        if not 0 < n <= size:  # cut (never compared: the buffer's tail is a stale answer's) or empty
            raise self._not_whole(n)
        if same is not None and n == len(same) and buf.startswith(same):
            return None
        return buf[:n]

    def recv(self) -> int:
        """Read one datagram into the buffer; its size (more than `bufsize`: it was truncated). Waits up
        to the timeout for it; raises TimeoutError then. (`ask_first` reads part 0 the same way.)"""
        try:
            return self._sock.recv_into(self._buf, self.bufsize, socket.MSG_TRUNC)
        except BlockingIOError:
            self._wait()
            return self._sock.recv_into(self._buf, self.bufsize, socket.MSG_TRUNC)

    def _wait(self) -> None:
        """Wait up to the timeout until a datagram is queued; TimeoutError if none comes."""
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(self._sock.fileno(), select.POLLIN)
        if not self._poll.poll(int(self._timeout * 1000)):
            raise TimeoutError(errno.ETIMEDOUT, "no netlink answer in time") from None

    def _drain(self) -> None:
        """Read what an abandoned answer still has to send, without waiting.

        Why: a dump left half-read (a timeout, a reply we could not parse) stays open in the kernel,
        which refuses any new dump on this socket with EBUSY until it is read to its end; the kernel
        produces each next part as the previous one is read, so reading until nothing is queued ends it.
        """
        self._dirty = False
        for _ in range(1 << 16):  # a bound, not a limit any real dump reaches
            try:
                if self._sock.recv_into(self._buf, self.bufsize, socket.MSG_TRUNC) == 0:
                    break
            except OSError:  # BlockingIOError: all read
                break

    def nsid_of(self, ns_fd: int) -> int | None:
        """The nsid this socket's namespace has for the namespace `ns_fd`; None if none is assigned.

        ~20x cheaper than pyroute2's `get_netnsid` (a request object, a reply parser and its event loop
        per question). Raises OSError (DumpError if the kernel refused).

        The request loop of `exchange`, written out (as `counters.StatsSocket.dump` does), without its two
        closures per call; `parse_nsid` reads the kernel's usual answer in place. Why: the first resolve
        asks a question per veth pair (~2100 at 1000 namespaces, in the middle of `vnettop dump`):
        9.1 -> 7.5 us a question, measured over 1000 namespaces.
        """
        with self._lock:
            if self._dirty:
                self._drain()
            seq = next(self._seq) & 0xFFFFFFFF
            self.send(build_nsid_request(seq, ns_fd))
            answer: list[int | None] = []
            index = 0
            try:
                while True:
                    n = self.part(index)
                    index += 1
                    if parse_nsid(memoryview(_thread_buffer())[:n], seq, answer):
                        return answer[0]
            except DumpError:
                raise  # the kernel ended the answer: nothing is left over
            except BaseException:
                self._dirty = True
                raise

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()
