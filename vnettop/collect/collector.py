"""The live collector: discovery + per-namespace netlink + /proc scan, joined into one Snapshot.

How it stays cheap when called every second (KERNEL-NOTES, "the design that scales"): namespaces are
re-discovered each time (a few ms of readlink/stat), but a namespace is fully dumped only the first time
it is seen, or when its event socket reported a change or overflowed; every other namespace only has its
counters fetched (RTM_GETSTATS), and its last dump is reused. If the counters list a device the last
dump did not have (or lack one it had), the namespace is re-dumped anyway: a missed event cannot leave a
stale picture for more than one tick. A live view may have the counters of what it does not show read on
a slower cadence (`pace_counters`): such a namespace is still asked on every tick which devices it has
(`counters.StatsSocket.devices`, cheaper than its counters), and its counters are read on its turn
(`Snapshot.counters_behind`).

After the kernel picture is built, the other sources of truth on the host (`collect.sources`: who owns
what) are asked for their sections, each only when its fd fired or the picture's structure changed
(`sources.enrich.SourceSet`), so an idle tick reuses their last answers as is.

Order of a collect: discovery (names, mounts, processes' namespaces), then the incremental /proc scan,
whose fd links also show the namespaces kept alive only by a process's fd (`namespaces.with_held`), then
the namespaces are opened and read, then cross-namespace references resolved. A tun/tap device that
appeared in a dump asks for a full rescan of the fds after it (a known process may have just attached).

What could not be read stays unknown (SNAPSHOT-SCHEMA.md "Unknown is not empty"): a namespace that could
not be entered is listed with `readable=False`; tun/tap holders are None when the scan could not read
every process (`ProcScan.complete`); a namespace's pids say when others' could not be read.

Threading: pyroute2's IPRoute keeps per-thread state, so every netlink call runs on one worker thread
owned by the collector; `collect()` may be called from any thread (the UI's thread workers, the CLI's
main thread) and waits for that worker. `wait_for_change()` runs in the caller's thread and only polls
the event sockets' fds.

Safety: the collector never creates a namespace (no pyroute2 `netns=`), never sends RTM_NEWNSID, never
mounts, never opens /dev/net/tun and never forks (a one-shot command may hand it a child it forked,
`scan_ahead`, which only reads). Partial failures (a namespace vanishing mid-scan,
permission denied, no root) end up in `Snapshot.errors`, never raised.

Namespace ids (nsids): what reading costs, exactly. The kernel numbers namespaces lazily: when it fills a
link message for a device whose link namespace differs from its own (a veth whose peer is elsewhere; also
macvlan/ipvlan/tunnels with a lower device elsewhere), `rtnl_fill_link_netnsid` calls
`peernet2id_alloc(src_net, link_net)`, where `src_net` is the namespace of the socket that ASKED. So:
- A plain link dump of namespace X made from a socket in X (ours, or `ip -n X link show`) gives X a lasting
  nsid for the far namespace of each such device, if X had none. Measured on fresh namespaces U, V with a
  veth made from root (`ip link add u netns U type veth peer name v netns V`): U had nsid 0 for V, V had
  none; after `ip -n V link show`, or after `vnettop dump` instead, V has nsid 0 for U and nothing else
  changed. That is the kernel's price of reading at all; vnettop pays exactly what `ip -n X -d link show`
  in every namespace pays, never more (tests/kernel/test_collector.py checks it).
- Reading a device THROUGH an nsid (RTM_GETLINK / dumps with IFLA_TARGET_NETNSID) fills the reply with
  `src_net` = the asking namespace: asking U about V's veth end numbers U in U itself (`ip -n U netns
  list-id` then shows U's own name). vnettop never makes such requests; every cross-namespace join is done
  from the per-namespace dumps plus RTM_GETNSID with NETNSA_FD, which uses `peernet2id` (no allocation).
- Link notifications are filled the same way (`src_net` = the device's namespace) when the kernel builds
  them for a listener: with `ip monitor link` in V, creating a veth W <-> V gave V an nsid for W at once.
  vnettop's event sockets are such listeners, and it re-dumps a namespace after its events, which would
  number the same namespace anyway.
"""

from __future__ import annotations

import math
import operator
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from vnettop.collect.counters import dump_stats
from vnettop.collect.events import FDB_ONLY, EventHub, FdbFields, NetlinkEvent
from vnettop.collect.namespaces import Discoverer, with_held
from vnettop.collect.nspool import NsPool, PooledNs
from vnettop.collect.refs import ResolveCache
from vnettop.collect.sources import Source
from vnettop.collect.sources.enrich import SourceSet
from vnettop.collect.types import Discovery, LinkDraft, NsEntry, ProcScan
from vnettop.linux.libc import name_this_thread
from vnettop.model import CollectError, Host, Link, Namespace, NsFd, Process, Snapshot, Stats

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from vnettop.collect.scan_ahead import ScanAhead

T = TypeVar("T")


def _tun_keys(drafts: tuple[LinkDraft, ...]) -> frozenset[tuple[int, str, bool, str, bool | None]]:
    """The tun/tap devices and their state: a process attaching to or leaving an up one changes its
    carrier (a link event), and the holders are then read again in full."""
    return frozenset((d.link.ifindex, d.link.name, d.link.admin_up, d.link.oper_state, d.link.carrier)
                     for d in drafts if d.link.tun is not None)


