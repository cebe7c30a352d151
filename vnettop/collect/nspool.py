"""Open rtnetlink sockets per namespace, kept between collects, dropped when the namespace goes.

Why a pool: opening a socket in a namespace costs a setns round trip; keeping it open makes a repeat
dump ~2x cheaper and lets an event socket tell us which namespaces changed at all. What the pool holds
per namespace (1 or 2 fds; RLIMIT_NOFILE is raised at start, its hard limit too where allowed):
- a plain socket wrapped in `counters.StatsSocket` for the counters, the full dumps and the
  RTM_GETNSID queries;
- an event socket handed to the `EventHub` (not for a collector that collects once: `events`);
- a pyroute2 `IPRoute` for the fallbacks, with a socket of its own, both made only if ever used
  (holding a third socket from the start made 5000 namespaces need 15000 fds, more than this machine
  kind's default hard limit of 20000 leaves beside everything else).
The path a namespace was found by is opened only to enter it, and checked (fstat) to still name the
namespace discovery saw: pids get reused.

No fd on a namespace itself (nsfs) is kept: the NETNSA_FD of an RTM_GETNSID query is made when asked,
from the namespace's own socket (SIOCGSKNS, not through /run/netns, whose bind mount it would keep
busy), and closed at once. Why: discovery counts processes' nsfs fds as keeping a namespace alive (what
`lsfd` sees), so a kept fd would make another vnettop keep every namespace this one reads, and this one
keep every namespace the other reads: neither would ever let go of a deleted namespace. Only where
SIOCGSKNS is refused (not root: then only vnettop's own namespace is pooled) is the path's fd kept.

A namespace that could not be entered (no root) is still asked about: RTM_GETNSID needs only an fd on
it, which the path it was found by may give even when setns is refused (/run/netns files are
world-readable). So a veth whose peer is in such a namespace is still placed in it, by name.

Every open socket or fd pins its namespace (it outlives `ip netns del`, and its veth peers stay in
root), so `sync()` drops whatever discovery no longer finds (and the collector's janitor does the same
between collects).

Threading: pyroute2 keeps per-thread state (event loop, socket wrapper) in each IPRoute, so all the
IPRoutes of a pool must be created and used on one thread: the collector's own worker thread. They
share one asyncio loop (made with the first), which saves three fds per namespace. Sockets are created
inside the namespaces by `linux.nsenter.visit_each` on a throwaway thread.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import itertools
import os
import resource
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vnettop.collect import counters
from vnettop.collect.counters import StatsSocket
from vnettop.collect.events import EVENT_GROUPS, EventHub
from vnettop.collect.namespaces import candidate_paths, nsfs_device
from vnettop.collect.types import Discovery, NsEntry
from vnettop.linux import nsenter, sockfilter
from vnettop.linux.netlink import NETLINK_ROUTE, SIOCGSKNS
from vnettop.model import CollectError

if TYPE_CHECKING:
    import asyncio


def raise_nofile_limit(target: int = 1 << 20) -> int:
    """Raise the soft RLIMIT_NOFILE toward `target` (a pooled namespace costs 2 fds), and the hard limit
    too where that is allowed (CAP_SYS_RESOURCE, i.e. root: a host with 5000 namespaces needs more than
    a default hard limit of 20000 may leave), never past the kernel's fs.nr_open.

    Returns the soft limit in force afterwards; never raises.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < target:
            try:
                with open("/proc/sys/fs/nr_open", "rb") as f:  # (bytes: no codec to import, which a process
                    # that dropped to nobody may no longer be able to read)
                    ceiling = min(target, int(f.read()))
            except (OSError, ValueError, LookupError):
                ceiling = hard
            if ceiling > hard:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
                    return ceiling
                except (OSError, ValueError):  # not allowed: the hard limit stays
                    pass
        want = target if hard == resource.RLIM_INFINITY else min(hard, target)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            return want
        return soft
    except (OSError, ValueError):
        return -1


def reserve_fds(more: int) -> None:
    """Grow this process's fd table at once to hold `more` fds beyond the lowest free one. Never raises.

    Why: the kernel grows the table by doubling as fds are made (64, 128, 256...), and while another
    thread shares it (the throwaway thread that makes the sockets inside the namespaces, the UI's
    threads), each growth waits for an RCU grace period (fs/file.c, expand_fdtable: synchronize_rcu).
    Measured: making a socket in each of 203 namespaces took 12.7-19.5 ms the first time in a process and
    1.6 ms the next; grown first from this thread, 1.9 ms. So the table is grown once, here, before the
    fds are made: without any wait when no other thread runs (a one-shot command), one instead of one per
    doubling otherwise. (A table never shrinks; F_DUPFD takes the lowest free fd at or above its bound,
    so no fd in use is touched.)
    """
    if more < 32:  # within the first doubling or two: not worth a look
        return
    try:
        low = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        bound = low + more if soft == resource.RLIM_INFINITY else min(low + more, soft - 1)
        if bound > low:
            os.close(fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, bound))
    except (OSError, ValueError):
        pass
    finally:
        os.close(low)


