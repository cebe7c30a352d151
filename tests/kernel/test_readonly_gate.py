"""The read-only gate, for real: every plan, applied through a read-only Mutator, is refused and the
system is unchanged; and the refusal happens before any syscall that could change or pin anything.

Two proofs:
1. State: links (with masters, flags, kind data), addresses, nsids, the namespace list and the mount
   table, read with iproute2 / procfs before and after, restricted to this test's objects (other
   engineers' tests change the host meanwhile), are identical.
2. Syscalls: the same plans applied in a child process under a Python audit hook, which records every
   socket, ctypes call, ioctl, subprocess and file open: none may happen except writing the journal.
   pyroute2 must not even be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernelkit import KernelKit, run
from vnettop.actions import plans as p
from vnettop.actions.journal import Journal
from vnettop.actions.mutator import Mutator
from vnettop.errors import ReadOnlyError

pytestmark = pytest.mark.kernel
REPO = str(Path(__file__).resolve().parents[2])


def build(kit: KernelKit) -> tuple[list[p.Plan], list[str | None]]:
    """A small world, and one plan of every kind aimed at it (each would change something)."""
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    br, tap, va, vb = kit.name("br"), kit.name("tap"), kit.name("va"), kit.name("vb")
    kit.bridge(br, netns=ns_a)
    kit.tuntap(tap, netns=ns_a)
    kit.veth(va, vb, ns_a=ns_a, ns_b=ns_b)
    kit.ip("link", "set", va, "master", br, netns=ns_a)
    kit.ip("link", "set", vb, "up", netns=ns_b)
    kit.ip("addr", "add", "10.79.0.1/24", "dev", vb, netns=ns_b)
    root_dev = kit.name("root")
    kit.bridge(root_dev)
    new_ns = kit.name("new")
    kit.namespaces.append(new_ns)  # removed if the gate (wrongly) let it be made
    plans: list[p.Plan] = [
        p.CreateBridge(kit.name("nbr"), netns=ns_a, stp=True),
        p.CreateVethPair(kit.name("n1"), kit.name("n2"), netns=ns_a, peer_netns=ns_b),
        p.CreateTunTap(kit.name("ntap"), netns=ns_a, multi_queue=True),
        p.CreateNamespace(new_ns),
        p.DeleteNamespace(ns_b),
        p.SetMaster(tap, netns=ns_a, bridge=br),
        p.ClearMaster(va, netns=ns_a),
        p.MoveToNamespace(tap, netns=ns_a, to_netns=ns_b),
        p.SetLinkState(vb, netns=ns_b, up=False),
        p.AddAddress(vb, netns=ns_b, address="10.79.0.2/24"),
        p.DelAddress(vb, netns=ns_b, address="10.79.0.1/24"),
        p.DeleteLink(root_dev),
    ]
    for name in (kit.name("nbr"), kit.name("n1"), kit.name("n2"), kit.name("ntap")):
        kit.link(name)
    return plans, [None, ns_a, ns_b]


def state(kit: KernelKit, namespaces: list[str | None]) -> dict[str, object]:
    """Everything a plan could have changed, as iproute2 and procfs show it (this test's objects only)."""
    out: dict[str, object] = {}
    for ns in namespaces:
        devs = json.loads(kit.ip("-j", "-d", "link", "show", netns=ns))
        if ns is None:
            devs = [d for d in devs if d["ifname"].startswith(f"vnt{kit.tag}")]
        for d in devs:
            for volatile in ("stats64", "stats"):
                d.pop(volatile, None)
        out[f"links {ns}"] = devs
        out[f"addrs {ns}"] = json.loads(kit.ip("-j", "addr", "show", netns=ns)) if ns else None
        out[f"nsids {ns}"] = kit.ip("netns", "list-id", netns=ns) if ns else None
    out["netns"] = sorted(e for e in os.listdir("/run/netns") if e.startswith(f"vnt{kit.tag}"))
    out["mounts"] = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                     if f"vnt{kit.tag}" in line]
    out["root nsids"] = [line for line in run(["ip", "netns", "list-id"]).stdout.splitlines()
                         if f"vnt{kit.tag}" in line]
    return out


def test_every_plan_is_refused_and_nothing_changes(kit: KernelKit, tmp_path: Path) -> None:
    plans, namespaces = build(kit)
    assert {type(plan) for plan in plans} == set(p.PLAN_TYPES)
    for plan in plans:
        plan.validate()  # each would be accepted in write mode: the refusal is the gate's doing
    journal = Journal(str(tmp_path / "journal.jsonl"))
    mutator = Mutator(True, journal)
    before = state(kit, namespaces)
    for plan in plans:
        with pytest.raises(ReadOnlyError) as info:
            mutator.apply(plan)
        assert plan.ip_command() in str(info.value)
        assert mutator.check(plan) == []
    assert state(kit, namespaces) == before
    entries = list(journal.entries())
    assert [e["outcome"] for e in entries] == ["refused-read-only"] * len(plans)
    assert [e["plan"] for e in entries] == [plan.to_dict() for plan in plans]


CHILD = r"""
import json, sys
from vnettop.actions import plans as p
from vnettop.actions.journal import Journal
from vnettop.actions.mutator import Mutator
from vnettop.errors import ReadOnlyError

plans = [p.plan_from_dict(d) for d in json.loads(sys.argv[1])]
journal_dir = sys.argv[2]
mutator = Mutator(True, Journal(journal_dir + "/journal.jsonl"))
seen = []
WATCH = ("socket.", "ctypes.", "fcntl.", "subprocess.", "os.system", "os.exec", "os.fork",
         "os.posix_spawn", "os.spawn", "open", "os.mkdir", "mmap.", "sys.setns")

def hook(event, args):
    if event.startswith(WATCH) or event == "import" and str(args[0]).startswith("pyroute2"):
        if event in ("open", "os.mkdir") and str(args[0]).startswith(journal_dir):
            return
        seen.append((event, repr(args)[:200]))

sys.addaudithook(hook)
refused = 0
for plan in plans:
    try:
        mutator.apply(plan)
    except ReadOnlyError:
        refused += 1
    mutator.check(plan)
print(json.dumps({"refused": refused, "seen": seen, "pyroute2": "pyroute2" in sys.modules}))
"""


def test_read_only_makes_no_syscall_that_could_change_anything(kit: KernelKit, tmp_path: Path) -> None:
    plans, _ = build(kit)
    env = dict(os.environ, LOGNAME="root", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps([x.to_dict() for x in plans]),
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["refused"] == len(plans)
    assert report["seen"] == []
    assert report["pyroute2"] is False
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert len(lines) == len(plans)
