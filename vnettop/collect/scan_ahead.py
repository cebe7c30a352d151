"""A one-shot collect shared with a forked child: the /proc scan, then namespaces from the far end.

Why: `vnettop dump` collects once and exits, and nearly all of it is Python holding the interpreter lock
(importing, parsing ~5000 devices' messages at 1000 namespaces, the /proc scan): threads cannot overlap
that (measured: a helper thread made the collect slower), a second process on the other processor can.
A one-shot command forks the child once the collector is imported (the child then has it too), before
anything else. The child
  1. discovers the namespaces (this process takes that discovery: both count the namespaces alike);
  2. reads namespaces from the last, a few at a time, through sockets of its own, while this process
     is still importing the sources and opening every namespace (it needs a socket in each for the
     resolve's nsid questions anyway);
  3. scans /proc as the collector would (psutil's import, every process's fd links, the namespaces'
     socket tables: ~20-35 ms at 200 namespaces, ~60 at 1000) once this process starts reading
     namespaces from the first;
  4. then reads on from where it stopped, until the two meet.
Who reads which is settled on a shared page: this process writes how far it got before each namespace,
the child where its claims begin before each batch; each stops at the other's mark. Both may read the
same namespace at the meeting point (this process keeps its own reading), and whatever the child did not
deliver, for any reason, this process reads after it: no namespace can be lost to a race or to a child
that died. Should the child die before its discovery, this process discovers itself: the marks then only
misplace the meeting point, since the child's answers are taken by namespace inode, for the namespaces
this process discovered.
Its answers go to an anonymous file (memfd), one pickled record each as it goes (a pipe would fill and
stop it): the discovery (a byte on a pipe says it is there), then a record per batch and the scan's,
read back once it has exited; the model's records pickle as constructor calls
(`model.pickled_by_constructor`: loading 5026 devices takes ~27 ms, against ~250 ms to parse them).

When: only when the caller asks (the CLI's one-shot commands hand it to `LiveCollector(ahead=...)`),
more than one processor may run this process, and no other thread is alive: a fork copies one thread,
and a lock another thread held at that moment would stay held in the child.
Whatever goes wrong in the child (it cannot be made, it dies, it hangs, it answers nonsense) costs only
time: the collector scans in-process and reads every namespace the child did not deliver.

The child only reads (the same dumps and /proc files as the collector) and writes nothing but its
answers; it leaves with os._exit (no atexit handler, no flush of buffers it inherited). A dump made
from its socket in a namespace numbers that namespace's peers exactly as one from ours would (see the
collector's docstring on nsids).
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vnettop.collect.decode import NamespaceDump
    from vnettop.collect.types import Discovery, ProcScan

#: Threads alive when a fork is still safe: the caller's only.
SAFE_THREADS = 1
#: Namespaces the child claims at a time: few, since this process may wait for the last batch.
BATCH = 8
#: The longest the child may take (the scan of a host whose /proc hangs): then it is killed and this
#: process does the work itself.
CHILD_TIMEOUT = 60.0

_U32 = struct.Struct("=I")
_LEN = struct.Struct("=Q")
#: The child's mark before it claims anything.
_NONE_CLAIMED = 0xFFFFFFFF
#: Offsets in the shared page: the next namespace this process reads, where the child's claims begin.
_PARENT_NEXT, _CHILD_FROM = 0, 4


def worth_forking() -> bool:
    """Whether a child can overlap anything here, and a fork is safe (see the module docstring)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except OSError:
        usable = os.cpu_count() or 1
    return usable > 1 and threading.active_count() <= SAFE_THREADS


