"""The C library is found without a search: glibc's soname first, `ctypes.util` only where that fails.

Why it matters: `ctypes.util.find_library` runs `ldconfig -p` in a child process and its import pulls in
subprocess and tempfile, ~4.5 ms of every vnettop process that enters a namespace (a `vnettop dump`
among them), and a read-only inspector has no business starting programs to find its own libc.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = (
    "import sys\n"
    "from vnettop.linux import libc\n"
    "lib = libc.libc()\n"
    "assert lib is libc.libc()  # loaded once\n"
    "print(lib.getpid() == __import__('os').getpid(), 'ctypes.util' in sys.modules)\n"
)


def test_libc_is_loaded_by_its_soname_without_ctypes_util() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]  # a working libc, and no search was needed
