"""The /proc scan of a one-shot collect, run in a forked child while this process reads the namespaces.

Why: `vnettop dump` collects once and exits. Its /proc scan (psutil's import, every process's fd links,
the namespaces' socket tables) is ~35 ms of a 200-namespace dump and ~60 ms at 1000, and it needs
nothing the namespaces' netlink answers give, nor they it, except the few namespaces that only a
process's fd keeps alive (the collector reads those after the scan's answer). Threads cannot overlap the
two: both are Python holding the interpreter lock (measured: a helper thread made the collect slower).
A child made by fork() runs the scan on another processor and sends its answer back pickled (a few ms
either side for a host's worth of processes).

When: only when the caller asks (`LiveCollector(..., scan_ahead=True)`, the CLI's one-shot commands),
more than one processor may run this process, and no thread but the caller's and the collecting one is
alive: a fork copies one thread, and a lock another thread held at that moment stays held in the child.
Whatever goes wrong in the child (it cannot be made, it dies, it answers nonsense) costs only time: the
collector scans in-process then, as it does without this.

The child reads what the in-process scan reads and writes nothing but its answer to the pipe; it leaves
with os._exit (no atexit handler, no flush of buffers it inherited).
"""

from __future__ import annotations

import fcntl
import os
import pickle
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vnettop.collect.namespaces import Discovery
    from vnettop.collect.types import ProcScan

#: The pipe is grown to this (Linux's F_SETPIPE_SZ): a host's scan (~100-300 KB pickled) then fits at
#: once, and the child is gone before the parent reads.
PIPE_SIZE = 1 << 20
#: Threads alive when a fork is still safe: the caller's (waiting) and the collector's worker.
SAFE_THREADS = 2


def worth_forking() -> bool:
    """Whether a scan ahead can overlap anything here, and a fork is safe (see the module docstring)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except OSError:
        usable = os.cpu_count() or 1
    return usable > 1 and threading.active_count() <= SAFE_THREADS


class ScanAhead:
    """One /proc scan running in a child process; `result()` waits for its answer (None: scan here)."""

    def __init__(self, pid: int, read_fd: int) -> None:
        self._pid = pid
        self._read_fd = read_fd

    @classmethod
    def start(cls, disc: Discovery, proc_root: str, everyone: bool) -> ScanAhead | None:
        """Fork a child that scans /proc for `disc` as `ProcScanner.scan` does; None if none could start."""
        try:
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means the child waits for the parent's read
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return None
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(write_fd, disc, proc_root, everyone, parent)
        os.close(write_fd)
        return cls(pid, read_fd)

    def result(self) -> ProcScan | None:
        """The child's scan, or None if it gave none (the caller then scans in-process)."""
        chunks = []
        try:
            while chunk := os.read(self._read_fd, PIPE_SIZE):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            os.close(self._read_fd)
            try:
                os.waitpid(self._pid, 0)
            except ChildProcessError:
                pass
        if not chunks:
            return None
        try:
            answer = pickle.loads(b"".join(chunks))
        except Exception:  # cut short (the child was killed mid-write): scan here
            return None
        from vnettop.collect.types import ProcScan

        return answer if isinstance(answer, ProcScan) else None


def _child(write_fd: int, disc: Discovery, proc_root: str, everyone: bool, parent: int) -> None:
    """Scan, write the pickled answer, exit; any failure exits with nothing written."""
    status = 1
    try:
        from vnettop.collect.processes import ProcScanner

        # The parent's namespace fds are vnettop's own (its sockets pin every namespace it reads), as
        # this process's are for an in-process scan; this child is in no listing the scan reads.
        scanner = ProcScanner(proc_root, self_pid=parent)
        data = pickle.dumps(scanner.scan(disc, full=False, everyone=everyone), pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        status = 0
    except BaseException:  # the parent scans itself on any failure; nothing to tell here
        pass
    finally:
        os._exit(status)
