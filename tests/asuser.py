"""Run this checkout's vnettop as another, non-root user holding exactly a given set of capabilities.

Used by the unprivileged tests (no capability at all: what is unknown must say so) and the least-privilege
tests (exactly CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH: the picture must equal root's).

How: `setpriv` (util-linux) switches to uid/gid 65534 (`nobody`) with no supplementary groups and puts the
set in the inheritable, ambient and bounding sets, the way systemd's `User=` + `AmbientCapabilities=` +
`CapabilityBoundingSet=` does; the child's effective set is then exactly the set (asserted, from
/proc/self/status, before the helper is handed out). `--no-new-privs` is set too, as the documented unit
sets it: ambient capabilities survive it.

What that user must be able to read: nothing of the checkout. It may sit under a 0700 directory (a CI
runner's workspace, root's home), so `vnettop` itself and the two third-party packages a dump needs
(psutil, pyroute2) are copied into a world-readable `vnt...` temporary directory, and that is the only
PYTHONPATH. The interpreter is the one running the tests if that user can run it, else the system's
/usr/bin/python3 of the same minor version (psutil's compiled module is per minor version). When neither
works the test is skipped with the reason; with CI=true it fails instead, so nothing is silently left out.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGES = ("vnettop", "psutil", "pyroute2")

# Capability numbers (linux/capability.h).
CAP_NUMBERS = {"cap_dac_read_search": 2, "cap_net_admin": 12, "cap_sys_ptrace": 19, "cap_sys_admin": 21}
# The least-privilege set: setns (SYS_ADMIN), other users' /proc/PID/ns and fds (SYS_PTRACE), namespaces
# mounted under directories only root may search, such as /run/docker (DAC_READ_SEARCH).
READ_SET = ("cap_sys_admin", "cap_sys_ptrace", "cap_dac_read_search")


def unavailable(reason: str) -> None:
    """Skip, or fail on CI (CI=true), where every test must run."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"cannot run as uid {NOBODY} on CI: {reason}")
    pytest.skip(reason)


def cap_mask(caps: Iterable[str]) -> int:
    mask = 0
    for cap in caps:
        mask |= 1 << CAP_NUMBERS[cap]
    return mask


def setpriv_argv(caps: Sequence[str], no_new_privs: bool = True) -> list[str]:
    """The `setpriv` prefix that becomes nobody holding exactly `caps`: the uid change empties the
    permitted and effective sets, and the ambient set (which needs the capability in the inheritable and
    bounding sets too) fills them again on exec. `AsUser.caps_of_child` shows the result."""
    spec = ",".join(["-all", *(f"+{c.removeprefix('cap_')}" for c in caps)])
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            f"--inh-caps={spec}", f"--ambient-caps={spec}", f"--bounding-set={spec}"]
    return argv + (["--no-new-privs"] if no_new_privs else [])


@dataclass(frozen=True)
class AsUser:
    """How to run Python as nobody with a world-readable copy of this checkout's vnettop."""

    interpreter: str
    pythonpath: str

    def argv(self, caps: Sequence[str], *args: str, no_new_privs: bool = True) -> list[str]:
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
               f"PYTHONPATH={self.pythonpath}", "PYTHONDONTWRITEBYTECODE=1"]
        return [*setpriv_argv(caps, no_new_privs), *env, self.interpreter, *args]

    def run(self, caps: Sequence[str], *args: str, timeout: float = 120,
            no_new_privs: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(caps, *args, no_new_privs=no_new_privs), capture_output=True,
                              text=True, cwd="/", timeout=timeout)

    def vnettop(self, caps: Sequence[str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(caps, "-m", "vnettop", *args, timeout=timeout)

    def caps_of_child(self, caps: Sequence[str]) -> dict[str, int]:
        """CapEff/CapPrm/CapInh/CapAmb/CapBnd and the uid of a child started with `caps`."""
        code = ("import json, os\n"
                "d = {l.split(':')[0]: int(l.split(':')[1], 16) for l in open('/proc/self/status')"
                " if l.startswith('Cap')}\n"
                "d['uid'] = os.getuid(); d['NoNewPrivs'] = int([l for l in open('/proc/self/status')"
                " if l.startswith('NoNewPrivs')][0].split()[1])\n"
                "print(json.dumps(d))")
        proc = self.run(caps, "-c", code)
        assert proc.returncode == 0, proc.stderr
        out: dict[str, int] = json.loads(proc.stdout)
        return out


def _usable(interpreter: str, pythonpath: str) -> str | None:
    """None if nobody can import what a dump needs with this interpreter, else why not (one line)."""
    probe = AsUser(interpreter, pythonpath).run(
        (), "-c", "import psutil, pyroute2, vnettop.cli, vnettop.collect.collector", timeout=60)
    if probe.returncode == 0:
        return None
    lines = (probe.stderr or probe.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


#: What the inspector needs on top (Textual and its imports), for a test that runs the TUI as that user.
UI_PACKAGES = ("textual", "rich", "markdown_it", "mdurl", "mdit_py_plugins", "linkify_it", "platformdirs",
               "pygments", "typing_extensions")


def _copy_packages(into: str, packages: Sequence[str]) -> None:
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None, package
        if spec.submodule_search_locations:
            shutil.copytree(next(iter(spec.submodule_search_locations)), os.path.join(into, package),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:  # a single-file module (typing_extensions)
            assert spec.origin is not None, package
            shutil.copy(spec.origin, os.path.join(into, os.path.basename(spec.origin)))
    for dirpath, _dirnames, filenames in os.walk(into):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


@contextmanager
def as_user(extra: Sequence[str] = ()) -> Iterator[AsUser]:
    """An AsUser for the duration of the block (its temporary copy is removed afterwards); `extra` names
    more packages to copy (UI_PACKAGES for the inspector)."""
    if os.geteuid() != 0:
        unavailable("running as another user needs root to start from")
    if shutil.which("setpriv") is None:
        unavailable("setpriv (util-linux) is not installed")
    copy = tempfile.mkdtemp(prefix="vnt")
    try:
        os.chmod(copy, 0o755)
        _copy_packages(copy, (*PACKAGES, *extra))
        candidates = [sys.executable]
        if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(SYSTEM_PYTHON) != os.path.realpath(sys.executable):
            version = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True)
            if version.stdout.strip() == str(sys.version_info[:2]):
                candidates.append(SYSTEM_PYTHON)
        reasons = []
        for interpreter in candidates:
            why = _usable(interpreter, copy)
            if why is None:
                yield AsUser(interpreter, copy)
                return
            reasons.append(f"{interpreter}: {why}")
        unavailable(f"uid {NOBODY} cannot run vnettop from a world-readable copy ({'; '.join(reasons)})")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
