"""`vnettop dump` and `vnettop trace` against a real throwaway topology, built with iproute2.

The topology (all names carry the kit's tag):

    root:  vr ──veth──► A: vx ─┐
                               ├─ br (bridge in A)
    A: t (tap, held by a child process) ─┤
    A: va ──veth──► B: vb      ─┘        B: a process listening on tcp 5353

Everything is checked against what `ip -j` says (ifindexes, namespaces), never against vnettop itself.
The commands run in a subprocess, exactly as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from tests.tunholder import start_holder

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
PORT = 5353


@dataclass
class Lab:
    ns_a: str
    ns_b: str
    inode_a: int
    inode_b: int
    root: int
    br: str
    tap: str
    va: str
    vb: str
    vr: str
    vx: str
    holder_pid: int
    holder_fds: tuple[int, ...]
    listener_pid: int

    def ifindex(self, kit: KernelKit, name: str, netns: str | None) -> int:
        (dev,) = json.loads(kit.ip("-j", "link", "show", "dev", name, netns=netns))
        return int(dev["ifindex"])


@pytest.fixture
def lab(kit: KernelKit) -> Lab:
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    br = kit.bridge(kit.name("br"), netns=ns_a)
    va, vb = kit.veth(kit.name("va"), kit.name("vb"), ns_a, ns_b)
    vr, vx = kit.veth(kit.name("vr"), kit.name("vx"), None, ns_a)
    tap = kit.name("t")
    holder_pid, holder_fds = start_holder(kit, tap, netns=ns_a)
    for dev in (va, vx, tap):
        kit.ip("link", "set", dev, "master", br, netns=ns_a)
    for dev in (br, va, vx):
        kit.ip("link", "set", dev, "up", netns=ns_a)
    kit.ip("link", "set", vb, "up", netns=ns_b)
    kit.ip("addr", "add", "10.91.0.2/24", "dev", vb, netns=ns_b)
    listener = kit.spawn([sys.executable, "-c",
                          "import socket, signal\n"
                          f"s = socket.socket(); s.bind(('0.0.0.0', {PORT})); s.listen()\n"
                          "signal.pause()\n"], netns=ns_b)
    poll_until(lambda: f":{PORT}" in run(["ip", "netns", "exec", ns_b, "ss", "-ltnH"]).stdout)
    return Lab(ns_a, ns_b, kit.ns_inode(ns_a), kit.ns_inode(ns_b), kit.ns_inode(None), br, tap, va, vb,
               vr, vx, holder_pid, holder_fds, listener.pid)


def vnettop(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def by_name(doc: dict[str, Any], inode: int, name: str) -> dict[str, Any]:
    (link,) = [x for x in doc["links"] if x["netns"] == inode and x["name"] == name]
    return link


def test_dump_json_matches_what_iproute2_built(kit: KernelKit, lab: Lab) -> None:
    done = vnettop("dump", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    inodes = {ns["inode"]: ns for ns in doc["namespaces"]}
    assert kit.name("a") in inodes[lab.inode_a]["names"] and kit.name("b") in inodes[lab.inode_b]["names"]
    assert inodes[lab.root]["root"] is True

    # the bridge and its ports, by ifindex in A
    br = by_name(doc, lab.inode_a, lab.br)
    want_ports = sorted(lab.ifindex(kit, d, lab.ns_a) for d in (lab.va, lab.vx, lab.tap))
    assert br["kind"] == "bridge" and br["bridge"]["ports"] == want_ports
    for dev in (lab.va, lab.vx, lab.tap):
        port = by_name(doc, lab.inode_a, dev)
        assert port["master"] == {"netns": lab.inode_a, "ifindex": br["ifindex"], "name": lab.br}
        assert port["bridge_port"]["state"] in ("disabled", "listening", "learning", "forwarding", "blocking")

    # veth ends, both directions, across namespaces (root <-> A, A <-> B)
    va, vb = by_name(doc, lab.inode_a, lab.va), by_name(doc, lab.inode_b, lab.vb)
    assert va["peer"] == {"netns": lab.inode_b, "ifindex": lab.ifindex(kit, lab.vb, lab.ns_b), "name": lab.vb}
    assert vb["peer"] == {"netns": lab.inode_a, "ifindex": va["ifindex"], "name": lab.va}
    vr = by_name(doc, lab.root, lab.vr)
    assert vr["peer"] == {"netns": lab.inode_a, "ifindex": lab.ifindex(kit, lab.vx, lab.ns_a), "name": lab.vx}
    assert by_name(doc, lab.inode_a, lab.vx)["peer"]["netns"] == lab.root
    assert "10.91.0.2/24" in vb["addresses"]

    # the tap and the process holding it, on the fds it reported
    tap = by_name(doc, lab.inode_a, lab.tap)
    assert tap["kind"] == "tap" and tap["tun"]["type"] == "tap"
    (holder,) = tap["tun"]["holders"]
    assert (holder["pid"], tuple(holder["fds"])) == (lab.holder_pid, lab.holder_fds)

    # the service listening in B
    procs = {p["pid"]: p for p in inodes[lab.inode_b]["processes"]}
    assert any(s["port"] == PORT and s["proto"].startswith("tcp") for s in procs[lab.listener_pid]["listening"])


def test_dump_text_shows_the_same(kit: KernelKit, lab: Lab) -> None:
    done = vnettop("dump", "--format", "text")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"{kit.name('a')}  net:[{lab.inode_a}]" in text
    (tap_row,) = [ln for ln in text.splitlines() if f" {lab.tap} " in ln and "tap" in ln.split()]
    assert f"[{lab.holder_pid}] fd" in tap_row
    (va_row,) = [ln for ln in text.splitlines() if ln.lstrip(" │├└─").startswith(lab.va + " ")]
    assert f"⇄ {lab.vb} @ {kit.name('b')}" in va_row and "port " in va_row


def test_trace_from_the_tap_reaches_the_listener(kit: KernelKit, lab: Lab) -> None:
    done = vnettop("trace", lab.tap, "--format", "json")
    assert done.returncode == 0, done.stderr
    hops = json.loads(done.stdout)["hops"]
    assert (hops[0]["kind"], hops[0]["pid"]) == ("process", lab.holder_pid)
    assert (hops[1]["label"], hops[1]["netns"]) == (lab.tap, lab.inode_a)
    assert hops[2]["label"] == lab.br
    seq = [(h["kind"], h.get("pid") or h.get("inode") or h["label"]) for h in hops]
    path = [("link", lab.va), ("link", lab.vb), ("namespace", lab.inode_b), ("service", lab.listener_pid)]
    positions = [seq.index(step) for step in path]
    assert positions == sorted(positions)
    # the other port leads back to root through the vx/vr pair
    assert ("link", lab.vr) in seq and ("namespace", lab.root) in seq


def test_trace_text_from_root_and_name_errors(kit: KernelKit, lab: Lab) -> None:
    done = vnettop("trace", lab.vr)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"trace from {lab.vr} @ root")
    assert any(f"namespace {kit.name('a')}" in ln for ln in lines)
    assert any(lab.br in ln for ln in lines) and any(f"[{lab.holder_pid}]" in ln for ln in lines)

    done = vnettop("trace", "lo", "--netns", lab.ns_b)
    assert done.returncode == 0 and done.stdout.startswith(f"trace from lo @ {lab.ns_b}")
    done = vnettop("trace", kit.name("nope"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no device" in done.stderr
    done = vnettop("trace", lab.va, "--netns", lab.ns_b)
    assert done.returncode == 1 and f"no device '{lab.va}' in namespace {lab.ns_b}" in done.stderr
