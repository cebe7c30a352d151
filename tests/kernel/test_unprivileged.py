"""What an unprivileged user is told about a topology root built: what it cannot see is unknown, not empty.

SNAPSHOT-SCHEMA.md "Unknown is not empty": without root, other users' /proc/PID/fd are EACCES, so a tap's
holders are `null` ("holder unknown (needs root)"), never "not held"; a namespace that cannot be entered is
`readable: false` with its devices unknown, never "(no devices)"; a veth whose peer is in such a namespace
names that namespace, and one whose peer's namespace could not even be found says so, never `net:[0]`.

How the test runs vnettop as another user (uid/gid 65534, `nobody`, no capability at all): tests/asuser.py,
which copies vnettop and what a dump needs into a world-readable temporary directory (the checkout may not
be readable by that user) and skips with the reason when it cannot (fails instead with CI=true).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.asuser import AsUser, as_user
from tests.kernelkit import KernelKit
from tests.tunholder import start_holder

pytestmark = pytest.mark.kernel

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def as_nobody() -> Iterator[AsUser]:
    """Runs this checkout's vnettop as nobody, with no capability."""
    with as_user() as user:
        yield user


def _dump(user: AsUser, fmt: str) -> str:
    proc = user.vnettop((), "dump", "-f", fmt)
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


def test_unprivileged_json_says_unknown_not_empty(topology: dict[str, Any], as_nobody: AsUser) -> None:
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


def test_unprivileged_text_says_unknown_not_empty(topology: dict[str, Any], as_nobody: AsUser) -> None:
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
