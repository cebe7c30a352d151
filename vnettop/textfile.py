"""Writing a metrics file for node_exporter's textfile collector, atomically.

node_exporter reads every `*.prom` file in its directory on each scrape. A file written in place can be
scraped half-written (a truncated family, a parse error that drops the whole file for that scrape), so
the text goes to a temporary file in the same directory whose name does not end in `.prom` (the
collector ignores it), is flushed to disk, and is renamed over the target: rename within one file
system is atomic, so a scrape sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import tempfile

from vnettop.errors import VnettopError


def write_atomically(directory: str, name: str, text: str) -> str:
    """Write `text` to `directory/name` via a temporary file and a rename; return the final path.

    Raises VnettopError with one line naming the path when the directory is missing or unwritable.
    The temporary file is removed if anything fails.
    """
    if not name or "/" in name or name in (".", ".."):
        raise VnettopError(f"not a file name: {name!r}")
    if not name.endswith(".prom"):
        raise VnettopError(f"{name}: node_exporter reads only files ending in .prom")
    if not os.path.isdir(directory):
        raise VnettopError(f"cannot write metrics to {directory}: no such directory")
    target = os.path.join(directory, name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise VnettopError(f"cannot write metrics to {directory}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; node_exporter often runs as another user
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise VnettopError(f"cannot write {target}: {e.strerror or e}") from None
    return target