class ScanAhead:
    """The child at work; `claim(i)` before reading namespace i, `result()` once done with them."""

    def __init__(self, pid: int, answers_fd: int, board: mmap.mmap, ready_fd: int) -> None:
        self._pid = pid
        self._answers_fd = answers_fd
        self._board = board
        self._ready_fd = ready_fd  # readable (a byte, or the end) once the discovery is written
        self._done = False

    @classmethod
    def start(cls, proc_root: str = "/proc", run_root: str = "/run", share: bool = True) -> ScanAhead | None:
        """Fork a child that discovers the namespaces and scans /proc as the collector would, then (with
        `share`) reads namespaces from the last; None if no child could be made."""
        try:
            answers_fd = os.memfd_create("vnettop-scan-ahead", os.MFD_CLOEXEC)
        except OSError:
            return None
        try:
            ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            os.close(answers_fd)
            return None
        board = mmap.mmap(-1, 8)  # shared (MAP_SHARED | MAP_ANONYMOUS): both sides see each write
        _U32.pack_into(board, _CHILD_FROM, _NONE_CLAIMED)
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (answers_fd, ready_r, ready_w):
                os.close(fd)
            board.close()
            return None
        if pid == 0:  # the child: never returns
            os.close(ready_r)
            _child(answers_fd, board, proc_root, run_root, share, parent, ready_w)
        os.close(ready_w)
        return cls(pid, answers_fd, board, ready_r)

    def discovery(self) -> Discovery | None:
        """The namespaces the child discovered (what this process would find itself a few ms later), once
        it has; None if it died first or sent something else (discover here then)."""
        if self._done or self._ready_fd < 0:
            return None
        try:
            poll = select.poll()
            poll.register(self._ready_fd, select.POLLIN)
            told = bool(poll.poll(int(CHILD_TIMEOUT * 1000))) and os.read(self._ready_fd, 1) == b"d"
        except OSError:
            told = False
        os.close(self._ready_fd)
        self._ready_fd = -1
        first = _records(self._answers_fd, 1) if told else []
        from vnettop.collect.types import Discovery

        return first[0] if first and isinstance(first[0], Discovery) else None

    def claim(self, index: int) -> bool:
        """This process is about to read namespace `index` (in discovery order): False if the child
        has claimed it (it and every later one are the child's; stop there)."""
        _U32.pack_into(self._board, _PARENT_NEXT, index + 1)
        return index < _U32.unpack_from(self._board, _CHILD_FROM)[0]

    def result(self) -> tuple[ProcScan | None, dict[int, NamespaceDump]]:
        """Stop the child's claims, wait for it, and take its answers: the scan (None: it gave none,
        scan in-process) and the namespaces it read, by inode."""
        if self._done:
            return None, {}
        self._done = True
        _U32.pack_into(self._board, _PARENT_NEXT, _NONE_CLAIMED)
        records = _records(self._answers_fd) if _wait(self._pid, CHILD_TIMEOUT) else []
        self._close()
        from vnettop.collect.decode import NamespaceDump
        from vnettop.collect.types import ProcScan

        # (records: the discovery, then the namespaces read, a batch each, with the scan among them)
        scan = next((r for r in records[1:] if isinstance(r, ProcScan)), None)
        dumps: dict[int, NamespaceDump] = {}
        for record in records[1:]:
            if isinstance(record, dict) and all(isinstance(v, NamespaceDump) for v in record.values()):
                dumps.update(record)
        return scan, dumps

    def cancel(self) -> None:
        """Stop and reap the child if its answers were not taken (the command failed before collecting)."""
        if not self._done:
            self._done = True
            try:
                os.kill(self._pid, signal.SIGKILL)
            except OSError:
                pass
            _wait(self._pid, CHILD_TIMEOUT)
            self._close()

    def _close(self) -> None:
        os.close(self._answers_fd)
        if self._ready_fd >= 0:
            os.close(self._ready_fd)
            self._ready_fd = -1
        self._board.close()


