"""OVS plans through the gate on a real Open vSwitch (netdev datapath): each applied and seen by
`ovs-vsctl` and by vnettop's own OVS source, the printed `ovs-vsctl` command doing the same as the plan,
the SSH guard on a live join, a hung or killed ovsdb-server in one line, and `lab up --ovs` / `lab down`
leaving OVSDB, the namespaces and the devices as they were found."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.base import REPO, named_netns, pid_alive, poll_until, root_links, run, tag
from tests.components.ovs import Ovs
from tests.components.test_ovs_source import Db, _ovsdb_pid, private_db
from vnettop.actions import ovs_executor
from vnettop.actions import ovs_plans as op
from vnettop.actions.guards import UnconfirmedWarnings
from vnettop.actions.journal import Journal
from vnettop.actions.lab import Lab, _no_snapshot
from vnettop.actions.mutator import ApplyResult, Mutator
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Snapshot
from vnettop.ovsdb.jsonrpc import OvsdbError
from vnettop.ovsdb.monitor import read_once

pytestmark = pytest.mark.kernel

__all__ = ["private_db"]
IFACE_ID = "5c1b2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _sock(ovs: Ovs) -> str:
    return ovs.db.removeprefix("unix:")


def _mutator(ovs: Ovs, journal: Path | None = None, **kw: object) -> Mutator:
    return Mutator(False, Journal(str(journal)) if journal else None, ovsdb=_sock(ovs),
                   environ=kw.pop("environ", {}), **kw)  # type: ignore[arg-type]


def _apply(m: Mutator, plan: op.OvsPlan) -> ApplyResult:
    result = m.apply(plan, confirmed_warnings=m.check(plan))
    assert result.ok, result.message
    assert result.ip_command == plan.ovs_vsctl()
    return result


def _snap(ovs: Ovs) -> Snapshot:
    with LiveCollector(sources=make_sources("/", {"ovs": {"db": _sock(ovs)}})) as c:
        return c.collect()


def test_each_plan_is_seen_by_ovs_vsctl_and_by_vnettop(ovs: Ovs, tmp_path: Path) -> None:
    comp = ovs.comp
    bridge, internal, patch = comp.name("xb"), comp.name("xi"), comp.name("xp")
    for name in (bridge, internal):
        comp.record_link(name)  # ovs-vswitchd makes them: removed at teardown if the test fails midway
    m = _mutator(ovs, tmp_path / "j.jsonl")
    try:
        done = _apply(m, op.CreateOvsBridge(bridge, "netdev"))
        # applied by ovs-vswitchd before apply returns: its local port is a device already
        assert done.message == f"create OVS bridge {bridge} (netdev datapath): done"
        assert os.path.exists(f"/sys/class/net/{bridge}")
        assert ovs.vsctl("get", "bridge", bridge, "datapath_type").strip() == "netdev"
        _apply(m, op.AddOvsPort(bridge, internal, type="internal", tag=5,
                                external_ids=f"iface-id={IFACE_ID} attached-mac=fa:16:3e:00:00:05"))
        assert os.path.exists(f"/sys/class/net/{internal}")
        _apply(m, op.AddOvsPort(bridge, patch, type="patch", options=f"peer={ovs.internal}"))
        assert sorted(ovs.vsctl("list-ports", bridge).split()) == sorted([internal, patch])
        assert ovs.vsctl("get", "port", internal, "tag").strip() == "5"
        assert ovs.vsctl("get", "interface", internal, "external_ids:iface-id").strip() == f'"{IFACE_ID}"'
        assert ovs.vsctl("get", "interface", patch, "options:peer").strip() == ovs.internal

        # vnettop's own reading: the OVSDB view, and the join to the kernel device
        view = read_once(_sock(ovs))
        (mine,) = [b for b in view.bridges if b.name == bridge]
        ports = {port.name: port for port in mine.ports}
        assert ports[internal].tag == 5 and ports[patch].interfaces[0].type == "patch"
        snap = _snap(ovs)
        root = snap.root
        assert root is not None
        (link,) = snap.find_links(internal, root.inode)
        hit = snap.ovs_port_of(link.key)
        assert hit is not None and (hit[0].name, hit[1].name) == (bridge, internal)

        _apply(m, op.SetOvsTag(internal, 7))
        assert ovs.vsctl("get", "port", internal, "tag").strip() == "7"
        _apply(m, op.SetOvsTag(internal, None))
        assert ovs.vsctl("get", "port", internal, "tag").strip() == "[]"
        _apply(m, op.DeleteOvsPort(internal, bridge))
        assert ovs.vsctl("list-ports", bridge).split() == [patch]
        poll_until(lambda: not os.path.exists(f"/sys/class/net/{internal}"), timeout=10)
        _apply(m, op.DeleteOvsBridge(bridge))
        assert run(["ovs-vsctl", f"--db={ovs.db}", "br-exists", bridge], check=False).returncode == 2
        poll_until(lambda: not os.path.exists(f"/sys/class/net/{bridge}"), timeout=10)
    finally:
        ovs.vsctl("--if-exists", "del-br", bridge)
    entries = list(Journal(str(tmp_path / "j.jsonl")).entries())
    assert [e["plan"]["plan"] for e in entries] == ["CreateOvsBridge", "AddOvsPort", "AddOvsPort", "SetOvsTag",
                                                     "SetOvsTag", "DeleteOvsPort", "DeleteOvsBridge"]
    assert all(e["outcome"] == "applied" and e["ip_command"].startswith("ovs-vsctl ") for e in entries)


def _rows(ovs: Ovs, table: str, name: str, columns: str) -> dict[str, object]:
    out = json.loads(ovs.vsctl("--format=json", f"--columns={columns}", "list", table, name))
    return dict(zip(out["headings"], out["data"][0], strict=True))


def test_the_printed_command_does_what_the_plan_does(ovs: Ovs) -> None:
    """The plan on one name, its own `ovs-vsctl` text on another: the rows come out alike."""
    comp = ovs.comp
    a, b = comp.name("ea"), comp.name("eb")
    for name in (a, b):
        comp.record_link(name)
    m = _mutator(ovs)
    try:
        plans = [op.CreateOvsBridge(a, "netdev"),
                 op.AddOvsPort(a, f"{a}p", type="internal", tag=12, external_ids="iface-id=x1 vm-uuid=x2"),
                 op.AddOvsPort(a, f"{a}g", type="geneve", options="remote_ip=127.0.0.2 key=flow")]
        for plan in plans:
            comp.record_link(f"{a}p")
            comp.record_link(f"{b}p")
            _apply(m, plan)
            argv = plan.ovs_vsctl().replace(a, b).split()
            run([argv[0], f"--db={ovs.db}", "--timeout=20", *argv[1:]], env=ovs.env)
        assert _rows(ovs, "bridge", a, "datapath_type,fail_mode,external_ids,protocols") == \
            _rows(ovs, "bridge", b, "datapath_type,fail_mode,external_ids,protocols")
        for suffix in ("", "p", "g"):
            cols_p = "tag,trunks,vlan_mode,external_ids,other_config"
            assert _rows(ovs, "port", a + suffix, cols_p) == _rows(ovs, "port", b + suffix, cols_p)
            cols_i = "type,options,external_ids"
            assert _rows(ovs, "interface", a + suffix, cols_i) == _rows(ovs, "interface", b + suffix, cols_i)
    finally:
        ovs.vsctl("--if-exists", "del-br", a, "--", "--if-exists", "del-br", b)


def test_the_ssh_guard_reads_the_live_join(ovs: Ovs) -> None:
    """The SSH route leaves through an internal port of a bridge: deleting the bridge must be confirmed."""
    comp = ovs.comp
    bridge, port = comp.name("sb"), comp.name("sp")
    for name in (bridge, port):
        comp.record_link(name)
    m = _mutator(ovs)
    try:
        _apply(m, op.CreateOvsBridge(bridge, "netdev"))
        _apply(m, op.AddOvsPort(bridge, port, type="internal"))
        ifindex = int(Path(f"/sys/class/net/{port}/ifindex").read_text())
        ssh = _mutator(ovs, environ={"SSH_CONNECTION": "198.51.100.7 50000 192.0.2.10 22"},
                       route_lookup=lambda _client: ifindex)
        plan = op.DeleteOvsBridge(bridge)
        warnings = ssh.check(plan)
        assert [(w.code, w.subject) for w in warnings] == [("ssh-route", port)], warnings
        with pytest.raises(UnconfirmedWarnings, match="SSH"):
            ssh.apply(plan)
        assert ovs.vsctl("br-exists", bridge) == ""  # still there
        assert ssh.check(op.DeleteOvsBridge(ovs.bridge)) == []  # another bridge: no warning
        assert ssh.apply(plan, confirmed_warnings=warnings).ok
    finally:
        ovs.vsctl("--if-exists", "del-br", bridge)


def test_an_ovsdb_refusal_is_shown_as_its_message(ovs: Ovs) -> None:
    """A transaction OVSDB itself refuses (a tag beyond the schema's range, forced past validation)."""
    comp = ovs.comp
    bridge = comp.name("rb")
    comp.record_link(bridge)
    try:
        _apply(_mutator(ovs), op.CreateOvsBridge(bridge, "netdev"))
        with pytest.raises(OvsdbError, match="OVSDB refused the change: constraint violation") as info:
            ovs_executor.execute(op.AddOvsPort(bridge, comp.name("rp"), tag=5000), _sock(ovs))
        assert "\n" not in str(info.value) and "nothing was changed" in str(info.value)
        assert ovs.vsctl("list-ports", bridge).split() == []
    finally:
        ovs.vsctl("--if-exists", "del-br", bridge)


def _backlog(sock: str) -> int:
    """Connections waiting in the listening socket's queue (ss: Recv-Q of a listener)."""
    for line in run(["ss", "-xlH"]).stdout.splitlines():
        fields = line.split()
        if sock in fields:
            return int(fields[2])
    return 0


def test_a_hung_then_killed_ovsdb_server_gives_one_line_and_changes_nothing(
        private_db: tuple[Db, Ovs], monkeypatch: pytest.MonkeyPatch) -> None:
    db, fake = private_db
    pid = _ovsdb_pid(db.comp)
    plan = op.CreateOvsBridge(db.comp.name("kb"), "netdev")
    m = Mutator(False, None, ovsdb=db.sock, environ={})
    os.kill(pid, signal.SIGSTOP)
    try:
        monkeypatch.setattr(ovs_executor, "TIMEOUT", 1.0)
        result = m.apply(plan)
        assert not result.ok and result.message == f"{db.sock}: no answer within 1 s"
        # killed while vnettop waits for its answer
        monkeypatch.setattr(ovs_executor, "TIMEOUT", 20.0)
        got: list[ApplyResult] = []
        waiting = _backlog(db.sock)  # the connection given up on above is still queued
        worker = threading.Thread(target=lambda: got.append(m.apply(plan)))
        worker.start()
        poll_until(lambda: _backlog(db.sock) > waiting, timeout=10)
        os.kill(pid, signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    worker.join(timeout=10)
    assert not worker.is_alive() and len(got) == 1
    assert not got[0].ok and got[0].message in (f"{db.sock}: ovsdb-server closed the connection",
                                                f"{db.sock}: connection lost: Connection reset by peer")
    after = m.apply(plan)  # the socket file stays: refused, at once
    assert not after.ok and after.message == f"{db.sock}: connection refused (ovsdb-server not listening)"
    db.start()
    assert fake.vsctl("list-br").split() == [fake.bridge]  # nothing was written


# -- the lab --------------------------------------------------------------------------------------------


def _lab(prefix: str, action: str, journal: Path, ovsdb: str) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; from vnettop.actions.lab import cli_lab; "
            f"sys.exit(cli_lab({action!r}, {str(journal)!r}, prefix={prefix!r}, ovs={action == 'up'}, "
            f"ovsdb={ovsdb!r}))")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180)


