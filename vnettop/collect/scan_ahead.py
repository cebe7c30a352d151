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

import math
import mmap
import os
import select
import signal
import struct
import threading
import time
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
#: How long a killed child may take to end before it is left to init (see `ScanAhead._finish`).
KILL_GRACE = 2.0

_U32 = struct.Struct("=I")
_LEN = struct.Struct("=Q")
#: The child's mark before it claims anything.
_NONE_CLAIMED = 0xFFFFFFFF
#: Offsets in the shared page: the next namespace this process reads, where the child's claims begin.
_PARENT_NEXT, _CHILD_FROM = 0, 4


def worth_forking() -> bool:
    """Whether a child can overlap anything here, and a fork is safe (see the module docstring)."""
    if not hasattr(os, "memfd_create"):  # (a Python built against a C library before glibc 2.27)
        return False
    try:
        usable = len(os.sched_getaffinity(0))
    except OSError:
        usable = os.cpu_count() or 1
    return usable > 1 and threading.active_count() <= SAFE_THREADS


class ScanAhead:
    """The child at work; `claim(i)` before reading namespace i, `result()` once done with them."""

    def __init__(self, pid: int, answers_fd: int, board: mmap.mmap, ready_fd: int, pidfd: int | None) -> None:
        self._pid = pid
        #: Signals go through it (never to a pid that someone else reaped and the kernel gave away
        #: again); None where the kernel has no pidfd_open (before 5.3): then by pid.
        self._pidfd = pidfd
        self._answers_fd = answers_fd
        self._board = board
        #: A byte once the discovery is written; its end once the child has exited (the child never
        #: closes its end itself).
        self._ready_fd = ready_fd
        self._asked = False  # the discovery was asked for
        #: CHILD_TIMEOUT from the start, for the discovery and the answers together.
        self._deadline = time.monotonic() + CHILD_TIMEOUT
        self._done = False  # answers taken or cancelled: the child killed if need be, reaped, fds closed
        #: `result()` found the child still at work at the deadline, its scan not written: its reads of
        #: /proc (what a scan here would do) did not end in CHILD_TIMEOUT; the caller should not try again.
        self.timed_out = False

    @classmethod
    def start(cls, proc_root: str = "/proc", run_root: str = "/run", share: bool = True) -> ScanAhead | None:
        """Fork a child that discovers the namespaces and scans /proc as the collector would, then (with
        `share`) reads namespaces from the last; None if no child could be made."""
        try:
            answers_fd = os.memfd_create("vnettop-scan-ahead", os.MFD_CLOEXEC)
        except (OSError, AttributeError):  # (AttributeError: no memfd_create in this Python)
            return None
        try:
            ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            os.close(answers_fd)
            return None
        try:
            board = mmap.mmap(-1, 8)  # shared (MAP_SHARED | MAP_ANONYMOUS): both sides see each write
        except OSError:
            for fd in (answers_fd, ready_r, ready_w):
                os.close(fd)
            return None
        _U32.pack_into(board, _CHILD_FROM, _NONE_CLAIMED)
        parent = os.getpid()
        # SIGINT is held back across the fork: in the child, one landing before the child set its own
        # handling would raise KeyboardInterrupt there, and the child would unwind as a second vnettop.
        # (One held meanwhile is the parent's alone: a child starts with no signal pending.)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for fd in (answers_fd, ready_r, ready_w):
                os.close(fd)
            board.close()
            return None
        if pid == 0:  # the child: never returns
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # (Ctrl+C reaches both: the child just ends)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                os.close(ready_r)
                _child(answers_fd, board, proc_root, run_root, share, parent, ready_w)
            finally:
                os._exit(1)
        os.close(ready_w)
        pidfd: int | None = None
        if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):  # (Linux 5.3, and headers)
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                pass
        started = cls(pid, answers_fd, board, ready_r, pidfd)
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # (a SIGINT held meanwhile raises here)
        except BaseException:
            started.cancel()  # (the caller never gets it to cancel)
            raise
        return started

    def discovery(self) -> Discovery | None:
        """The namespaces the child discovered (what this process would find itself a few ms later), once
        it has; None if it died first or sent something else (discover here then)."""
        if self._done or self._asked:
            return None
        self._asked = True
        try:
            poll = select.poll()
            poll.register(self._ready_fd, select.POLLIN)
            left = max(0.0, self._deadline - time.monotonic())
            told = bool(poll.poll(math.ceil(left * 1000))) and os.read(self._ready_fd, 1) == b"d"
        except OSError:
            told = False
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
        scan in-process, unless `timed_out`) and the namespaces it read, by inode. Whatever ends the
        wait (the child, the timeout, Ctrl+C), the child is killed if need be and reaped before this
        returns or raises."""
        if self._done:
            return None, {}
        _U32.pack_into(self._board, _PARENT_NEXT, _NONE_CLAIMED)
        ended = stopped = killed = False
        records: list[Any] = []
        try:
            ended = stopped = _ended(self._ready_fd, self._deadline - time.monotonic())
            if not ended:  # at the deadline: what it wrote whole before it was killed still counts
                self._kill()  # (its scan comes before the namespaces it reads on)
                killed = True
                stopped = _ended(self._ready_fd, KILL_GRACE)
            if stopped:
                records = _records(self._answers_fd)
        finally:
            self._finish(kill=not stopped, grace=0.0 if killed else KILL_GRACE)
        from vnettop.collect.decode import NamespaceDump
        from vnettop.collect.types import ProcScan

        # (records: the discovery, then the namespaces read, a batch each, with the scan among them)
        scan = next((r for r in records[1:] if isinstance(r, ProcScan)), None)
        self.timed_out = scan is None and not ended
        dumps: dict[int, NamespaceDump] = {}
        for record in records[1:]:
            if isinstance(record, dict) and all(isinstance(v, NamespaceDump) for v in record.values()):
                dumps.update(record)
        return scan, dumps

    def cancel(self) -> None:
        """Stop and reap the child if its answers were not taken (the command failed before collecting)."""
        self._finish(kill=True)

    def _finish(self, kill: bool, grace: float = KILL_GRACE) -> None:
        """Kill the child if `kill`, reap it and close every fd; once. A child that even SIGKILL does not
        end within `grace` (stuck in the kernel) is left unreaped rather than waited for: this is a
        one-shot command, and once it exits the child is init's to reap."""
        if self._done:
            return
        self._done = True
        try:
            if kill:
                self._kill()
                if not _ended(self._ready_fd, grace):
                    os.waitpid(self._pid, os.WNOHANG)
                    return
            os.waitpid(self._pid, 0)  # (it has ended: its end of the pipe closed as it exited)
        except ChildProcessError:
            pass
        finally:
            self._close()

    def _kill(self) -> None:
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                os.kill(self._pid, signal.SIGKILL)
        except OSError:
            pass  # (it has ended already)

    def _close(self) -> None:
        for fd in (self._answers_fd, self._ready_fd, self._pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._board.close()


def _ended(fd: int, timeout: float) -> bool:
    """Whether the child's end of the pipe `fd` closed (it exited: it never closes it itself) within
    `timeout` seconds. A byte still unread on the way (the discovery's, if nobody asked) is read past.
    A pipe rather than a pidfd: it tells the same on every kernel (pidfd_open came with 5.3)."""
    deadline = time.monotonic() + timeout
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    while True:  # (once at least, even past the deadline: a child that has ended by then has ended)
        left = max(0.0, deadline - time.monotonic())
        try:
            if not poll.poll(math.ceil(left * 1000)):
                return False
            if not os.read(fd, 64):
                return True
        except OSError:
            return False


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
        _detach(parent, keep=(fd, ready))
        from vnettop.collect.namespaces import Discoverer

        discoverer = Discoverer(proc_root, run_root)
        disc = without_pid(discoverer.discover(), os.getpid(), proc_root)
        _write(fd, disc)
        os.write(ready, b"d")  # (and `ready` stays open: its end tells the parent this child exited)
        reader = None
        if share:
            reader = _FromTheEnd(disc, proc_root, run_root, board, lambda dumps: _write(fd, dumps))
            # (until the parent claims its first: it is still importing and opening, all is ours)
            reader.run(until=lambda: _U32.unpack_from(board, _PARENT_NEXT)[0] > 0)
        scan: ProcScan | None = None
        try:
            from vnettop.collect.processes import ProcScanner

            # The parent's namespace fds are vnettop's own (its sockets pin every namespace it reads), as
            # an in-process scan's own are; this child, a part of the parent, is not in `disc` at all (it
            # holds what the parent held when it forked, its sockets of the moment, and nothing else).
            scanner = ProcScanner(proc_root, self_pid=parent)
            scan = scanner.scan(disc, full=False, everyone=discoverer.looked_all)
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


def _detach(parent: int, keep: tuple[int, ...]) -> None:
    """Keep the child from outliving its parent or holding what the parent's readers wait on: the kernel
    kills it when the parent's thread that forked it ends (the main thread, the only one then: see
    `worth_forking`), it leaves at once if the parent is gone already, and its standard streams are
    /dev/null (an orphan holding the parent's stdout would keep `vnettop dump | jq` or `$(vnettop dump)`
    waiting for an end of file). `keep`: the child's own fds, which are among 0-2 when vnettop was
    started with a standard stream closed."""
    from vnettop.linux.libc import die_with_parent

    try:
        die_with_parent(signal.SIGKILL)
    except OSError:
        pass  # (the parent's timeouts still bound it)
    if os.getppid() != parent:
        os._exit(1)
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        if std not in keep:
            os.dup2(null, std)
    os.close(null)


def without_pid(disc: Discovery, pid: int, proc_root: str = "/proc") -> Discovery:
    """`disc` as if process `pid` did not exist. The child's discovery lists the child itself, and the
    parent takes that discovery as its own: an in-process one has no such helper, which would otherwise
    show as a process of the root namespace that is gone by the time anyone looks."""
    if pid not in disc.pid_netns and (disc.pids is None or pid not in disc.pids):
        return disc
    from dataclasses import replace

    own_path = f"{proc_root}/{pid}/ns/net"
    entries = []
    for entry in disc.namespaces:
        if pid in entry.pids:
            pids = tuple(p for p in entry.pids if p != pid)
            path = f"{proc_root}/{min(pids)}/ns/net" if entry.path == own_path and pids else entry.path
            entry = replace(entry, pids=pids, path=path)
        entries.append(entry)
    return replace(disc, namespaces=tuple(entries),
                   pid_netns={p: n for p, n in disc.pid_netns.items() if p != pid},
                   pids=None if disc.pids is None else disc.pids - {pid})


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
                if pooled is None:  # (one we cannot enter: the parent says why)
                    continue
                try:
                    dumps[entry.inode] = dump_namespace(pooled.ipr, pooled.inode, pooled.stats)
                except Exception:  # (never expected: the parent reads it, and says what went wrong)
                    continue
            self._send(dumps)
            self._end = start

    def close(self) -> None:
        self._pool.close()