def _wait(pid: int, timeout: float) -> bool:
    """Wait for the child to exit; kill it after `timeout` s. True if it exited by itself."""
    exited = True
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    if pidfd is not None:
        try:
            poll = select.poll()
            poll.register(pidfd, select.POLLIN)
            if not poll.poll(int(timeout * 1000)):
                exited = False
                os.kill(pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return exited


def _records(fd: int, most: int | None = None) -> list[Any]:
    """The whole records the child wrote, the first `most` of them if given (a cut last one, if it was
    killed mid-write, is left out)."""
    import pickle

    out: list[Any] = []
    try:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
    except OSError:
        return out
    pos = 0
    while pos + _LEN.size <= len(data):
        (size,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if pos + size > len(data):
            break
        try:
            out.append(pickle.loads(data[pos:pos + size]))
        except Exception:  # not what the child meant to write: nothing after it can be trusted
            break
        pos += size
        if most is not None and len(out) >= most:
            break
    return out


def _write(fd: int, record: object) -> None:
    import pickle

    data = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _child(fd: int, board: mmap.mmap, proc_root: str, run_root: str, share: bool, parent: int,
           ready: int) -> None:
    """Discover (and say so on `ready`); read namespaces from the far end while the parent is still
    importing and opening; scan /proc; read on until the two meet. Each answer is written as it is ready."""
    status = 1
    try:
        from vnettop.collect.namespaces import Discoverer

        discoverer = Discoverer(proc_root, run_root)
        disc = discoverer.discover()
        _write(fd, disc)
        os.write(ready, b"d")
        os.close(ready)
        reader = None
        if share:
            reader = _FromTheEnd(disc, proc_root, run_root, board, lambda dumps: _write(fd, dumps))
            # (until the parent claims its first: it is still importing and opening, all is ours)
            reader.run(until=lambda: _U32.unpack_from(board, _PARENT_NEXT)[0] > 0)
        scan: ProcScan | None = None
        try:
            from dataclasses import replace

            from vnettop.collect.processes import ProcScanner

            # The parent's namespace fds are vnettop's own (its sockets pin every namespace it reads), as
            # an in-process scan's own are; this child, a part of the parent, is not scanned at all (it
            # holds what the parent held when it forked, its sockets of the moment, and nothing else).
            me = os.getpid()
            mine = replace(disc, pid_netns={p: n for p, n in disc.pid_netns.items() if p != me},
                           pids=None if disc.pids is None else disc.pids - {me})
            scan = ProcScanner(proc_root, self_pid=parent).scan(mine, full=False,
                                                                everyone=discoverer.looked_all)
        except Exception:
            pass  # the parent scans itself
        if scan is not None:
            _write(fd, scan)
        if reader is not None:
            reader.run()
            reader.close()
        status = 0
    except BaseException:  # the parent reads what is missing itself; nothing to tell here
        pass
    finally:
        os._exit(status)


class _FromTheEnd:
    """The child's reading: namespaces of `disc` claimed from the last, BATCH at a time, each read through
    a socket of its own, until the parent's mark is reached."""

    def __init__(self, disc: Discovery, proc_root: str, run_root: str, board: mmap.mmap,
                 send: Callable[[dict[int, NamespaceDump]], None]) -> None:
        from vnettop.collect.events import EventHub
        from vnettop.collect.nspool import NsPool

        self._disc = disc
        self._board = board
        self._send = send
        self._end = len(disc.namespaces)  # the first namespace claimed so far
        self._pool = NsPool(EventHub(run_root, watch_dirs=False), proc_root, events=False)

    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Read batches until the parent's mark, or until `until()` says stop (asked between batches)."""
        from dataclasses import replace

        from vnettop.collect.dump import dump_namespace

        entries, pool = self._disc.namespaces, self._pool
        while not until():
            start = max(self._end - BATCH, _U32.unpack_from(self._board, _PARENT_NEXT)[0])
            if start >= self._end:
                return
            _U32.pack_into(self._board, _CHILD_FROM, start)
            batch = entries[start:self._end]
            pool.sync(replace(self._disc, namespaces=batch))  # (and the last batch's sockets closed)
            dumps: dict[int, NamespaceDump] = {}
            for entry in batch:
                pooled = pool.entries.get(entry.inode)
                if pooled is not None:  # (one we cannot enter: the parent says why)
                    dumps[entry.inode] = dump_namespace(pooled.ipr, pooled.inode, pooled.stats)
            self._send(dumps)
            self._end = start

    def close(self) -> None:
        self._pool.close()