def _host(ovs: Ovs, prefix: str) -> dict[str, object]:
    """OVSDB, the namespaces, the devices and the lab's files. Other tests' `vnt…` objects (made and
    removed meanwhile by tests running beside this one) are left out; the host's own and the lab's are in."""
    def ours(name: str) -> bool:
        return not name.startswith("vnt") or name.startswith(prefix)

    state = Path("/run/vnettop")
    return {"ovs-vsctl show": ovs.vsctl("show"), "netns": sorted(filter(ours, named_netns())),
            "ip netns": [ln for ln in run(["ip", "netns", "list"]).stdout.splitlines() if ours(ln)],
            "links": sorted(filter(ours, root_links())),
            "state files": sorted(filter(ours, os.listdir(state))) if state.is_dir() else []}


@pytest.fixture
def lab_prefix(ovs: Ovs) -> Iterator[str]:
    prefix = f"vnt{tag()}L"
    yield prefix
    if Path(f"/run/vnettop/{prefix}.json").exists() or any(n.startswith(prefix) for n in named_netns()):
        Lab(prefix, out=lambda _line: None).down(Mutator(False, None, snapshot_provider=_no_snapshot,
                                                         ovsdb=_sock(ovs)))


def test_lab_up_ovs_builds_the_ovn_node_and_down_leaves_no_trace(ovs: Ovs, lab_prefix: str,
                                                                  tmp_path: Path) -> None:
    prefix, journal = lab_prefix, tmp_path / "journal.jsonl"
    before = _host(ovs, prefix)
    up = _lab(prefix, "up", journal, _sock(ovs))
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"  + ovs-vsctl add-br {prefix}-br-int -- set bridge {prefix}-br-int datapath_type=netdev" in up.stdout
    br_int, br_ex = f"{prefix}-br-int", f"{prefix}-br-ex"
    ports = ovs.vsctl("list-ports", br_int).split()
    taps = [p for p in ports if p.startswith(f"{prefix}-tap")]
    assert len(taps) == 2 and {f"{prefix}-int-ex", f"{prefix}-gnv0", f"{prefix}-meta0"} <= set(ports)
    assert ovs.vsctl("list-ports", br_ex).split() == [f"{prefix}-ex-int"]
    assert ovs.vsctl("get", "interface", f"{prefix}-gnv0", "options:remote_ip").strip() == '"127.0.0.2"'
    snap = _snap(ovs)
    root = snap.root
    assert root is not None
    vm = "qemu-system-x86" if Path("/usr/bin/qemu-system-x86_64").exists() else "vntlab-holder"
    for tap in taps:
        (link,) = snap.find_links(tap, root.inode)
        assert link.tun is not None and [h.comm[:len(vm)] for h in link.tun.holders] == [vm]
        hit = snap.ovs_port_of(link.key)
        assert hit is not None and hit[0].name == br_int
        ids = dict(hit[2].external_ids)
        assert set(ids) == {"iface-id", "attached-mac", "vm-uuid", "iface-status"} and ids["iface-status"] == "active"
        assert ids["attached-mac"].startswith("fa:16:3e:")
    (meta,) = [n for n in named_netns() if n.startswith(f"{prefix}-ovnmeta-")]
    answer = run(["ip", "netns", "exec", meta, sys.executable, "-c",
                  "import socket; s = socket.create_connection(('169.254.169.254', 80), 5); "
                  "print(s.recv(200).decode())"]).stdout
    assert "vnettop lab metadata" in answer
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert all(e["outcome"] == "applied" for e in entries)
    assert sum(e["ip_command"].startswith("ovs-vsctl ") for e in entries) == 8
    status = _lab(prefix, "status", journal, _sock(ovs))
    assert status.returncode == 0 and f"ovs bridge {br_int} (netdev)" in status.stdout, status.stdout

    down = _lab(prefix, "down", journal, _sock(ovs))
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"  - ovs-vsctl del-br {br_int}" in down.stdout
    assert _host(ovs, prefix) == before
    assert not Path(f"/run/vnettop/{prefix}.json").exists()


