"""What an unprivileged user is told about a topology root built: what it cannot see is unknown, not empty.

SNAPSHOT-SCHEMA.md "Unknown is not empty": without root, other users' /proc/PID/fd are EACCES, so a tap's
holders are `null` ("holder unknown (needs root)"), never "not held"; a namespace that cannot be entered is
`readable: false` with its devices unknown, never "(no devices)"; a veth whose peer is in such a namespace
names that namespace, and one whose peer's namespace could not even be found says so, never `net:[0]`.

How the test runs vnettop as another user (uid/gid 65534, `nobody`): `setpriv` drops to it, and the
command is `python -m vnettop dump` with the worktree on PYTHONPATH and `/` as the working directory.
The interpreter running the tests may not be usable by that user (pyenv under a 0700 /root): then the
system's `/usr/bin/python3` of the same minor version is used, with the two third-party packages a dump
needs (psutil, and pyroute2 for its fallbacks) copied into a world-readable `vnt...` temporary directory.
If neither works the test is skipped with the reason, never passed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.kernelkit import KernelKit, run
from tests.tunholder import start_holder

pytestmark = pytest.mark.kernel

NOBODY = 65534
WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DROP = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _works(argv: list[str], env: dict[str, str]) -> bool:
    probe = subprocess.run([*DROP, "env", *(f"{k}={v}" for k, v in env.items()), *argv, "-c",
                            "import psutil, pyroute2, vnettop, vnettop.collect.collector"],
                           capture_output=True, cwd="/")
    return probe.returncode == 0


@pytest.fixture(scope="module")
def as_nobody() -> Iterator[list[str]]:
    """The argv prefix that runs `python` as nobody with this worktree's vnettop importable."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    env = {"PYTHONPATH": WORKTREE}
    if _works([sys.executable], env):
        yield [*DROP, "env", f"PYTHONPATH={WORKTREE}", sys.executable]
        return
    system = "/usr/bin/python3"
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True) if os.path.exists(system) else None
    if version is None or version.stdout.strip() != str(sys.version_info[:2]):
        pytest.skip(f"{sys.executable} is not usable by uid {NOBODY} and no {system} of the same version")
    deps = tempfile.mkdtemp(prefix="vnt")
    try:
        os.chmod(deps, 0o755)
        for package in ("psutil", "pyroute2"):
            spec = importlib.util.find_spec(package)
            assert spec is not None and spec.submodule_search_locations
            shutil.copytree(next(iter(spec.submodule_search_locations)), os.path.join(deps, package))
        run(["chmod", "-R", "a+rX", deps])
        path = f"{WORKTREE}:{deps}"
        if not _works([system], {"PYTHONPATH": path}):
            pytest.skip(f"uid {NOBODY} cannot import vnettop from {WORKTREE} (is it world-readable?)")
        yield [*DROP, "env", f"PYTHONPATH={path}", system]
    finally:
        shutil.rmtree(deps, ignore_errors=True)


def _dump(prefix: list[str], fmt: str) -> str:
    proc = subprocess.run([*prefix, "-m", "vnettop", "dump", "-f", fmt], capture_output=True, text=True,
                          cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _line(text: str, name: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(name + " ")]
    return line


@pytest.fixture
def topology(kit: KernelKit) -> dict[str, Any]:
    """Built as root: a named namespace with a veth into root, a tap held by a root process, a
    persistent tap nobody holds, and a veth into an unnamed namespace only a root process is in."""
    ns = kit.netns("u")
    a, b = kit.veth(kit.name("ua"), kit.name("ub"), ns_b=ns)
    held = kit.name("uh")
    pid, _ = start_holder(kit, held)
    persist = kit.tuntap(kit.name("up"))
    _proc, anon_inode = kit.unshared()
    c = kit.name("uc")
    kit.ip("link", "add", c, "type", "veth", "peer", "name", kit.name("ud"), "netns", str(_proc.pid))
    kit.link(c)
    return {"ns": ns, "inode": kit.ns_inode(ns), "a": a, "b": b, "held": held, "holder": pid,
            "persist": persist, "c": c, "anon": anon_inode}


def test_unprivileged_json_says_unknown_not_empty(topology: dict[str, Any], as_nobody: list[str]) -> None:
    snap = json.loads(_dump(as_nobody, "json"))
    links = {link["name"]: link for link in snap["links"]}
    for tap in (topology["held"], topology["persist"]):
        tun = links[tap]["tun"]
        assert tun["holders"] is None and tun["holders_complete"] is False, tun
    (ns,) = [n for n in snap["namespaces"] if n["inode"] == topology["inode"]]
    assert ns["readable"] is False and ns["unreadable_reason"] == "permission denied"
    assert not [link for link in snap["links"] if link["netns"] == topology["inode"]]
    root = next(n for n in snap["namespaces"] if n["root"])
    assert root["readable"] is True and root["pids_complete"] is False  # only its own processes seen
    # The peer's namespace could not be entered, but it is named: vnettop listed it.
    peer = links[topology["a"]]["peer"]
    assert (peer["netns"], peer["ifindex"], peer["name"]) == (topology["inode"], 2, None)
    # The unnamed namespace is invisible to this user: the reference says "unknown" (0), no inode guessed.
    assert links[topology["c"]]["peer"]["netns"] == 0
    assert all(n["inode"] != topology["anon"] for n in snap["namespaces"])


def test_unprivileged_text_says_unknown_not_empty(topology: dict[str, Any], as_nobody: list[str]) -> None:
    text = _dump(as_nobody, "text")
    for wrong in ("not held", "(no devices)", "net:[0]", "which vnettop can't see"):
        assert wrong not in text, f"{wrong!r} in:\n{text}"
    assert "holder unknown (needs root)" in _line(text, topology["held"])
    assert "holder unknown (needs root)" in _line(text, topology["persist"])
    assert f"ifindex 2 @ {topology['ns']}" in _line(text, topology["a"])
    assert "a namespace vnettop cannot read" in _line(text, topology["c"])
    lines = text.splitlines()
    assert "seen (others' not readable)" in next(ln for ln in lines if ln.startswith("root "))
    head = next(i for i, ln in enumerate(lines) if ln.startswith(topology["ns"] + " "))
    assert lines[head + 1].strip() == "devices unknown (cannot enter: permission denied)"


def test_root_sees_what_nobody_could_not(topology: dict[str, Any]) -> None:
    """The control: the same topology read as root is fully known, so the unknowns above are privilege."""
    text = subprocess.run([sys.executable, "-m", "vnettop", "dump", "-f", "text"], capture_output=True,
                          text=True, cwd=WORKTREE, check=True).stdout
    assert "held by " in _line(text, topology["held"]) and f"[{topology['holder']}]" in _line(text, topology["held"])
    assert "not held" in _line(text, topology["persist"])
    assert f"{topology['b']} @ {topology['ns']}" in _line(text, topology["a"])