#: fds a newly pooled namespace may take: its socket(s), the fd on it while it is opened, and the one a
#: resolve opens to ask about it (`_ns_fd_of`).
FDS_PER_NEW_NAMESPACE = 4


_TURNS = itertools.count()


@dataclass(eq=False)
class PooledNs:
    """The open handles of one namespace, and what the collector remembers about it."""

    inode: int
    #: An fd kept on the namespace, or -1: none is kept (made when asked, see the module docstring).
    ns_fd: int
    ipr: Any  # pyroute2 IPRoute (typed loosely: pyroute2 has no type hints)
    #: A `counters.StatsSocket` in this namespace for the counters, dumps and RTM_GETNSID questions
    #: (None: use `counters.dump_stats` beside `ipr`).
    stats: StatsSocket | None = None
    #: The collector's last full dump of this namespace (None: never dumped).
    last_dump: Any = None
    #: The ifindexes of `last_dump`'s devices (set with it: compared with every counters dump).
    last_indexes: frozenset[int] = frozenset()
    #: The counters mapping last read by a counters request, for `last_dump`'s devices: on a counters-only
    #: tick, a partial refresh, or right after a full dump (`LiveCollector._prime_counters`). The very
    #: same one again from `StatsSocket.dump`: nothing moved since.
    last_stats: Any = None
    #: When its counters were last read (a collect's `taken_at`; see `LiveCollector.pace_counters`).
    read_at: Any = None
    #: Which tick is its turn for counters read on a slower cadence: the order it was pooled in (not its
    #: inode: namespace inodes on a host may all be alike modulo a small number, and not its place in
    #: the discovery, which moves as others come and go and could put its turn off for ever).
    turn: int = field(default_factory=lambda: next(_TURNS))
    #: nsid this namespace has for another namespace (by inode), as asked this far.
    nsids: dict[int, int | None] = field(default_factory=dict)


class _LazyIPRoute:
    """pyroute2's IPRoute over a netlink socket of its own in a namespace, both made on first use.

    Dumps, counters and nsid queries go through `counters.StatsSocket`s; IPRoute is their fallback.
    Making it only when asked spares a one-shot `vnettop dump` the import of pyroute2's IPRoute stack
    (115-475 ms measured here) when no fallback is needed, and its socket: made in the namespace of
    the `StatsSocket` beside it (`NetlinkSocket.beside`'s way: SIOCGSKNS, or the namespace fd the pool
    keeps where that is refused), not by the pool's trip through every namespace (one socket() less per
    namespace there, ~15 ms at 1000 namespaces with the event socket a one-shot collect skips).
    Like IPRoute, it must be used from the collector's worker thread only.
    """

    def __init__(self, beside: StatsSocket, ns_fd: int,
                 loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._beside = beside
        self._ns_fd = ns_fd  # the pool's (closed by the pool), or -1: ask SIOCGSKNS of `beside`
        self._loop = loop
        self._ipr: Any = None

    def _made(self) -> Any:
        if self._ipr is None:
            from pyroute2.iproute.linux import IPRoute

            if self._ns_fd >= 0:
                sock = nsenter.socket_in(self._ns_fd)
            else:
                ns_fd = fcntl.ioctl(self._beside.fileno(), SIOCGSKNS)
                try:
                    sock = nsenter.socket_in(ns_fd)
                finally:
                    os.close(ns_fd)
            fd = sock.detach()
            try:
                self._ipr = IPRoute(fileno=fd, use_event_loop=self._loop())
            except BaseException:
                os.close(fd)
                raise
        return self._ipr

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None


def _open_ns_fd(entry: NsEntry, proc_root: str) -> int:
    """An fd on `entry`'s namespace, checked to be that namespace (pids get reused).

    A process's fd (`/proc/PID/fd/N`) may name something else by now: the process closed it and opened
    another file under the same number. Opening that could block for good (a FIFO without a writer),
    make a terminal ours, or start what some devices start when opened. So such a path is looked at
    (stat) first and opened only if it is that very namespace file (nsfs, this inode: not its link's
    text, which for an fd opened through a bind mount is the mount's path); every open is non-blocking
    and takes no controlling terminal, for what changes between the look and the open.

    Raises PermissionError if only permission kept us out, FileNotFoundError if the namespace is gone,
    and the error of the last path that failed otherwise (EMFILE, EIO...: it may be there, unreadable).
    """
    denied: OSError | None = None
    other: OSError | None = None
    dev = _nsfs_dev()
    for path in candidate_paths(entry, proc_root):
        try:
            if "/fd/" in path and not _is_it(os.stat(path), entry.inode, dev):
                continue
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except PermissionError as exc:
            denied = exc
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESRCH):
                other = exc  # (ENOENT, ESRCH: that way in is gone)
            continue
        try:
            if _is_it(os.fstat(fd), entry.inode, dev):
                return fd
        except OSError:
            pass
        os.close(fd)
    if denied is not None:
        raise denied
    if other is not None:
        raise other
    raise FileNotFoundError(errno.ENOENT, "namespace vanished")


