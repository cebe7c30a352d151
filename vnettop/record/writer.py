"""Appending whole lines to a recording file, and starting a new file at --max-size.

Crash safety is by construction: each line is one `write()` on an O_APPEND descriptor, with the signals
that stop the recorder blocked meanwhile, so SIGTERM or SIGHUP can only arrive between lines. If the
kernel writes only part of a line (a full disk), the file is cut back to its last whole line at once, and
the error is raised to the recorder, which says so and stops (see `recorder`). If the machine loses power
mid-line, the reader ignores the cut-off last line and says so; the next run of the recorder cuts it
off before appending.

Rotation: when the file reaches --max-size, it is renamed FILE.1 (FILE.1 to FILE.2, ...; files beyond
--keep are deleted) and a new FILE begins with a header and a keyframe, so each file can be read alone.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable

from vnettop.errors import VnettopError
from vnettop.record.format import SCHEMA, looks_like_recording

_BLOCKED = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}


class RecordingWriteError(VnettopError):
    """A line could not be written; the file was cut back to its last whole line."""

    def __init__(self, message: str, err: int) -> None:
        super().__init__(message)
        self.errno = err


def rotated_name(path: str, n: int) -> str:
    return path if n == 0 else f"{path}.{n}"


class RecordingFile:
    """One recording file, opened for appending whole lines."""

    def __init__(self, path: str, max_size: int, keep: int,
                 say: Callable[[str], None] = lambda _m: None) -> None:
        self.path = path
        self.max_size = max_size
        self.keep = max(1, keep)
        self.say = say
        self.fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        if os.path.isdir(self.path):
            raise VnettopError(f"cannot record to {self.path}: it is a directory")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise VnettopError(f"cannot record to {self.path}: {e.strerror or e}") from None
        try:
            size = os.fstat(fd).st_size
            if size:
                first = os.pread(fd, 512, 0)
                if not looks_like_recording(first):
                    raise VnettopError(f"{self.path} exists and is not a vnettop recording ({SCHEMA}); "
                                       f"not touching it (choose another -o FILE)")
                size = self._cut_partial(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self.fd, self.size = fd, size

    def _cut_partial(self, fd: int, size: int) -> int:
        """Cut a line left unfinished by an earlier run (power loss) before appending after it."""
        if os.pread(fd, 1, size - 1) == b"\n":
            return size
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(fd, pos - start, start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        os.ftruncate(fd, keep)
        self.say(f"{self.path}: removed a cut-off last line ({size - keep} bytes) left by an earlier run")
        return keep

    def write(self, line: bytes) -> int:
        """Append one whole line; return its offset. On failure the file is as it was, and
        RecordingWriteError is raised."""
        offset = self.size
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            done = 0
            try:
                while done < len(line):
                    done += os.write(self.fd, line[done:] if done else line)
            except OSError as e:
                try:
                    os.ftruncate(self.fd, offset)
                except OSError:
                    pass
                err = e.errno or errno.EIO
                raise RecordingWriteError(f"{self.path}: {e.strerror or e}", err) from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        self.size = offset + len(line)
        return offset

    @property
    def full(self) -> bool:
        return self.size >= self.max_size

    def rotate(self) -> None:
        """Rename FILE to FILE.1 (and so on), drop files beyond --keep, and open a new, empty FILE."""
        self.close()
        oldest = rotated_name(self.path, self.keep - 1)
        if self.keep == 1:
            os.unlink(self.path)
        else:
            if os.path.exists(oldest):
                os.unlink(oldest)
            for n in range(self.keep - 2, -1, -1):
                src = rotated_name(self.path, n)
                if os.path.exists(src):
                    os.replace(src, rotated_name(self.path, n + 1))
        self._open()

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