def _same_facts(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Pairwise identity, else equality (the scanner hands back the same objects while nothing changed)."""
    return all(x is y or x == y for x, y in zip(a, b, strict=True))


def _label(entry: NsEntry) -> str:
    return _namespace(entry, (), None).label


def _shown_path(path: str) -> str:
    """A mount path as shown: bytes that are not UTF-8 written `\\xNN` (SNAPSHOT-SCHEMA.md), so it can
    be printed and written as JSON; the entry keeps the real path to open."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _namespace(e: NsEntry, procs: tuple[Process, ...], why_unreadable: str | None,
               pids_complete: bool = True) -> Namespace:
    return Namespace(e.inode, e.names, e.root, e.pids, procs, readable=why_unreadable is None,
                     unreadable_reason=why_unreadable, mounts=tuple(_shown_path(m) for m in e.mounts),
                     fds=e.fds, pids_complete=pids_complete)


class _Janitor:
    """Lets go of vanished namespaces even while nobody collects (a paused UI, an idle library user).

    The pool's sockets pin their namespaces: after `ip netns del` a pinned namespace lives on, and so
    do its veth peers in root, until the pool drops it, which a collect does. Every `interval` seconds
    without a collect, or at once when the mount table changes (`ip netns del` unmounts), this thread
    asks the collector's worker to re-discover and drop what is gone. It never reads a namespace.
    """

    def __init__(self, prune: Callable[[bool], None], interval: float = 2.0,
                 mountinfo: str = "/proc/self/mountinfo") -> None:
        self._prune = prune
        self._interval = interval
        self._min_gap = 0.5
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self._mount_fd: int | None = os.open(mountinfo, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._mount_fd = None
        self._thread = threading.Thread(target=self._run, name="vnettop-janitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poll = select.poll()
        poll.register(self._stop_r, select.POLLIN)
        if self._mount_fd is not None:
            poll.register(self._mount_fd, select.POLLPRI)
        stop_only = select.poll()
        stop_only.register(self._stop_r, select.POLLIN)
        while True:
            ready = poll.poll(int(self._interval * 1000))
            if any(fd == self._stop_r for fd, _ in ready):
                return
            self._prune(bool(ready))  # True: the mount table changed
            # At most two prunes a second, however fast others mount and unmount namespaces.
            if stop_only.poll(int(self._min_gap * 1000)):
                return

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        for fd in (self._stop_r, self._stop_w, self._mount_fd):
            if fd is not None:
                os.close(fd)


#: Counters read this much later in a collect than its moment, or more, are said to be late
#: (`Snapshot.counters_late`): below it, a rate over a second is off by less than half a percent.
LATE_MIN = 0.005
#: The longest one collect waits for the UI in all (see `LiveCollector.hold_until`).
MAX_HOLD = 0.25

#: A live view's cadence for the counters of what it does not show (`LiveCollector.pace_counters`): one
#: collect in this many. At 1000 namespaces, where a multicast moves counters in most of them at once,
#: such a collect costs a fifth of the reads; a device's rate history then has 5 s steps until selected.
PACED_EVERY = 5

#: What `top -H` shows for the thread that does all the collecting.
COLLECT_THREAD = "vnt-collect"


class LiveCollector:
    """Snapshots of this host's virtual networking, read live (implements `Collector`)."""

    def __init__(self, proc_root: str = "/proc", run_root: str = "/run",
                 sources: Sequence[Source] | None = None,
                 only: Callable[[NsEntry], bool] | None = None, one_shot: bool = False,
                 ahead: ScanAhead | None = None) -> None:
        """`sources`: the other sources of truth to ask after the kernel (None: every registered one,
        reading under "/"; () : none, a kernel picture only). `only`: read just the namespaces it
        accepts (None: all), e.g. the few a change names, for a picture that costs the same at any
        host size (the mutator's guards). `one_shot`: for a command that collects once (`dump`): no
        event socket per namespace, no janitor and no source's watches, which only serve the collects
        after it (a later collect then sees what changed only as the counters check does), and no worker
        thread: the caller's thread collects (such a command has one thread; this saves the thread pool's
        imports, ~4 ms of a dump).
        `ahead`: a child forked by a one-shot command (`scan_ahead.ScanAhead.start`) that scans /proc and
        reads a share of the namespaces for the first collect, while this process reads the others."""
        self.proc_root = proc_root
        self.run_root = run_root
        self._only = only
        self._one_shot = one_shot
        self._ahead = ahead
        #: The child's scan read every process's fds (as a first in-process scan does): no rescan.
        self._ahead_read_all = False
        #: The child's /proc scan did not end in time: no scan is tried in this process (it would block).
        self._proc_stuck = False
        if sources is None:
            from vnettop.collect.sources.registry import make_sources

            sources = make_sources("/")
        self._sources = SourceSet(sources, watch=not one_shot)
        self._hub = EventHub(run_root, watch_dirs=not one_shot)
        self._executor: ThreadPoolExecutor | None = None  # (one-shot: none, the caller's thread works)
        if not one_shot:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vnettop-collect",
                                                initializer=name_this_thread, initargs=(COLLECT_THREAD,))
        self._pool: NsPool | None = None  # made on the worker thread (pyroute2 is thread-bound)
        self._scanner: Any = None
        self._resolved = ResolveCache()  # reused on ticks that only fetched counters
        self._namespaces: dict[int, Namespace] = {}  # last tick's, reused when unchanged
        #: What each Namespace record was made of (entry, processes, unreadable reason, pids complete):
        #: the same again gives the same record without building and comparing a new one.
        self._ns_made_of: dict[int, tuple[NsEntry, tuple[Process, ...], str | None, bool]] = {}
        #: What the last tuple of Namespace records was made of, and that tuple (`_namespaces_of`).
        self._ns_last: tuple[list[NsEntry], Mapping[int, tuple[Process, ...]], dict[int, str], bool,
                             tuple[Namespace, ...]] | None = None
        self._discoverer = Discoverer(proc_root, run_root)
        #: The last `with_held` call's arguments and answer (most ticks: the same again).
        self._held_memo: tuple[Discovery, dict[int, tuple[NsFd, ...]], Discovery] | None = None
        self._counts: dict[str, int] = {}
        #: The devices that pointed into no namespace found at the last collect (`pointing_nowhere`).
        self._far_unknown: frozenset[tuple[int, int]] = frozenset()
        self._closed = False
        self._close_lock = threading.Lock()
        self._host = Host(socket.gethostname(), os.uname().release)
        #: Per-stage timings of the last collect, in ms (for benchmarks and the status line).
        self.last_timings: dict[str, float] = {}
        #: What the last collect did: namespaces fully dumped, counters-only, nsid queries sent.
        self.last_counts: dict[str, int] = {}
        self._last_collect = 0.0  # time.monotonic() at the end of the last collect
        #: Set by the UI (time.monotonic()) when a key arrives: until then, the collect in progress
        #: pauses between namespaces and stages, so the key is answered without sharing the
        #: interpreter with the collection (a view switch took ~2x as long while one ran). At most
        #: MAX_HOLD per collect, so a held-down key cannot keep a change from showing.
        self.hold_until = 0.0
        self._held = 0.0  # seconds the current collect gave way
        #: A discovery between two collects (the janitor's prune) looked at every process: the next
        #: /proc scan compares every process's fd count too, as it would after its own such discovery.
        self._scan_everyone = False
        self._prune_queued = threading.Event()
        self._janitor: _Janitor | None = None
        #: Counters pacing (`pace_counters`): (every, current): read one tick in `every` (0: every tick),
        #: but every tick in the namespaces `current`.
        self._pacing: tuple[int, frozenset[int]] = (0, frozenset())
        self._ticks = 0
        #: What the last holders were attached from (the scan's tun facts) and the errors it gave.
        self._attached: tuple[tuple[Any, ...], tuple[CollectError, ...]] | None = None

    # -- the Collector protocol ----------------------------------------------------------------

    def collect(self) -> Snapshot:
        """A fresh Snapshot. Never raises for partial failures; raises RuntimeError after `close()`."""
        return self._on_worker(self._collect)

    def collect_changes(self) -> Snapshot:
        """A Snapshot after kernel events: as `collect`, but a namespace that reported nothing since the
        last collect, and whose counters are not kept current (`pace_counters`), is taken as last read
        (its devices, and its counters named behind) without asking the kernel anything.

        Why: a link added in one namespace of a 1000-namespace host is shown by a collect that asked
        all 1000 of them (~13 of the ~22 ms it took on a 2-core Xeon VM), though their event sockets
        already said nothing changed there. The check of every namespace's devices is what catches a
        missed event, so the caller keeps it on its interval: a live view calls this only for a collect
        that an event started, and `collect` again once an interval has passed since the last one (a
        steady stream of events must not put the check off for good). Namespaces opened anew, dirty
        ones (an event socket's overflow makes its namespace dirty) and those whose last read failed
        are read as by `collect`. Takes no turn of the counters' pacing (their turns are in collects)."""
        return self._on_worker(lambda: self._collect(changes_only=True))

    def wait_for_change(self, timeout: float) -> bool:
        """True within milliseconds of a shown change in any pooled namespace or in /run/netns.

        False on timeout or when `close()` is called meanwhile.
        """
        if self._closed:
            return False
        return self._hub.wait(timeout)

    def close(self) -> None:
        """Release every socket (un-pinning the namespaces) and the worker thread; wakes waiters."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None:  # handed over, never used
            ahead.cancel()
        self._hub.close()
        self._sources.close()
        if self._executor is None:
            self._close_pool()
            return
        try:
            self._executor.submit(self._close_pool).result(timeout=10)
        finally:
            self._executor.shutdown(wait=False)

    def pace_counters(self, current: Collection[int] = (), every: int = PACED_EVERY) -> None:
        """Read the counters of the namespaces `current` on every collect, and of the others on one
        collect in `every` (0 or 1: all of them every time, as before the first call). A live view keeps
        the namespace of what it shows counters for current; the rest of a big host then costs a check
        of its devices per tick, not a read of its counters (the counters check stays: a device that
        came or went is still seen on the next collect). A snapshot names the namespaces whose counters
        are older than itself, and when they were read (`Snapshot.counters_behind`). May be called from
        any thread; it takes effect at the next collect."""
        self._pacing = (every if every > 1 else 0, frozenset(current))  # (one assignment: read whole)

    def __enter__(self) -> LiveCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recent_events(self) -> list[NetlinkEvent]:
        """The latest netlink notifications received, oldest first."""
        return self._hub.recent_events()

    def recent_netns_changes(self) -> list[tuple[str, str]]:
        """The latest /run/netns changes seen by `wait_for_change`: ("added"|"removed"|"changed", path)."""
        return self._hub.recent_netns_changes()

    # -- the worker thread ---------------------------------------------------------------------

    def _on_worker(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("the collector is closed")
        if self._executor is None:  # one-shot: the caller's thread is the worker
            return fn()
        return self._executor.submit(fn).result()

    def _request_prune(self, mounts_changed: bool) -> None:
        """From the janitor: queue a prune unless one is queued or a collect just did the job."""
        recent = time.monotonic() - self._last_collect < 1.0
        if self._closed or self._executor is None or self._prune_queued.is_set():
            return
        if recent and not mounts_changed:
            return
        self._prune_queued.set()
        try:
            self._executor.submit(self._prune)
        except RuntimeError:  # shut down meanwhile
            pass

    def _prune(self) -> None:
        """Drop pooled namespaces that discovery no longer finds (on the worker thread)."""
        self._prune_queued.clear()
        pool = self._pool
        if pool is None or self._closed:
            return
        alive = {e.inode for e in self._discover(self._held_fds()).namespaces}
        # (a look at everyone this discovery took, after a mount change say, is the next scan's too)
        self._scan_everyone = self._scan_everyone or self._discoverer.looked_all
        for inode in [i for i in pool.entries if i not in alive]:
            pool.drop(inode)
        if self._scanner is not None:
            self._scanner.let_go(alive)

    def _held_fds(self) -> dict[int, tuple[NsFd, ...]]:
        """The fds processes hold on namespaces, as the /proc scan last read them (worker thread)."""
        return self._scanner.ns_fds() if self._scanner is not None else {}

    def _discover(self, held: dict[int, tuple[NsFd, ...]]) -> Discovery:
        return self._kept(self._with_held(self._discoverer.discover(), held))

    def _with_held(self, disc: Discovery, held: dict[int, tuple[NsFd, ...]]) -> Discovery:
        """`with_held`, the last answer again when asked the same (no new entries, same identities)."""
        memo = self._held_memo
        if memo is not None and memo[0] is disc and memo[1] == held:
            return memo[2]
        out = with_held(disc, held, self.proc_root)
        self._held_memo = (disc, dict(held), out)
        return out

    def _kept(self, disc: Discovery) -> Discovery:
        """`disc` limited to the namespaces `only` accepts."""
        if self._only is None:
            return disc
        only = self._only
        return replace(disc, namespaces=tuple(e for e in disc.namespaces if only(e)))

    def _close_pool(self) -> None:
        if self._janitor is not None:  # stopped here, on the worker: no collect can start one after
            self._janitor.stop()
            self._janitor = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._scanner is not None:
            self._scanner.close()
        self._discoverer.close()

    def _give_way(self) -> None:
        """At a point between two pieces of work: wait while the UI asks for the processor (see
        `hold_until`), at most MAX_HOLD per collect in all."""
        now = time.monotonic()
        until = min(self.hold_until, now + MAX_HOLD - self._held)
        if until <= now:
            return
        start = now
        while now < until:
            time.sleep(min(0.005, until - now))
            now = time.monotonic()
            until = min(self.hold_until, start + MAX_HOLD - self._held)
        self._held += now - start

    def _collect(self, changes_only: bool = False) -> Snapshot:
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        cpu0 = time.thread_time()
        timings: dict[str, float] = {}
        errors: list[CollectError] = []
        self._held = 0.0
        held_at = [0.0]  # self._held when the current lap started

        def lap(name: str, since: float) -> float:
            """Time of one stage, without the time it gave way to the UI."""
            now = time.perf_counter()
            timings[name] = (now - since - (self._held - held_at[0])) * 1000
            self._give_way()  # between stages (not counted in the next one)
            held_at[0] = self._held
            return time.perf_counter()

        ahead = self._take_ahead()
        # The child forked ahead discovered while this process was importing: its discovery, so that both
        # count the namespaces alike (else, or if it gave none, discover here).
        found = ahead.discovery() if ahead is not None else None
        disc = self._kept(found if found is not None else self._discoverer.discover())
        errors.extend(disc.errors)
        t = lap("discover", t0)
        # The /proc scan before the namespaces are opened: it finds the namespaces kept alive only by a
        # process's fd, which must be read like the others. A tun/tap change seen in the dumps below asks
        # for a full rescan afterwards (a known process may have attached to a new device).
        scan_errors_at = len(errors)
        if ahead is None:
            scan = self._scan(disc, False, errors)
            disc = self._kept(self._with_held(disc, scan.ns_fds))
        t = lap("proc", t)

        if self._pool is None:
            self._pool = NsPool(self._hub, self.proc_root, events=not self._one_shot)
            if not self._closed and not self._one_shot:
                self._janitor = _Janitor(self._request_prune)
        pool = self._pool
        try:
            _opened, unreadable, errs = pool.sync(disc)
        except Exception as exc:  # never let one bad namespace stop the whole picture
            unreadable, errs = {}, [CollectError("netlink", f"cannot open namespace sockets: {exc!r}")]
        errors.extend(errs)
        changes = self._hub.take()
        for inode in changes.nsid_changed:
            pool.forget_nsids(inode)  # (and the resolve takes their far references again)
        if changes.nsid_changed:  # a namespace was numbered: maybe one a process just entered
            self._discoverer.look_at_everyone()
        t = lap("open", t)

        drafts_by_ns: dict[int, tuple[LinkDraft, ...]] = {}
        stats_by_ns: dict[int, dict[int, Stats]] = {}
        counts = {"dumped": 0, "counters": 0, "idle": 0, "fdb_only": 0, "fdb_applied": 0, "links_only": 0,
                  "nsid_queries": -pool.nsid_queries, "scan_ahead": 0, "dumped_ahead": 0,
                  "discovered_ahead": int(found is not None)}
        self._counts = counts
        tun_changed = False
        shown: list[NsEntry] = []
        dirty = changes.dirty
        entries = pool.entries
        idle = 0  # namespaces whose counters came back as the very same answer as last tick's
        # Counters read on a slower cadence (`pace_counters`): a namespace not kept current is read on
        # one tick in `every` (its turn, `PooledNs.turn`: each tick reads a share), and otherwise only
        # asked which devices it has; `behind` says which counters are older than this collect, and since
        # when (a namespace's counters whether they moved or not: they were not read).
        every, current = self._pacing
        # (a collect of the changes only takes no turn: the namespaces whose turn it was are read on the
        # next collect's turn, not skipped until their next one)
        tick = self._ticks = self._ticks + (not changes_only)
        behind: dict[int, datetime | None] = {}
        # A live snapshot's moment is when its first counters are read: the stages before (a /proc scan
        # of the young, a namespace opened) take more on some ticks than on others, and a rate divides
        # by the time between two reads. Within the loop, what delays the reads after it on one tick
        # and not on the next (a pause for the UI, a namespace dumped in full) is said per namespace,
        # from LATE_MIN on (the loop's own pace is the same every tick: it cancels out). A one-shot
        # collect's moment is its start (a child forked ahead has read some namespaces since), and
        # it has no next tick to be late against.
        taken_at = started_at if self._one_shot else datetime.now(timezone.utc)
        late_min = math.inf if self._one_shot else LATE_MIN
        held_before = self._held
        late: dict[int, float] = {}
        slow = 0.0  # seconds of full dumps so far in the loop
        late_by = 0.0  # the pauses and full dumps so far: the counters read now are that much later
        read_upto = len(disc.namespaces)  # (the namespaces after this one are the child's)
        for i, entry in enumerate(disc.namespaces):
            if ahead is not None and not ahead.claim(i):
                read_upto = i
                break
            inode = entry.inode
            if inode in unreadable:
                why = unreadable[inode]
                errors.append(CollectError(f"netns {inode}", f"{_label(entry)}: {why}"))
                shown.append(entry)
                continue
            pooled = entries.get(inode)
            if pooled is None:
                continue  # vanished between discovery and opening it
            shown.append(entry)
            if i and not i & 15:  # (the first 16 right after the stage's own turn to give way)
                self._give_way()
                late_by = self._held - held_before + slow
            if late_by >= late_min:
                late[inode] = late_by
            last = pooled.last_dump
            if last is not None and inode not in dirty:
                sock = pooled.stats
                if sock is not None and not last.errors:  # the idle namespace of most ticks, inline
                    kept = pooled.last_stats
                    try:
                        if kept is not None and inode not in current and (changes_only or (
                                every and (pooled.turn + tick) % every
                                and sock.devices() == pooled.last_indexes)):
                            # nothing reported (a collect of the changes), or the same devices as its
                            # last read: its counters are read on its turn
                            behind[inode] = pooled.read_at
                            drafts_by_ns[inode] = last.drafts
                            stats_by_ns[inode] = kept
                            continue
                        stats = sock.dump()
                    except Exception:
                        stats = None
                    pooled.read_at = taken_at
                    if stats is not None and stats is kept:
                        idle += 1
                        drafts_by_ns[inode] = last.drafts
                        stats_by_ns[inode] = stats
                        continue
                    # moved counters: compared with the last dump's devices there; a failure: read again
                    stats = self._counters_only(pooled, last, errors, stats) if stats is not None else None
                else:
                    stats = self._counters_only(pooled, last, errors)
                    pooled.read_at = taken_at
                if stats is not None:  # the last dump stands: its drafts, with these counters
                    drafts_by_ns[inode] = last.drafts
                    stats_by_ns[inode] = stats
                    continue
            pooled.read_at = taken_at
            began = time.monotonic()
            drafts, stats, changed = self._read_namespace(pooled, errors, changes.kinds.get(inode),
                                                          changes.links.get(inode), changes.fdb.get(inode))
            if stats is None:  # dumped in full: its drafts carry their counters (and say it was dumped)
                self._prime_counters(pooled)
            took = time.monotonic() - began
            slow += took
            late_by += took
            drafts_by_ns[inode] = drafts
            if stats is not None:
                stats_by_ns[inode] = stats
            tun_changed = tun_changed or changed
        counts["idle"] += idle
        counts["counters"] += idle
        counts["counters_behind"] = len(behind)
        t = lap("netlink", t)
        if ahead is not None:  # the scan's answer, and the namespaces only a process's fd keeps alive
            pending = {e.inode for e in disc.namespaces[read_upto:]}
            scan, disc, shown = self._join_scan_ahead(ahead, disc, pending, errors, scan_errors_at,
                                                      unreadable, drafts_by_ns)
            t = lap("proc_joined", t)

        links = self._resolve(drafts_by_ns, stats_by_ns, unreadable, errors, changes.nsid_changed)
        nowhere = self._resolved.pointing_nowhere()
        if nowhere - self._far_unknown:  # a device points into a namespace discovery does not know
            self._discoverer.look_at_everyone()
        self._far_unknown = nowhere
        counts["resolve_reused"] = int(self._resolved.reused)
        # namespaces resolved again (-1: all), and links elsewhere resolved again for referring into them
        counts["resolve_patched"], counts["resolve_redone"] = self._resolved.patched
        t = lap("resolve", t)
        if tun_changed and not self._scanner_read_all() and not self._proc_stuck:
            before = len(errors)
            scan = self._scan(disc, True, errors)
            errors[before:] = [e for e in errors[before:] if e not in errors[:before]]  # say them once
            t = lap("rescan", t)
        links = self._attach(links, scan, errors)
        self._resolved.settle(links)
        t = lap("holders", t)

        namespaces = self._namespaces_of(shown, scan, pool.unreadable_why,
                                         disc.pids_complete and scan.complete)
        kernel = Snapshot(
            host=self._host,
            namespaces=namespaces,
            links=links,  # sorted by key: resolve_links sorts, and attaching holders keeps the order
            errors=tuple(errors),
            taken_at=taken_at,
            counters_behind={ns: at for ns, at in behind.items() if at is not None},
            counters_late=late,
        )
        t = time.perf_counter()
        snap = self._sources.enrich(kernel)
        timings["sources"] = (time.perf_counter() - t) * 1000
        counts["sources_read"] = len(self._sources.last_read)
        timings["total"] = (time.perf_counter() - t0 - self._held) * 1000
        timings["gave_way"] = self._held * 1000
        # The processor time of this collect alone (on a loaded host the wall time above also counts
        # the time other processes had the processor): what a refresh costs.
        timings["cpu"] = (time.thread_time() - cpu0) * 1000
        self.last_timings = timings
        counts["nsid_queries"] += pool.nsid_queries
        self.last_counts = counts
        self._last_collect = time.monotonic()
        return replace(snap, duration_ms=timings["total"])

    def _namespaces_of(self, shown: list[NsEntry], scan: ProcScan, unreadable: dict[int, str],
                       pids_complete: bool) -> tuple[Namespace, ...]:
        """The Namespace records, last tick's objects where nothing changed (fewer objects made, and the
        UI's equality checks stop at identity).

        On a tick where the very same discovery entries are shown, with equal processes, the same
        unreadable ones and completeness, the last tick's tuple itself comes back without a look at
        each namespace (measured at 200 namespaces, each tick after 0.2 s idle: 104 -> 14 us of a ~4 ms
        idle collect). The entries are compared by identity: discovery hands back the same ones
        while nothing it read differs."""
        kept = self._ns_last
        if (kept is not None and kept[3] == pids_complete and kept[2] == unreadable
                and (kept[1] is scan.processes or kept[1] == scan.processes)
                and len(kept[0]) == len(shown) and all(map(operator.is_, kept[0], shown))):
            return kept[4]
        out = self._namespaces_made(shown, scan, unreadable, pids_complete)
        self._ns_last = (shown, scan.processes, dict(unreadable), pids_complete, out)
        return out

    def _namespaces_made(self, shown: list[NsEntry], scan: ProcScan, unreadable: dict[int, str],
                         pids_complete: bool) -> tuple[Namespace, ...]:
        """`_namespaces_of` when something may differ: each namespace's record, the last one where
        what it is made of is the same."""
        last, now = self._namespaces, {}
        made_of = self._ns_made_of
        now_of: dict[int, tuple[NsEntry, tuple[Process, ...], str | None, bool]] = {}
        for e in shown:
            procs = scan.processes.get(e.inode, ())
            why = unreadable.get(e.inode)
            was = made_of.get(e.inode)
            old = last.get(e.inode)
            if (old is not None and was is not None and was[0] is e and (was[1] is procs or was[1] == procs)
                    and was[2] == why and was[3] == pids_complete):
                now[e.inode] = old
            else:
                ns = _namespace(e, tuple(procs), why, pids_complete)
                now[e.inode] = old if old == ns else ns
            now_of[e.inode] = (e, procs, why, pids_complete)
        self._namespaces, self._ns_made_of = now, now_of
        return tuple(now.values())

    def _counters_only(self, pooled: PooledNs, last: Any, errors: list[CollectError],
                       fetched: dict[int, Stats] | None = None) -> dict[int, Stats] | None:
        """The namespace's fresh counters by ifindex when its last dump still stands (no event came and the
        counters list the same devices), else None: it must be read again (a device came or went without
        an event reaching us, or the counters failed). Runs for every idle namespace on every tick; the
        very mapping of last time comes back while no counter moved (`counters.StatsSocket.dump`).
        `fetched`: the counters the caller already read for this tick (its inline path for the idle
        namespace took them, then found they moved), None: read them here."""
        if fetched is not None:
            stats = fetched
        else:
            try:
                stats = pooled.stats.dump() if pooled.stats is not None else dump_stats(pooled.ipr)
            except Exception:  # the dump that follows reports what is wrong, if anything still is
                return None
        if stats is pooled.last_stats:
            self._counts["idle"] += 1
        elif stats.keys() != pooled.last_indexes:
            return None
        self._counts["counters"] += 1
        if last.errors:
            errors.extend(last.errors)
        pooled.last_stats = stats
        return stats

    def _read_namespace(self, pooled: PooledNs, errors: list[CollectError],
                        kinds: frozenset[str] | None = None, links: frozenset[int] | None = None,
                        fdb: tuple[tuple[int, FdbFields], ...] | None = None
                        ) -> tuple[tuple[LinkDraft, ...], dict[int, Stats] | None, bool]:
        """This namespace read again: in full, or only its FDB when `kinds` (what its events reported) says
        that is all that changed (or not even that: the FDB notifications `fdb` applied to the last
        dump), or only the devices `links` named (`link_refresh`) in a big namespace where a few changed.

        Returns (drafts, their fresh counters by ifindex if counters were fetched beside a partial refresh
        (else the drafts carry their own), whether its set of tun/tap devices changed).
        """
        last = pooled.last_dump
        if kinds and last is not None and pooled.stats is not None:
            refreshed = (self._refresh_fdb(pooled, last, fdb) if kinds == FDB_ONLY
                         else self._refresh_links(pooled, last, kinds, links or frozenset()))
            if refreshed is not None:
                return refreshed
        from vnettop.collect.dump import dump_namespace

        self._counts["dumped"] += 1
        try:
            dump = dump_namespace(pooled.ipr, pooled.inode, pooled.stats)
        except Exception as exc:  # dump_namespace should not raise; be safe anyway
            errors.append(CollectError(f"netns {pooled.inode}", f"dump failed: {exc!r}"))
            pooled.last_dump = None
            return (), None, False
        errors.extend(dump.errors)
        # Keep the dump for reuse only if the link list came through (else try in full next time).
        pooled.last_dump = dump if dump.drafts else None
        pooled.last_indexes = frozenset(d.link.ifindex for d in dump.drafts)
        pooled.last_stats = None  # counters are compared with this dump's devices from now on
        before = _tun_keys(last.drafts) if last is not None else frozenset()
        return dump.drafts, None, _tun_keys(dump.drafts) != before

    def _prime_counters(self, pooled: PooledNs) -> None:
        """Right after a full dump of `pooled`'s namespace, in a collector that goes on: read its counters
        the way every later tick reads them, and keep them as the last ones read (nothing if one-shot, if
        it has no counters socket of its own, or if they cannot be read: the next tick reads them as ever).

        Why: the next tick compares each namespace's counters answer with the last one, byte for byte,
        and takes the namespace as idle when they are equal. Without an answer to compare with, the tick
        after a full dump parsed every namespace's counters as if they had all moved: 12 ms instead of
        4.5 at 200 namespaces, on the second tick of every session. The parse moves here, and one
        counters request per namespace dumped in full is added (~10 us; full dumps come with changes);
        a one-shot picture (`vnettop dump`) has no next tick.
        This tick's picture keeps the dump's own counters: a namespace without counters of its own in
        the resolve is one dumped this tick, which lets a veth pair dumped at both ends tell its far
        end's nsid without a question (`refs.ResolveCache.resolve`). With counters paced
        (`pace_counters`), a namespace off its turn on the next tick shows these, read on this tick, and
        says so (`Snapshot.counters_behind`, since this tick), as after any read of its counters.
        """
        sock, dump = pooled.stats, pooled.last_dump
        if self._one_shot or sock is None or dump is None or dump.errors:
            return
        try:
            stats = sock.dump()
        except Exception:  # the next tick reads them again, as ever
            return
        if stats.keys() == pooled.last_indexes:  # (else a device came or went since: the next tick tells)
            pooled.last_stats = stats

    def _refresh_fdb(self, pooled: PooledNs, last: Any, notes: tuple[tuple[int, FdbFields], ...] | None
                     ) -> tuple[tuple[LinkDraft, ...], dict[int, Stats], bool] | None:
        """The last dump with its FDB changed by the notifications `notes`, or read again when they cannot
        tell (None), and fresh counters; None: dump in full instead (the FDB dump failed, or the counters
        list other devices than the last dump: an event was missed)."""
        from vnettop.collect.fdb_refresh import apply_notes, refresh_fdb

        sock = pooled.stats
        assert sock is not None
        if notes is not None:
            applied = self._refreshed(pooled, last, "fdb_applied", lambda: apply_notes(last, notes))
            if applied is not None:
                self._counts["fdb_only"] += 1  # (the FDB alone was refreshed; `fdb_applied`: without reading)
                return applied
        return self._refreshed(pooled, last, "fdb_only", lambda: refresh_fdb(sock, pooled.inode, last))

    def _refresh_links(self, pooled: PooledNs, last: Any, kinds: frozenset[str], links: frozenset[int]
                       ) -> tuple[tuple[LinkDraft, ...], dict[int, Stats], bool] | None:
        """The last dump with the devices `links` read again (see `link_refresh`), and fresh counters;
        None: dump in full instead."""
        from vnettop.collect.link_refresh import refresh_links

        sock = pooled.stats
        assert sock is not None
        return self._refreshed(pooled, last, "links_only",
                               lambda: refresh_links(sock, pooled.inode, last, links, kinds))

    def _refreshed(self, pooled: PooledNs, last: Any, counted: str, refresh: Callable[[], Any]
                   ) -> tuple[tuple[LinkDraft, ...], dict[int, Stats], bool] | None:
        """Run a partial refresh of `pooled`'s namespace, then its counters; None (dump in full) if the
        refresh declined or failed, or if the counters list other devices than its result (a missed
        notification: the full dump tells)."""
        sock = pooled.stats
        assert sock is not None
        try:
            dump = refresh()
            if dump is None:
                return None
            stats = sock.dump()
        except Exception:
            return None
        indexes = frozenset(d.link.ifindex for d in dump.drafts)
        if stats.keys() != indexes:
            return None
        self._counts[counted] += 1
        pooled.last_dump, pooled.last_stats, pooled.last_indexes = dump, stats, indexes
        return dump.drafts, stats, _tun_keys(dump.drafts) != _tun_keys(last.drafts)

    def _resolve(self, drafts_by_ns: dict[int, tuple[LinkDraft, ...]],
                 stats_by_ns: dict[int, dict[int, Stats]], unreadable: dict[int, str],
                 errors: list[CollectError], renumbered: Collection[int] = ()) -> tuple[Link, ...]:
        pool = self._pool
        assert pool is not None
        failures = pool.nsid_failures
        try:
            links, errs = self._resolved.resolve(drafts_by_ns, stats_by_ns, pool.nsid_of, unreadable,
                                                 pool.nsid_targets, renumbered)
        except Exception as exc:
            pool.release_fds()
            self._resolved.invalidate()
            errors.append(CollectError("collector", f"cannot resolve cross-namespace references: {exc!r}"))
            return tuple(sorted((d.link for drafts in drafts_by_ns.values() for d in drafts),
                                key=lambda link: link.key))
        pool.release_fds()
        if pool.nsid_failures != failures:  # unanswered questions are asked again: so must the resolve be
            self._resolved.invalidate()
        errors.extend(errs)
        return links

    def _scanner_read_all(self) -> bool:
        """Whether the last scan read every process's fds (the first one does): no rescan needed."""
        if self._scanner is None:
            return self._ahead_read_all
        return bool(self._scanner.last_read_all)

    def _take_ahead(self) -> ScanAhead | None:
        """The child the caller forked ahead, for the first collect only (None: all of it in-process)."""
        ahead, self._ahead = self._ahead, None
        return ahead

    def _join_scan_ahead(self, ahead: ScanAhead, disc: Discovery, pending: set[int],
                         errors: list[CollectError], errors_at: int, unreadable: dict[int, str],
                         drafts_by_ns: dict[int, tuple[LinkDraft, ...]]
                         ) -> tuple[ProcScan, Discovery, list[NsEntry]]:
        """After this process read its share of the namespaces: the child's scan (or an in-process one
        if it gave none), its errors where an in-process scan would have put them, the namespaces the
        child read, and every namespace neither read (the child's that it did not deliver, those only a
        process's fd keeps alive) opened if need be and read now. Returns the scan, the discovery with
        the held fds, and the namespaces shown, in discovery order. `pending`: the namespaces this
        process left to the child (the loop said nothing about them yet)."""
        scan: ProcScan | None
        scan, dumps = ahead.result()
        scan_errors: list[CollectError] = []
        if scan is None and ahead.timed_out:
            # The child's /proc reads did not end in time (a process whose files block, as one stuck in
            # the kernel can make them): the same reads here would block too, this time without a bound.
            # The processes and the tun/tap holders are unknown instead (an incomplete scan).
            from vnettop.collect.scan_ahead import CHILD_TIMEOUT

            scan_errors.append(CollectError("proc", f"the /proc scan did not finish in {CHILD_TIMEOUT:.0f} s "
                                            "(in a forked child; not tried again): processes, tun/tap "
                                            "holders and namespaces held only by an fd are unknown"))
            scan = ProcScan((), {}, (), complete=False)
            self._proc_stuck = True
        elif scan is None:
            scan = self._scan(disc, False, scan_errors)
        else:
            self._ahead_read_all = True
            self._counts["scan_ahead"] = 1  # (the forked scan answered)
            scan_errors.extend(scan.errors)
        errors[errors_at:errors_at] = scan_errors
        pool = self._pool
        assert pool is not None  # (made before the namespaces are read)
        known = {e.inode for e in disc.namespaces}
        disc = self._kept(self._with_held(disc, scan.ns_fds))
        if any(e.inode not in known for e in disc.namespaces):  # only an fd keeps them: open them now
            try:
                _opened, more, errs = pool.sync(disc)
            except Exception as exc:
                more, errs = {}, [CollectError("netlink", f"cannot open namespace sockets: {exc!r}")]
            errors.extend(errs)
            for inode, why in more.items():
                unreadable.setdefault(inode, why)
        for entry in disc.namespaces:
            inode = entry.inode
            if inode in drafts_by_ns:
                continue
            if inode in unreadable:  # (this process could not enter it: unknown, whatever the child read)
                if inode in pending or inode not in known:  # (the loop said the others')
                    errors.append(CollectError(f"netns {inode}", f"{_label(entry)}: {unreadable[inode]}"))
            elif inode in dumps and inode in pool.entries:  # (else gone before this process opened it)
                dump = dumps[inode]
                errors.extend(dump.errors)
                drafts_by_ns[inode] = dump.drafts
                self._counts["dumped"] += 1
                self._counts["dumped_ahead"] += 1
            elif (pooled := pool.entries.get(inode)) is not None:
                drafts_by_ns[inode] = self._read_namespace(pooled, errors)[0]
        shown = [e for e in disc.namespaces if e.inode in drafts_by_ns or e.inode in unreadable]
        return scan, disc, shown

    def _scan(self, disc: Discovery, full: bool, errors: list[CollectError]) -> ProcScan:
        try:
            if self._scanner is None:
                from vnettop.collect.processes import ProcScanner

                self._scanner = ProcScanner(self.proc_root)
            everyone = self._scan_everyone or self._discoverer.looked_all
            scan: ProcScan = self._scanner.scan(disc, full=full, everyone=everyone)
            self._scan_everyone = False
            self._discoverer.settle(self._scanner.kernel_pids)
        except Exception as exc:
            errors.append(CollectError("proc", f"cannot scan processes: {exc!r}"))
            return ProcScan((), {}, (), complete=False)
        errors.extend(scan.errors)
        return scan

    def _attach(self, links: tuple[Link, ...], scan: ProcScan,
                errors: list[CollectError]) -> tuple[Link, ...]:
        """`links` with their tun/tap holders from `scan`.

        When the resolve reused the last answer (the last links as shown, holders attached, at most with
        new counters) and the scan says what it said then about tun fds, vhost fds and the processes,
        the holders are what they were: the links come back as they are, without a walk over every
        device (~1.2 ms a tick at 1000 namespaces)."""
        from vnettop.collect.holders import attach_holders

        facts = (scan.tun_fds, scan.vhost_fds, scan.complete, scan.processes)
        memo = self._attached
        if memo is not None and self._resolved.reused and _same_facts(memo[0], facts):
            errors.extend(memo[1])
            return links
        try:
            out, errs = attach_holders(links, scan)
        except Exception as exc:
            self._attached = None
            errors.append(CollectError("proc", f"cannot attach tun/tap holders: {exc!r}"))
            return links
        self._attached = (facts, errs)
        errors.extend(errs)
        return out