def test_lab_down_after_a_crash_in_the_ovs_part_removes_it(ovs: Ovs, lab_prefix: str, tmp_path: Path) -> None:
    """`up` killed right after the first OVS bridge was made: the state file already names it."""
    prefix, journal = lab_prefix, tmp_path / "journal.jsonl"
    before = _host(ovs, prefix)
    code = (f"import sys; from vnettop.actions.lab import cli_lab; "
            f"sys.exit(cli_lab('up', {str(journal)!r}, prefix={prefix!r}, ovs=True, ovsdb={_sock(ovs)!r}))")
    env = dict(os.environ, VNETTOP_LAB_CRASH_AT="33",  # after 30-31 steps and processes, br-int...
               # ...counted without libvirt domains (each adds steps), even when a test libvirtd answers
               LIBVIRT_DEFAULT_URI="qemu+unix:///system?socket=/run/vnt-lab-test-no-libvirt.sock")
    crashed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                             timeout=180, env=env)
    assert crashed.returncode == 70, crashed.stdout + crashed.stderr
    assert f"{prefix}-br-int" in ovs.vsctl("list-br").split()
    down = _lab(prefix, "down", journal, _sock(ovs))
    assert down.returncode == 0, down.stdout + down.stderr
    assert _host(ovs, prefix) == before


def test_lab_down_without_its_state_file_still_removes_the_ovs_part(ovs: Ovs, lab_prefix: str,
                                                                    tmp_path: Path) -> None:
    """The state file lost: `down --ovsdb` finds the bridges, the root devices and the VMs by the prefix."""
    prefix, journal = lab_prefix, tmp_path / "journal.jsonl"
    before = _host(ovs, prefix)
    up = _lab(prefix, "up", journal, _sock(ovs))
    assert up.returncode == 0, up.stdout + up.stderr
    vms = [int(line.split("[")[1].split("]")[0]) for line in up.stdout.splitlines() if "+ ovs-vm" in line]
    assert len(vms) == 2
    Path(f"/run/vnettop/{prefix}.json").unlink()
    down = _lab(prefix, "down", journal, _sock(ovs))
    assert down.returncode == 0, down.stdout + down.stderr
    assert _host(ovs, prefix) == before
    assert not any(pid_alive(pid) for pid in vms)
