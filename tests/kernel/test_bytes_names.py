"""Names that are not UTF-8 on a real kernel: seen exactly, written as SNAPSHOT-SCHEMA.md says, read back
exactly, and accepted in their written form by `trace`, `--netns` and the actions.

Built with iproute2, given the names as raw bytes (subprocess passes a str's escaped bytes on; every
name starts with `vnt` and the kit's tag): in root a bridge `vnt<tag>\\xff\\xfe` and a tap `vnt<tag>t\\xe9`
held by a process; a namespace `vnt<tag>\\xfe\\xfd` with a veth `vnt<tag>v\\xff` (root) <-> `vnt<tag>p\\xfe`
(in it). The kit removes everything, pass or fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernelkit import KernelKit, run
from tests.tunholder import start_holder
from vnettop import names
from vnettop.actions import mutator as mut
from vnettop.actions import plans as p
from vnettop.actions.journal import Journal
from vnettop.collect.collector import LiveCollector
from vnettop.model import Host, Snapshot
from vnettop.render.json import load_snapshot

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    tag: str  # "vnt" + the kit's tag: the ASCII part of every name
    bridge: str
    tap: str
    ns: str
    inode: int
    veth: str
    peer: str
    holder: int


@pytest.fixture
def lab(kit: KernelKit) -> Lab:
    bridge = kit.bridge(kit.name("\udcff\udcfe"))
    tap = kit.tuntap(kit.name("t\udce9"))
    ns = kit.netns("\udcfe\udcfd")
    veth, peer = kit.veth(kit.name("v\udcff"), kit.name("p\udcfe"), ns_b=ns)
    holder, _fds = start_holder(kit, tap)
    return Lab(f"vnt{kit.tag}", bridge, tap, ns, kit.ns_inode(ns), veth, peer, holder)


def vnettop(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", *argv], capture_output=True, text=True,
                          errors="surrogateescape", cwd=REPO, timeout=120)


def test_the_collector_sees_the_exact_names(lab: Lab) -> None:
    c = LiveCollector()
    try:
        snap = c.collect()
    finally:
        c.close()
    root = os.stat("/proc/self/ns/net").st_ino
    (bridge,) = snap.find_links(lab.bridge, root)
    assert names.to_bytes(bridge.name) == os.fsencode(lab.bridge) == os.fsencode(f"{lab.tag}") + b"\xff\xfe"
    assert bridge.kind == "bridge"
    (veth,) = snap.find_links(lab.veth, root)
    assert veth.peer is not None and veth.peer.name == lab.peer and veth.peer.netns == lab.inode
    ns = snap.namespace(lab.inode)
    assert ns is not None and lab.ns in ns.names
    (tap,) = snap.find_links(lab.tap, root)
    assert tap.tun is not None and [h.pid for h in tap.tun.holders] == [lab.holder]  # matched by its name


def test_dump_json_writes_the_schema_form_and_reads_back_exactly(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "snap.json"
    proc = vnettop("dump", "-f", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    raw = out.read_bytes()
    doc = json.loads(raw.decode("utf-8"))  # strict UTF-8: no raw byte of a name leaked into the file
    (bridge,) = [x for x in doc["links"] if x.get("name_bytes") == os.fsencode(lab.bridge).hex()]
    assert bridge["name"] == f"{lab.tag}\\xff\\xfe"
    (veth,) = [x for x in doc["links"] if x["name"] == f"{lab.tag}v\\xff"]
    assert veth["peer"]["name"] == f"{lab.tag}p\\xfe" and veth["peer"]["name_bytes"] == os.fsencode(lab.peer).hex()
    (ns,) = [x for x in doc["namespaces"] if x["inode"] == lab.inode]
    assert ns["names"] == [f"{lab.tag}\\xfe\\xfd"] and ns["names_bytes"] == [os.fsencode(lab.ns).hex()]
    assert b"b'" + os.fsencode(lab.tag) not in raw  # never a Python bytes repr
    snap = load_snapshot(str(out))
    assert {link.name for link in snap.links} >= {lab.bridge, lab.tap, lab.veth, lab.peer}
    assert lab.ns in snap.namespace(lab.inode).names  # type: ignore[union-attr]


def test_trace_takes_the_written_form(lab: Lab) -> None:
    proc = vnettop("trace", f"{lab.tag}\\xff\\xfe", "-f", "json")  # typed with a literal backslash
    assert proc.returncode == 0, proc.stderr
    start = json.loads(proc.stdout)["start"]
    assert start["name"] == f"{lab.tag}\\xff\\xfe" and start["name_bytes"] == os.fsencode(lab.bridge).hex()
    proc = vnettop("trace", f"{lab.tag}p\\xfe", "--netns", f"{lab.tag}\\xfe\\xfd", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["start"]["netns"] == lab.inode
    assert any(h.get("ifindex") and h["label"] == f"{lab.tag}v\\xff" for h in doc["hops"])  # the peer, in root
    proc = vnettop("trace", f"{lab.tag}\\xff\\xfe")  # the text form runs too
    assert proc.returncode == 0, proc.stderr


def test_the_mutator_acts_on_names_that_are_not_utf8(kit: KernelKit, lab: Lab, tmp_path: Path) -> None:
    m = mut.Mutator(False, Journal(str(tmp_path / "journal.jsonl")),
                    snapshot_provider=lambda: Snapshot(Host("", ""), (), ()), environ={})
    made = kit.name("\udcfa")
    kit.namespaces.append(made)  # removed by the kit even if the test fails half-way
    for plan in (p.CreateNamespace(made), p.CreateBridge(kit.name("b\udcfb"), netns=made),
                 p.MoveToNamespace(lab.veth, netns=None, to_netns=made),  # (a bridge cannot move)
                 p.DeleteLink(lab.peer, netns=lab.ns), p.DeleteLink(lab.bridge, netns=None),
                 p.DeleteNamespace(made)):
        result = m.apply(plan)
        assert result.ok, result.message
    assert not os.path.exists(f"/sys/class/net/{lab.bridge}")
    assert kit.ip("link", "show", netns=lab.ns).count("\n") == 2  # only lo (2 lines): the peer went
    assert not os.path.exists(f"/run/netns/{made}")
    entries = list(Journal(str(tmp_path / "journal.jsonl")).entries())
    assert [e["plan"].get("device", e["plan"].get("name")) for e in entries][3] == lab.peer  # exact in the journal


def _kernel_rule_broken(raw: bytes) -> bool:
    """dev_valid_name() in net/core/dev.c, on bytes: 1-15 of them, not . or .., no '/', ':' or (Latin-1)
    space."""
    return (not 0 < len(raw) <= 15 or raw in (b".", b"..")
            or any(b in b"/: \t\n\v\f\r" or b == 0xA0 for b in raw))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=17))
def test_validator_and_kernel_agree_on_byte_names(kit: KernelKit, tmp_path: Path, raw: bytes) -> None:
    """Any bytes as a device name: what the validator accepts, the kernel makes (through the mutator,
    which hands it the raw bytes) and deletes again; what the kernel's rule refuses, the validator
    refuses too (lengths in bytes, not in characters)."""
    from vnettop.actions import validate as v
    from vnettop.errors import ValidationError

    ns = getattr(kit, "hyp_ns", None) or kit.netns("h")
    kit.hyp_ns = ns  # type: ignore[attr-defined]
    name = names.from_bytes(raw)
    try:
        v.check_ifname(name)
    except ValidationError:
        # Stricter than dev_valid_name(): control characters, Unicode spaces, and '%' (a template).
        assert _kernel_rule_broken(raw) or any(b < 32 or b == 127 for b in raw) or b"%" in raw or any(
            c.isspace() for c in name), raw
        if _kernel_rule_broken(raw) and raw and b"\0" not in raw and b"%" not in raw:
            assert run(["ip", "-n", ns, "link", "add", "name", name, "type", "bridge"],
                       check=False).returncode != 0
        return
    m = mut.Mutator(False, None, snapshot_provider=lambda: Snapshot(Host("", ""), (), ()), environ={})
    made = m.apply(p.CreateBridge(name, netns=ns))
    assert made.ok, made.message
    assert run(["ip", "-n", ns, "link", "show", "dev", name], check=False).returncode == 0  # by its bytes
    gone = m.apply(p.DeleteLink(name, netns=ns))
    assert gone.ok, gone.message
