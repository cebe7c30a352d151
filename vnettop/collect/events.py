"""Change notifications: one rtnetlink event socket per namespace, plus the mount table for /run/netns.

Why per namespace: one root socket with NETLINK_LISTEN_ALL_NSID hears only namespaces that have an nsid
in root, drops the nsid tag in pyroute2 and overflows under bursts; one socket per namespace lost nothing
in a 2000-change burst at 1000 namespaces (KERNEL-NOTES). The sockets tell the collector *which*
namespaces changed, so it re-dumps only those and fetches counters for the rest; and they wake a UI
waiting in `EventHub.wait` within milliseconds of a device being added, removed, moved, or set up/down.

`ip netns add` sends no netlink event, and inotify on /run/netns fires before the bind mount exists;
`/proc/self/mountinfo` signals POLLPRI once the mount is in place, so that is what is watched. The same
wake-up covers a namespace bind-mounted anywhere else (`unshare --net=FILE`, rootless Podman's
/run/user/UID/netns/): the nsfs mounts of the table are compared too.

Messages are decoded here with a few struct reads (header, family, ifindex, a handful of attributes):
the hub only needs to know what kind of change happened and where, and pyroute2's decoder costs
~120 us per link message.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vnettop import names
from vnettop.collect.namespaces import netns_dirs_signature, nsfs_mounts
from vnettop.collect.rtnl_parser import parse_neigh
from vnettop.linux.netlink import HEADER, attributes, messages

# rtnetlink message types and groups (linux/rtnetlink.h)
RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
RTM_NEWNSID, RTM_DELNSID = 88, 89
RTMGRP_LINK = 0x1
RTMGRP_NEIGH = 0x4
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTNLGRP_NSID = 28
#: The groups an event socket joins: links, addresses, neighbours (bridge fdb), nsid changes.
EVENT_GROUPS = (RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
                | (1 << (RTNLGRP_NSID - 1)))
AF_BRIDGE = 7
IFLA_IFNAME = 3
IFLA_NEW_NETNSID = 45
IFLA_NEW_IFINDEX = 49

_IFINFOMSG = struct.Struct("=BxHiII")

#: A bridge FDB entry as `rtnl_parser.parse_neigh` reads it: (NDA_MASTER, NDA_LLADDR, ifindex, NUD
#: state, NDA_VLAN), the attributes None when absent.
FdbFields = tuple[Any, Any, int, int, Any]


@dataclass(frozen=True, slots=True)
class NetlinkEvent:
    """One change notification, as much of it as the collector and the UI need."""

    netns: int  # nsfs inode of the namespace that sent it
    msg_type: int  # RTM_*
    family: int  # ifi_family / ifa_family / ndm_family
    ifindex: int | None = None
    ifname: str | None = None
    new_nsid: int | None = None  # RTM_DELLINK of a device moved away: its new namespace's nsid
    new_ifindex: int | None = None  # ... and its ifindex there
    #: A bridge FDB entry's (NDA_MASTER, NDA_LLADDR, port ifindex, NUD state, NDA_VLAN), as a dump's
    #: message gives it (`rtnl_parser.parse_neigh`); None for other kinds, or a message it cannot read.
    entry: FdbFields | None = None

    @property
    def kind(self) -> str:
        """"link", "addr", "fdb" (bridge forwarding entries), "neigh" (ARP/ND), "nsid" or "other"."""
        if self.msg_type in (RTM_NEWLINK, RTM_DELLINK):
            return "link"
        if self.msg_type in (RTM_NEWADDR, RTM_DELADDR):
            return "addr"
        if self.msg_type in (RTM_NEWNEIGH, RTM_DELNEIGH):
            return "fdb" if self.family == AF_BRIDGE else "neigh"
        if self.msg_type in (RTM_NEWNSID, RTM_DELNSID):
            return "nsid"
        return "other"

    @property
    def moved(self) -> bool:
        """A RTM_DELLINK that is a move to another namespace, not a deletion."""
        return self.msg_type == RTM_DELLINK and self.new_nsid is not None

    @property
    def dirties(self) -> bool:
        """Does this change what a dump of the namespace would return (so it must be re-dumped)?"""
        return self.kind in ("link", "addr", "fdb")

    @property
    def shows(self) -> bool:
        """Is this worth waking a waiting UI for at once? Devices and addresses, yes; bridge FDB
        entries come and go with traffic (learning, ageing), so they wait for the next regular tick."""
        return self.kind in ("link", "addr")


def _link_attrs(data: bytes, start: int, end: int) -> dict[int, bytes]:
    found = attributes(data, start, end, strict=False)
    return {kind: data[pos:pos + size] for kind, (pos, size) in found.items()}


def parse_messages(data: bytes, netns: int) -> list[NetlinkEvent]:
    """Decode a datagram of rtnetlink notifications (truncated or odd messages are skipped)."""
    out: list[NetlinkEvent] = []
    try:
        for pos, length, mtype, _flags in messages(data):
            out.append(_event(data, pos, pos + length, mtype, netns))
    except OSError:  # a truncated message: keep what came before it
        pass
    return out


def _event(data: bytes, pos: int, end: int, mtype: int, netns: int) -> NetlinkEvent:
    body = pos + HEADER.size
    family = data[body] if body < end else 0
    if mtype in (RTM_NEWLINK, RTM_DELLINK) and body + _IFINFOMSG.size <= end:
        family, _type, index, _flags2, _change = _IFINFOMSG.unpack_from(data, body)
        attrs = _link_attrs(data, body + _IFINFOMSG.size, end)
        name = attrs.get(IFLA_IFNAME)
        new_nsid = attrs.get(IFLA_NEW_NETNSID)
        new_index = attrs.get(IFLA_NEW_IFINDEX)
        return NetlinkEvent(
            netns, mtype, family, index,
            names.from_bytes(name.split(b"\0", 1)[0]) if name else None,
            struct.unpack("=i", new_nsid[:4])[0] if new_nsid and len(new_nsid) >= 4 else None,
            struct.unpack("=I", new_index[:4])[0] if new_index and len(new_index) >= 4 else None,
        )
    if mtype in (RTM_NEWADDR, RTM_DELADDR) and body + 8 <= end:
        return NetlinkEvent(netns, mtype, family, struct.unpack_from("=I", data, body + 4)[0])
    if mtype in (RTM_NEWNEIGH, RTM_DELNEIGH) and body + 8 <= end:
        entry: FdbFields | None = None
        if family == AF_BRIDGE:
            try:
                entry = parse_neigh(memoryview(data), pos, end - pos)
            except Exception:  # odd attributes: the FDB is read again instead (`Changes.fdb`)
                entry = None
        return NetlinkEvent(netns, mtype, family, struct.unpack_from("=i", data, body + 4)[0], entry=entry)
    return NetlinkEvent(netns, mtype, family)


#: `Changes.kinds` of a namespace whose only news is bridge FDB entries (see `collect.fdb_refresh`).
FDB_ONLY = frozenset({"fdb"})

#: The most FDB notifications kept for one namespace between two takes: past that, reading its FDB
#: again is the cheaper way to know it (`Changes.fdb` is None then).
FDB_NOTES_MAX = 1024


@dataclass(frozen=True, slots=True)
class Changes:
    """What the event sockets reported since the last `EventHub.take()`."""

    dirty: frozenset[int]  # namespaces to re-dump (links, addresses or FDB changed, or an overflow)
    nsid_changed: frozenset[int]  # namespaces whose nsid table changed (drop cached nsid answers)
    #: For each dirty namespace, the kinds of its changes ("link", "addr", "fdb"; "lost" after an
    #: overflow): a namespace whose only news is bridge FDB entries (learning and ageing on a busy
    #: bridge, every few seconds) needs its FDB read again, not all its devices.
    kinds: dict[int, frozenset[str]] = field(default_factory=dict)
    #: For each dirty namespace, the ifindexes its link notifications named (`collect.link_refresh`).
    links: dict[int, frozenset[int]] = field(default_factory=dict)
    #: For each namespace with FDB notifications: (RTM_NEWNEIGH or RTM_DELNEIGH, the entry's fields) in
    #: the order they came, or None when they cannot be known from the notifications alone (one could
    #: not be read, or there were more than FDB_NOTES_MAX): `collect.fdb_refresh` applies them.
    fdb: dict[int, tuple[tuple[int, FdbFields], ...] | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Poller:
    """An epoll set over the wake pipe, the mount table and every event socket of one generation.

    Why epoll and not poll(): a blocking poll() registers on, then leaves, every socket's wait queue each
    time it is called; with a thousand event sockets one wait of the UI's (five a second) cost ~0.8 ms of
    processor, ~0.4 % of a core for doing nothing. An epoll set is registered once per generation and a
    wait costs what is ready.
    """

    generation: int
    poll: select.epoll
    fd_ns: dict[int, int]  # fd -> namespace inode
    busy: bool = False
    socks: dict[int, socket.socket] = field(default_factory=dict)  # fd -> the socket registered under it

    def sync(self, socks: dict[int, socket.socket], generation: int) -> None:
        """Bring the set up to `socks` (namespace inode -> event socket) of `generation`: only the sockets
        that came or went are registered or removed (a namespace storm changes the set every tick; at
        1000 namespaces building it anew is ~2 ms). An fd number now held by another socket than the one
        registered is registered again (a closed socket leaves an epoll set by itself)."""
        now = {sock.fileno(): (ns, sock) for ns, sock in socks.items()}
        for fd, sock in list(self.socks.items()):
            if now.get(fd, (0, None))[1] is not sock:
                del self.socks[fd]
                self.fd_ns.pop(fd, None)
                try:
                    self.poll.unregister(fd)
                except OSError:  # closed meanwhile: it left the set with its last fd
                    pass
        for fd, (ns, sock) in now.items():
            self.fd_ns[fd] = ns
            if fd not in self.socks:
                self.socks[fd] = sock
                try:
                    self.poll.register(fd, select.EPOLLIN)
                except FileExistsError:
                    self.poll.modify(fd, select.EPOLLIN)
        self.generation = generation

    def ready(self, timeout: float) -> list[tuple[int, int]]:
        """(fd, events) of what is ready, waiting up to `timeout` seconds (0: just look)."""
        return self.poll.poll(timeout, len(self.fd_ns) + 2)

    def close(self) -> None:
        self.poll.close()


class EventHub:
    """Owns the per-namespace event sockets; tells the collector what changed; wakes a waiting UI.

    Thread-safe: the collector adds, removes and `take()`s on its own thread while a UI worker sits in
    `wait()`. A socket removed while someone polls it is closed only once that poll has returned, so a
    reused fd number can never be mistaken for it.
    """

    def __init__(self, run_root: str = "/run", mountinfo: str = "/proc/self/mountinfo",
                 watch_dirs: bool = True) -> None:
        """`watch_dirs=False` (a one-shot collector): the name directories and the mount table are first
        read when a first `wait` starts, not here (~8 ms at 1000 namespaces a single collect never uses)."""
        self._lock = threading.Lock()
        self._socks: dict[int, socket.socket] = {}  # netns inode -> event socket
        self._dirty: set[int] = set()
        self._kinds: dict[int, set[str]] = {}  # what dirtied each of `_dirty`
        self._links: dict[int, set[int]] = {}  # the devices link notifications named, by namespace
        self._fdb: dict[int, list[tuple[int, FdbFields]] | None] = {}  # FDB notifications, by namespace
        self._nsid: set[int] = set()
        self._graveyard: list[socket.socket] = []
        self._polling = 0
        self._closed = False
        self._generation = 0
        self._poller_cache: _Poller | None = None
        self._take_poller: _Poller | None = None  # `take`'s own poll set (never shared with a waiter)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._dirs = (os.path.join(run_root, "netns"), os.path.join(run_root, "docker", "netns"))
        self._mountinfo = mountinfo
        #: What `wait` compares with; None until a first look (`watch_dirs=False`).
        self._dirs_sig: frozenset[tuple[str, int, int]] | None = None
        self._mounts: dict[str, int] = {}
        if watch_dirs:
            self._dirs_sig = netns_dirs_signature(self._dirs)
            self._mounts = self._other_mounts()
        try:
            self._mount_fd: int | None = os.open(mountinfo, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._mount_fd = None  # then new names are found by the next poll only
        #: How many times an event socket overflowed (ENOBUFS: notifications were lost).
        self.overflows = 0
        #: The latest notifications, newest last (for an events view and for tests).
        self.recent: deque[NetlinkEvent] = deque(maxlen=512)
        #: Namespace files that appeared, went or were (un)mounted: (what, path), newest last.
        self.recent_netns: deque[tuple[str, str]] = deque(maxlen=128)

    # -- membership (collector thread) ----------------------------------------------------------

    def add(self, netns: int, sock: socket.socket) -> None:
        """Watch `sock` (see `nspool.open_event_socket`, made inside `netns`); the hub owns it now."""
        with self._lock:
            old = self._socks.pop(netns, None)
            if old is not None:
                self._bury(old)
            self._socks[netns] = sock
            self._generation += 1
        self._poke()

    def remove(self, netns: int) -> None:
        """Stop watching a namespace and close its socket (which stops pinning the namespace)."""
        with self._lock:
            sock = self._socks.pop(netns, None)
            self._dirty.discard(netns)
            self._kinds.pop(netns, None)
            self._links.pop(netns, None)
            self._fdb.pop(netns, None)
            self._nsid.discard(netns)
            if sock is not None:
                self._bury(sock)
                self._generation += 1
        self._poke()

    def recent_events(self) -> list[NetlinkEvent]:
        """A copy of `recent`, taken under the lock (a waiter may be appending)."""
        with self._lock:
            return list(self.recent)

    def recent_netns_changes(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.recent_netns)

    def _bury(self, sock: socket.socket) -> None:
        if self._polling:
            self._graveyard.append(sock)  # closed by the last poller as soon as its poll returned
        else:
            sock.close()

    def _close_graveyard(self) -> None:
        """Close the sockets buried while a waiter polled (lock held, no waiter polling any more).

        Why at once, not at the next wait: a buried socket still pins its namespace (and keeps the root
        end of a veth whose peer was in it), and a process may never wait again (a collector whose UI is
        closing, a loop that stopped): the namespace would stay for as long as this process runs.
        """
        for sock in self._graveyard:
            sock.close()
        self._graveyard.clear()

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # pipe full (a wake-up is pending anyway) or closed

    # -- draining ---------------------------------------------------------------------------------

    def _drain_locked(self, only: Iterable[int] | None = None) -> bool:
        """Read every pending notification; record dirt; True if one of them is worth showing."""
        shown = False
        for netns in list(only) if only is not None else list(self._socks):
            sock = self._socks.get(netns)
            if sock is None:
                continue
            while True:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:  # overflow: something was lost, re-dump
                        self.overflows += 1
                        self._dirty.add(netns)
                        self._kinds.setdefault(netns, set()).add("lost")
                        self._nsid.add(netns)
                        shown = True
                        continue
                    break
                if not data:
                    break
                for event in parse_messages(data, netns):
                    self.recent.append(event)
                    if event.kind == "nsid":
                        self._nsid.add(netns)
                    if event.dirties:
                        self._dirty.add(netns)
                        self._kinds.setdefault(netns, set()).add(event.kind)
                        if event.kind == "link":
                            if event.ifindex:
                                self._links.setdefault(netns, set()).add(event.ifindex)
                            else:  # a device not named: the refresh cannot know which
                                self._kinds[netns].add("unnamed")
                        elif event.kind == "fdb":
                            self._note_fdb(netns, event)
                    shown = shown or event.shows
        return shown

    def _note_fdb(self, netns: int, event: NetlinkEvent) -> None:
        """Keep an FDB notification's entry for `Changes.fdb` (lock held)."""
        notes = self._fdb.get(netns, [])
        if notes is None:
            return  # already unknown until the next take
        if event.entry is None or len(notes) >= FDB_NOTES_MAX:
            self._fdb[netns] = None
            return
        notes.append((event.msg_type, event.entry))
        self._fdb[netns] = notes

    def _pending_locked(self) -> list[int]:
        """The namespaces whose event socket has something to read or an error (ENOBUFS) (lock held).

        One look at an epoll set over every socket instead of a recv on each: on an idle tick at 1000
        namespaces that is microseconds instead of ~2 ms of recv calls that each raise BlockingIOError.
        """
        taker = self._take_poller
        if taker is None:
            taker = self._take_poller = self._sockets_poller()
        elif taker.generation != self._generation:
            taker.sync(self._socks, self._generation)
        return [taker.fd_ns[fd] for fd, _events in taker.ready(0) if fd in taker.fd_ns]

    def take(self) -> Changes:
        """Everything reported since the last take (the collector calls this before dumping)."""
        with self._lock:
            self._drain_locked(self._pending_locked())
            changes = Changes(frozenset(self._dirty), frozenset(self._nsid),
                              {ns: frozenset(kinds) for ns, kinds in self._kinds.items()},
                              {ns: frozenset(links) for ns, links in self._links.items()},
                              {ns: None if n is None else tuple(n) for ns, n in self._fdb.items()})
            self._dirty.clear()
            self._kinds.clear()
            self._links.clear()
            self._fdb.clear()
            self._nsid.clear()
            return changes

    # -- waiting (any thread) ----------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        """Block until a shown change, a /run/netns change, or `timeout` seconds; False on timeout/close.

        Changes the collector already took (and so already shows) do not wake this.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        poller: _Poller | None = None
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return False
                    if self._dirs_sig is None:  # a first look (`watch_dirs=False`): the baseline
                        self._netns_dirs_changed()
                    if poller is None or poller.generation != self._generation:
                        self._release(poller)
                        poller = self._poller_locked()
                    self._polling += 1
                remaining = deadline - time.monotonic()
                try:
                    ready = poller.ready(max(0.0, math.ceil(remaining * 1000) / 1000))  # 0: just look
                finally:
                    with self._lock:
                        self._polling -= 1
                        if not self._polling:
                            self._close_graveyard()
                woke = self._handle(ready, poller.fd_ns)
                if woke is not None:
                    return woke
                if time.monotonic() >= deadline:
                    return False
        finally:
            with self._lock:
                self._release(poller)

    def _poller_locked(self) -> _Poller:
        """The cached poll set if it is current and free, else a new one (lock held).

        Building an epoll set of a thousand fds costs ~1 ms; the UI waits in short slices, so the set is
        kept between calls. A waiter owns its set while it waits: a second concurrent waiter gets its own.
        """
        cached = self._poller_cache
        if cached is not None and not cached.busy:
            if cached.generation != self._generation:
                cached.sync(self._socks, self._generation)
            cached.busy = True
            return cached
        made = self._sockets_poller()
        made.poll.register(self._wake_r, select.EPOLLIN)
        if self._mount_fd is not None:
            try:
                made.poll.register(self._mount_fd, select.EPOLLPRI)
            except PermissionError:  # a plain file, not /proc's table (which signals a change): no signal
                pass
        made.busy = True
        if cached is None or not cached.busy:
            if cached is not None:
                cached.close()
            self._poller_cache = made
        return made

    def _sockets_poller(self) -> _Poller:
        """A poll set over every event socket, of the current generation (lock held)."""
        made = _Poller(self._generation, select.epoll(len(self._socks) + 2, select.EPOLL_CLOEXEC), {})
        made.sync(self._socks, self._generation)
        return made

    def _release(self, poller: _Poller | None) -> None:
        """A waiter is done with `poller` (lock held): closed unless it is the cached one, which the next
        wait brings up to date."""
        if poller is None:
            return
        poller.busy = False
        if poller is not self._poller_cache or self._closed:
            poller.close()
            if poller is self._poller_cache:
                self._poller_cache = None

    def _handle(self, ready: list[tuple[int, int]], fd_ns: dict[int, int]) -> bool | None:
        """Act on what poll() reported: True (a shown change), False (closed), None (keep waiting)."""
        woke = False
        readable: list[int] = []
        with self._lock:
            if self._closed:
                return False
            for fd, revents in ready:
                if fd == self._wake_r:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except OSError:
                        pass
                elif fd == self._mount_fd:
                    if revents & select.EPOLLPRI:
                        woke = self._netns_dirs_changed() or woke
                elif fd in fd_ns:
                    readable.append(fd_ns[fd])
            if readable and self._drain_locked(readable):
                woke = True
        return True if woke else None

    def _other_mounts(self) -> dict[str, int]:
        """Namespace bind mounts outside the name directories: mount point -> namespace inode."""
        return {path: ino for path, ino in nsfs_mounts(self._mountinfo).items()
                if os.path.dirname(path) not in self._dirs}

    def _netns_dirs_changed(self) -> bool:
        """Re-read /run/netns (and docker's) and the other namespace mounts; record and report what
        appeared or went (lock held)."""
        sig = netns_dirs_signature(self._dirs)
        mounts = self._other_mounts()
        if self._dirs_sig is None:  # the first look: what is there now is the baseline
            self._dirs_sig, self._mounts = sig, mounts
            return False
        if sig == self._dirs_sig and mounts == self._mounts:
            return False
        for path in sorted(self._mounts.keys() - mounts.keys()):
            self.recent_netns.append(("removed", path))
        for path in sorted(mounts.keys() - self._mounts.keys()):
            self.recent_netns.append(("added", path))
        for path in sorted(p for p in mounts.keys() & self._mounts.keys() if mounts[p] != self._mounts[p]):
            self.recent_netns.append(("changed", path))
        self._mounts = mounts
        if sig == self._dirs_sig:
            return True
        old = {path: (dev, ino) for path, dev, ino in self._dirs_sig}
        new = {path: (dev, ino) for path, dev, ino in sig}
        for path in sorted(old.keys() - new.keys()):
            self.recent_netns.append(("removed", path))
        for path in sorted(new.keys() - old.keys()):
            self.recent_netns.append(("added", path))
        for path in sorted(p for p in old.keys() & new.keys() if old[p] != new[p]):
            self.recent_netns.append(("changed", path))  # mounted, unmounted or replaced
        self._dirs_sig = sig
        return True

    def close(self) -> None:
        """Close every socket and wake any waiter (which then returns False)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for sock in self._socks.values():
                self._bury(sock)
            self._socks.clear()
        self._poke()
        # A waiter may still be inside poll(): give it the pipe's wake-up before closing the fds.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self._polling:
                    break
            time.sleep(0.001)
        with self._lock:
            self._close_graveyard()
            for poller in (self._take_poller, self._poller_cache):
                if poller is not None and not poller.busy:
                    poller.close()
            self._take_poller = self._poller_cache = None
            for fd in (self._wake_r, self._wake_w, self._mount_fd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._mount_fd = None