@functools.cache
def _nsfs_dev() -> int | None:
    """nsfs's device number, read once: one file system holds every namespace of the kernel."""
    return nsfs_device("/proc/self/ns/net")


def _is_it(st: os.stat_result, inode: int, nsfs_dev: int | None) -> bool:
    """Whether `st` is the namespace file of `inode` (on nsfs, when its device number is known: an
    inode number alone can be another file system's)."""
    return st.st_ino == inode and (nsfs_dev is None or st.st_dev == nsfs_dev)


def open_event_socket() -> socket.socket:
    """A non-blocking rtnetlink socket in the *calling thread's* namespace, joined to EVENT_GROUPS, with
    ARP/ND neighbour notifications filtered out in the kernel (`sockfilter`): the group is joined for
    bridge forwarding entries only."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        try:
            sockfilter.drop_arp_nd_neighbours(sock)  # before joining: none is queued unfiltered
        except OSError:
            pass  # then they are read and ignored (`NetlinkEvent.dirties`), as without a filter
        sock.bind((0, EVENT_GROUPS))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _make_sockets(_fd: int, events: bool = True) -> tuple[socket.socket, socket.socket | None]:
    """Inside a namespace: a socket for the counters, dumps and nsid questions, and a bound event socket
    if `events` (made here, in the same trip, rather than by a thread each)."""
    counters = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    if not events:
        return counters, None
    try:
        return counters, open_event_socket()
    except OSError:
        counters.close()
        raise


def _make_sockets_quiet(fd: int) -> tuple[socket.socket, socket.socket | None]:
    return _make_sockets(fd, events=False)


def _kept_ns_fd(sock: socket.socket, path_fd: int) -> int:
    """-1 (no fd kept: `_ns_fd_of` makes one when asked) if SIOCGSKNS works on `sock`, else `path_fd`.

    Why not keep `path_fd`: an fd opened through a bind mount keeps that mount busy, and a plain `umount`
    of /run/netns/NAME (by a script, or a test) would then fail with EBUSY for as long as we run; and any
    kept nsfs fd is seen by other vnettops as keeping the namespace alive (module docstring).
    SIOCGSKNS opens the namespace through the kernel's internal nsfs mount instead.
    """
    try:
        fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    except OSError:
        return path_fd
    os.close(fd)
    os.close(path_fd)
    return -1


def _why_short(exc: OSError) -> str:
    """The reason in a few words, for the namespace's own line ("devices unknown (cannot enter: ...)")."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EPERM, errno.EACCES):
        return f"permission denied ({exc.strerror}): reading other namespaces needs root (CAP_SYS_ADMIN)"
    return f"cannot open the namespace: {exc.strerror or exc}"


def _close_entry(entry: PooledNs) -> None:
    """Close a pooled namespace's handles (never raises)."""
    try:  # the counters socket `counters.dump_stats` keeps beside this IPRoute pins it too
        counters.forget(entry.ipr)
    except Exception:
        pass
    for closable in (entry.ipr, entry.stats):
        try:
            if closable is not None:
                closable.close()
        except Exception:
            pass
    if entry.ns_fd >= 0:
        try:
            os.close(entry.ns_fd)
        except OSError:
            pass


