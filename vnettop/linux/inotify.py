"""inotify(7) for the sources' "tell me when your files changed" fd (`Source.fileno`).

Python 3.11 has no inotify binding; three libc calls through the one loader (`vnettop.linux.libc`) are
enough. A `DirWatch` watches a few directories for entries created, deleted, moved or written; the live
loop polls its fd, and the source calls `drain()` when it re-reads, so an idle host costs one `select`
per tick and no file is opened. A directory that does not exist yet (a runtime not started) is retried
by `ensure()` at each read, so a daemon started after vnettop is still followed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable

from vnettop.linux.libc import libc

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

#: What "the directory's entries changed" means for a runtime's state directory.
CHANGES = (IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
           | IN_MOVE_SELF | IN_ONLYDIR)


class DirWatch:
    """An inotify fd over some directories (see the module docstring). Never raises on a missing
    directory or an exhausted watch limit: `watching` says which are followed; a caller with none
    followed falls back to its period."""

    def __init__(self, dirs: Iterable[str], mask: int = CHANGES) -> None:
        self.dirs = tuple(dirs)
        self.mask = mask
        self.watching: dict[str, int] = {}
        self._fd: int | None = None
        lib = libc()
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd >= 0:
            self._fd = fd
            self.ensure()

    def fileno(self) -> int | None:
        """The fd (readable when something changed), or None when inotify is not available."""
        return self._fd if self.watching else None

    def ensure(self) -> None:
        """Add a watch on every directory that exists now and is not watched yet (cheap when all are)."""
        if self._fd is None or len(self.watching) == len(self.dirs):
            return
        lib = libc()
        for path in self.dirs:
            if path in self.watching or not os.path.isdir(path):
                continue
            wd = lib.inotify_add_watch(ctypes.c_int(self._fd), ctypes.c_char_p(os.fsencode(path)),
                                       ctypes.c_uint32(self.mask))
            if wd >= 0:
                self.watching[path] = wd

    def drain(self) -> bool:
        """Read every pending event; whether there was any. A watched directory removed or moved away
        is forgotten, so `ensure` adds it again when it comes back."""
        if self._fd is None:
            return False
        seen = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not data:
                break
            seen = True
            self._forget_gone(data)
        self.ensure()
        return seen

    def _forget_gone(self, data: bytes) -> None:
        offset = 0
        by_wd = {wd: path for path, wd in self.watching.items()}
        while offset + 16 <= len(data):
            wd = int.from_bytes(data[offset:offset + 4], sys.byteorder, signed=True)
            mask = int.from_bytes(data[offset + 4:offset + 8], sys.byteorder)
            length = int.from_bytes(data[offset + 12:offset + 16], sys.byteorder)
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF | 0x8000) and wd in by_wd:  # 0x8000: IN_IGNORED
                self.watching.pop(by_wd[wd], None)
            offset += 16 + length

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.watching.clear()


class LazyDirWatch:
    """A `DirWatch` made at the first `fileno()` over the directories `dirs()` names then (a source never
    asked holds no fd), re-checked at each `fileno()` for directories made since: what a source's
    `fileno` / `read` / `close` need, in one place."""

    def __init__(self, dirs: Callable[[], Iterable[str]]) -> None:
        self._dirs = dirs
        self.watch: DirWatch | None = None

    def fileno(self) -> int | None:
        if self.watch is None:
            self.watch = DirWatch(self._dirs())
        self.watch.ensure()
        return self.watch.fileno()

    def drain(self) -> bool:
        """Consume what made the fd readable (a source calls this when it reads); whether anything had."""
        return self.watch.drain() if self.watch is not None else False

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None


def prepare() -> None:
    """Load the C library now (finding it may run ldconfig and read /etc): a source calls this when it is
    made, so its first `fileno()` inside a collect opens nothing outside the source's own root."""
    libc()