class NsPool:
    """The per-namespace sockets, opened on demand and closed when their namespace disappears."""

    def __init__(self, hub: EventHub, proc_root: str = "/proc", events: bool = True) -> None:
        """`events`: open an event socket per namespace for `hub` (False: a collector that collects once
        has no use for them, and they cost a socket and a bind per namespace to open and to close)."""
        raise_nofile_limit()
        self.hub = hub
        self.proc_root = proc_root
        self._events = events
        #: The asyncio loop the IPRoutes share, made with the first one (most runs need none: importing
        #: asyncio alone is ~14 ms of a one-shot dump's start).
        self._loop: asyncio.AbstractEventLoop | None = None
        self.entries: dict[int, PooledNs] = {}
        self._self_inode = nsenter.thread_netns_inode()
        #: RTM_GETNSID queries sent so far (answers are cached; for benchmarks and tests).
        self.nsid_queries = 0
        #: RTM_GETNSID questions that got no answer (not cached: asked again; the collector must not
        #: reuse a resolve that met one).
        self.nsid_failures = 0
        #: (namespace, nsid) -> the namespace it names, as `refs.resolve_links` found it (its `memo`):
        #: a repeat collect re-verifies these instead of searching. Dropped with either namespace.
        self.nsid_targets: dict[tuple[int, int], int] = {}
        #: Namespaces the last `sync` could not enter, and why in a few words: still asked about by
        #: `nsid_of` (through a short-lived fd), never pooled.
        self.unreadable: dict[int, NsEntry] = {}
        self.unreadable_why: dict[int, str] = {}
        #: nsid answers about unreadable namespaces, for one sync only: nothing pins those namespaces,
        #: so an answer could outlive its namespace (and its inode be reused).
        self._loose_nsids: dict[tuple[int, int], int | None] = {}
        self._query_fds: dict[int, int] = {}  # namespace -> fd made by `_ns_fd_of`, until `release_fds`

    def get(self, inode: int) -> PooledNs | None:
        return self.entries.get(inode)

    def sync(self, discovery: Discovery) -> tuple[list[int], dict[int, str], list[CollectError]]:
        """Open sockets for new namespaces, drop those no longer discovered.

        Returns (namespaces opened now, unreadable namespaces with the reason, soft errors).
        A namespace that vanished meanwhile is in neither: it is simply not there any more.
        """
        wanted = {e.inode: e for e in discovery.namespaces}
        self.drop_many([i for i in self.entries if i not in wanted])
        gone = set(self.unreadable) - set(wanted)
        if gone:
            self.nsid_targets = {k: v for k, v in self.nsid_targets.items() if not {k[0], v} & gone}
        self.unreadable, self.unreadable_why, self._loose_nsids = {}, {}, {}

        unreadable: dict[int, str] = {}
        errors: list[CollectError] = []
        new_fds: dict[int, int] = {}
        reserve_fds(FDS_PER_NEW_NAMESPACE * sum(1 for inode in wanted if inode not in self.entries))
        for inode, entry in wanted.items():
            if inode in self.entries:
                continue
            try:
                new_fds[inode] = _open_ns_fd(entry, self.proc_root)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._mark_unreadable(entry, exc, unreadable)
        if not new_fds:
            return [], unreadable, errors

        here = [i for i in new_fds if i == self._self_inode]
        away = [i for i in new_fds if i != self._self_inode]
        make = _make_sockets if self._events else _make_sockets_quiet
        made: dict[int, tuple[socket.socket, socket.socket | None] | OSError] = {}
        for inode in here:  # our own namespace: no setns (it needs CAP_SYS_ADMIN even to stay)
            try:
                made[inode] = make(new_fds[inode])
            except OSError as exc:
                made[inode] = exc
        if away:
            results = nsenter.visit_each([new_fds[i] for i in away], make)
            made.update(zip(away, results, strict=True))

        opened: list[int] = []
        for inode, result in made.items():
            if isinstance(result, OSError):
                os.close(new_fds[inode])
                self._mark_unreadable(wanted[inode], result, unreadable)
                continue
            counters, ev = result
            ns_fd = _kept_ns_fd(counters, new_fds[inode])
            stats = StatsSocket(counters)
            if ev is not None:
                self.hub.add(inode, ev)
            self.entries[inode] = PooledNs(inode, ns_fd, _LazyIPRoute(stats, ns_fd, self._shared_loop), stats)
            opened.append(inode)
        return opened, unreadable, errors

    def _mark_unreadable(self, entry: NsEntry, exc: OSError, unreadable: dict[int, str]) -> None:
        unreadable[entry.inode] = _why(exc)
        self.unreadable[entry.inode] = entry
        self.unreadable_why[entry.inode] = _why_short(exc)

    def _shared_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop

    def nsid_of(self, from_inode: int, target_inode: int) -> int | None:
        """The nsid `from_inode` has for `target_inode`, or None (none assigned, or unknown).

        RTM_GETNSID with NETNSA_FD is a query: it never assigns an nsid. Answers are cached until the
        namespace reports an nsid change (see `forget_nsids`) or either namespace is dropped.
        """
        src = self.entries.get(from_inode)
        if src is None:
            return None
        dst = self.entries.get(target_inode)
        if dst is None:
            return self._nsid_of_unreadable(src, target_inode)
        if target_inode in src.nsids:
            return src.nsids[target_inode]
        try:
            value = self._ask(src, self._ns_fd_of(dst))
        except OSError:
            self.nsid_failures += 1
            return None  # not cached: ask again next time
        src.nsids[target_inode] = value
        return value

    def release_fds(self) -> None:
        """Close the namespace fds `nsid_of` opened (the collector calls this once a resolve is done:
        one fd per namespace asked about, instead of one per question, and none kept between collects)."""
        fds, self._query_fds = self._query_fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def _nsid_of_unreadable(self, src: PooledNs, target_inode: int) -> int | None:
        """The nsid `src` has for a namespace that could not be entered, through a short-lived fd on it
        (only for this sync: see `_loose_nsids`)."""
        entry = self.unreadable.get(target_inode)
        if entry is None:
            return None
        key = (src.inode, target_inode)
        if key in self._loose_nsids:
            return self._loose_nsids[key]
        value: int | None = None
        try:
            fd = _open_ns_fd(entry, self.proc_root)
        except OSError:
            pass  # not even an fd: it stays unidentified
        else:
            try:
                value = self._ask(src, fd)
            except OSError:
                value = None
            finally:
                os.close(fd)
        self._loose_nsids[key] = value
        return value

    def _ns_fd_of(self, entry: PooledNs) -> int:
        """An fd on `entry`'s namespace for NETNSA_FD: the kept one, or one made until `release_fds`."""
        if entry.ns_fd >= 0:
            return entry.ns_fd
        fd = self._query_fds.get(entry.inode)
        if fd is None:
            if entry.stats is None:
                raise OSError(errno.EBADF, "no socket to ask SIOCGSKNS")
            fd = self._query_fds[entry.inode] = fcntl.ioctl(entry.stats.fileno(), SIOCGSKNS)
        return fd

    def _ask(self, src: PooledNs, target_fd: int) -> int | None:
        """RTM_GETNSID from `src` about the namespace `target_fd` (a query: never assigns). Raises OSError."""
        self.nsid_queries += 1
        if src.stats is None:
            raise OSError(errno.EBADF, "no socket to ask RTM_GETNSID on")
        return src.stats.nsid_of(target_fd)

    def forget_nsids(self, inode: int) -> None:
        """`inode` reported an nsid change: forget its "no nsid" answers.

        Assigned nsids stay valid: the kernel has no request to unassign one, and an nsid dies only
        with its namespace, which cannot happen while this pool holds an fd on it.
        """
        entry = self.entries.get(inode)
        if entry is not None:
            entry.nsids = {k: v for k, v in entry.nsids.items() if v is not None}

    def drop(self, inode: int) -> None:
        """Close everything held for a namespace (so it is no longer pinned)."""
        self.drop_many((inode,))

    def drop_many(self, inodes: Collection[int]) -> None:
        """`drop` for several namespaces, with one pass over what the others remember of them.

        Why: each drop forgets the namespace in every other namespace's nsid answers and in the nsid
        memo; dropping them one by one made closing a pool of 1000 namespaces quadratic (~1 M dict
        operations, 135 ms of a one-shot `vnettop dump`).
        """
        if not inodes:
            return
        for inode in inodes:
            fd = self._query_fds.pop(inode, None)
            if fd is not None:
                os.close(fd)
            entry = self.entries.pop(inode, None)
            self.hub.remove(inode)
            if entry is not None:
                _close_entry(entry)
        gone = set(inodes)
        for other in self.entries.values():
            if not gone.isdisjoint(other.nsids):
                other.nsids = {k: v for k, v in other.nsids.items() if k not in gone}
        if self.nsid_targets:
            self.nsid_targets = {k: v for k, v in self.nsid_targets.items()
                                 if k[0] not in gone and v not in gone}

    def close(self) -> None:
        self.release_fds()
        self.nsid_targets = {}
        self.drop_many(list(self.entries))
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:  # pyroute2 leaves async generators behind; finish them quietly
                loop.run_until_complete(loop.shutdown_asyncgens())
            except Exception:
                pass
            loop.close()
