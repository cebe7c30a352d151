"""OVS plans without an OVS: their `ovs-vsctl` text and validation, the transactions they become, their
guards on recorded OVSDB replies, and the gate's order (read-only refuses before any socket is opened;
a hung OVSDB gives one line naming the socket) against a unix socket that only records."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests import ovs_replies as rec
from vnettop.actions import guards, ovs_executor, ovs_guards
from vnettop.actions import ovs_plans as op
from vnettop.actions import plans as p
from vnettop.actions.guards import SshContext
from vnettop.actions.journal import Journal
from vnettop.actions.mutator import Mutator
from vnettop.collect.sources.ovs import join
from vnettop.errors import ReadOnlyError, ValidationError
from vnettop.model import Snapshot, TunHolder
from vnettop.ovsdb import transact as tx


@pytest.mark.parametrize(("plan", "command"), [
    (op.CreateOvsBridge("vntb0"), "ovs-vsctl add-br vntb0"),
    (op.CreateOvsBridge("vntb0", "netdev"), "ovs-vsctl add-br vntb0 -- set bridge vntb0 datapath_type=netdev"),
    (op.DeleteOvsBridge("vntb0"), "ovs-vsctl del-br vntb0"),
    (op.AddOvsPort("vntb0", "vntp0"), "ovs-vsctl add-port vntb0 vntp0"),
    (op.AddOvsPort("vntb0", "vntp0", type="internal", tag=5),
     "ovs-vsctl add-port vntb0 vntp0 tag=5 -- set interface vntp0 type=internal"),
    (op.AddOvsPort("vntb0", "patch-br-int-to-provnet-1", type="patch", options="peer=x"),
     "ovs-vsctl add-port vntb0 patch-br-int-to-provnet-1 -- set interface patch-br-int-to-provnet-1 type=patch "
     "options:peer=x"),
    (op.AddOvsPort("vntb0", "vntt0", external_ids="iface-id=1ec9 attached-mac=fa:16:3e:00:00:01"),
     "ovs-vsctl add-port vntb0 vntt0 -- set interface vntt0 external_ids:attached-mac=fa:16:3e:00:00:01 "
     "external_ids:iface-id=1ec9"),
    (op.DeleteOvsPort("vntp0"), "ovs-vsctl del-port vntp0"),
    (op.DeleteOvsPort("vntp0", "vntb0"), "ovs-vsctl del-port vntb0 vntp0"),
    (op.SetOvsTag("vntp0", 7), "ovs-vsctl set port vntp0 tag=7"),
    (op.SetOvsTag("vntp0", None), "ovs-vsctl clear port vntp0 tag"),
])
def test_each_plan_prints_its_ovs_vsctl_command_and_round_trips(plan: op.OvsPlan, command: str) -> None:
    plan.validate()
    assert plan.ip_command() == command
    assert p.plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize(("plan", "field"), [
    (op.CreateOvsBridge("vnt-way-too-long-a"), "bridge name"),
    (op.CreateOvsBridge("vntb0", "dpdk"), "datapath type"),
    (op.AddOvsPort("vntb0", "vnt-way-too-long-a", type="internal"), "port name"),
    (op.AddOvsPort("vntb0", "vntp0", tag=4096), "tag"),
    (op.AddOvsPort("vntb0", "vntp0", type="patch"), "peer=PORT"),
    (op.AddOvsPort("vntb0", "vntp0", type="geneve", options="key=flow"), "remote_ip"),
    (op.AddOvsPort("vntb0", "vntp0", external_ids="iface-id"), "key=value"),
    (op.AddOvsPort("vntb0", "vntp0", external_ids="x=a;rm"), "the value may hold"),
    (op.AddOvsPort("vntb0", "vntb0"), "local port"),
    (op.DeleteOvsPort("vnt p0"), "spaces"),
    (op.SetOvsTag("vntp0", -1), "tag"),
])
def test_bad_input_is_refused_naming_the_field(plan: op.OvsPlan, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        plan.validate()


def test_deletions_need_the_name_typed() -> None:
    assert op.DeleteOvsBridge("vntb0").destructive and op.DeleteOvsBridge("vntb0").confirm_text == "vntb0"
    assert op.DeleteOvsPort("vntp0").confirm_text == "vntp0"
    assert not op.AddOvsPort.destructive and not op.SetOvsTag.destructive


# -- transactions -----------------------------------------------------------------------------------


def _switch() -> tx.Switch:
    sw = tx.Switch(root="r0", root_bridges=["b1"], next_cfg=3, cur_cfg=3)
    sw.bridges["vntb1"] = ("b1", ["p1", "p2"])
    sw.ports["p1"] = tx.PortRow("p1", "vntb1", ["i1"], None)
    sw.ports["p2"] = tx.PortRow("p2", "vntp2", ["i2"], 5)
    sw.interfaces.update({"i1": "vntb1", "i2": "vntp2"})
    return sw


def _ops(ops: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in ops if o["op"] == kind]


def test_add_bridge_inserts_bridge_local_port_and_interface_like_ovs_vsctl() -> None:
    ops = tx.add_bridge(_switch(), "vntb2", "netdev")
    inserts = {o["table"]: o for o in _ops(ops, "insert")}
    assert inserts["Interface"]["row"] == {"name": "vntb2", "type": "internal"}
    assert inserts["Port"]["row"]["interfaces"] == ["named-uuid", inserts["Interface"]["uuid-name"]]
    assert inserts["Bridge"]["row"] == {"name": "vntb2", "datapath_type": "netdev",
                                        "ports": ["named-uuid", inserts["Port"]["uuid-name"]]}
    (mutate,) = _ops(ops, "mutate")
    assert mutate["table"] == "Open_vSwitch" and mutate["where"] == [["_uuid", "==", ["uuid", "r0"]]]
    assert mutate["mutations"] == [["bridges", "insert", ["set", [["named-uuid", inserts["Bridge"]["uuid-name"]]]]]]
    # the name is verified free at commit time, not only when read
    assert {(w["table"], w["where"][0][2]) for w in _ops(ops, "wait")} >= {("Bridge", "vntb2"), ("Port", "vntb2")}


def test_delete_bridge_detaches_it_and_leaves_the_rows_to_garbage_collection() -> None:
    ops = tx.del_bridge(_switch(), "vntb1")
    assert _ops(ops, "delete") == [] and _ops(ops, "insert") == []
    (mutate,) = _ops(ops, "mutate")
    assert mutate["mutations"] == [["bridges", "delete", ["set", [["uuid", "b1"]]]]]
    (wait,) = _ops(ops, "wait")
    assert wait["table"] == "Bridge" and wait["rows"] == [{"name": "vntb1", "ports": ["set", [["uuid", "p1"],
                                                                                             ["uuid", "p2"]]]}]


def test_add_port_carries_tag_type_options_and_external_ids() -> None:
    ops = tx.add_port(_switch(), "vntb1", "vntp3", "patch", 7, (("peer", "x"),), (("iface-id", "u1"),))
    inserts = {o["table"]: o["row"] for o in _ops(ops, "insert")}
    assert inserts["Port"]["tag"] == 7
    assert inserts["Interface"] == {"name": "vntp3", "type": "patch", "options": ["map", [["peer", "x"]]],
                                    "external_ids": ["map", [["iface-id", "u1"]]]}
    (mutate,) = _ops(ops, "mutate")
    assert mutate["table"] == "Bridge" and mutate["mutations"][0][:2] == ["ports", "insert"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda sw: tx.add_bridge(sw, "vntb1", None), "a bridge named vntb1 already exists"),
    (lambda sw: tx.add_bridge(sw, "vntp2", None), "a port named vntp2 already exists on bridge vntb1"),
    (lambda sw: tx.add_port(sw, "vntnone", "vntp9", "", None), "no OVS bridge named vntnone"),
    (lambda sw: tx.add_port(sw, "vntb1", "vntp2", "", None), "a port named vntp2 already exists"),
    (lambda sw: tx.del_port(sw, "vntp2", "vntb9"), "is on bridge vntb1, not on vntb9"),
    (lambda sw: tx.del_port(sw, "vntb1", None), "local port of bridge vntb1"),
    (lambda sw: tx.del_bridge(sw, "vntb9"), "no OVS bridge named vntb9"),
    (lambda sw: tx.set_tag(sw, "vntb1", None), "has no tag to clear"),
])
def test_changes_that_do_not_fit_the_switch_are_refused_in_one_line(call: Any, message: str) -> None:
    with pytest.raises(tx.StateError, match=message):
        call(_switch())


def test_set_and_clear_a_tag() -> None:
    (update,) = _ops(tx.set_tag(_switch(), "vntp2", 9), "update")
    assert update["row"] == {"tag": 9} and update["where"] == [["_uuid", "==", ["uuid", "p2"]]]
    (update,) = _ops(tx.set_tag(_switch(), "vntp2", None), "update")
    assert update["row"] == {"tag": ["set", []]}


# -- guards ------------------------------------------------------------------------------------------


def _ovs_node() -> Snapshot:
    base = rec.kernel_datapath_host()
    section, _owners, errors = join(rec.view_of(rec.KERNEL_DATAPATH), base)
    assert errors == ()
    return replace(base, ovs=section)


VIA_BR_INT = SshContext(client="198.51.100.7", server="192.0.2.10", route_ifindex=4)  # br-int's local port
VIA_BR_TUN = SshContext(client="198.51.100.7", server="192.0.2.10", route_ifindex=5)


def _codes(plan: p.Plan, snap: Snapshot, ssh: SshContext | None) -> set[tuple[str, str]]:
    return {(w.code, w.subject) for w in guards.check(plan, snap, ssh)}


def test_deleting_the_bridge_whose_local_port_carries_ssh_warns() -> None:
    snap = _ovs_node()
    got = _codes(op.DeleteOvsBridge("br-int"), snap, VIA_BR_INT)
    assert ("ssh-route", "br-int") in got and ("tap-held", rec.TAP) in got
    assert ("ssh-route", "br-int") not in _codes(op.DeleteOvsBridge("br-int"), snap, VIA_BR_TUN)
    assert _codes(op.DeleteOvsBridge("br-tun"), snap, VIA_BR_INT) == set()


def test_a_system_port_of_the_ssh_bridge_may_be_its_uplink() -> None:
    snap = _ovs_node()
    assert ("ssh-route", rec.TAP) in _codes(op.DeleteOvsPort(rec.TAP), snap, VIA_BR_INT)
    assert ("ssh-route", rec.TAP) in _codes(op.SetOvsTag(rec.TAP, 9), snap, VIA_BR_INT)
    # a patch port is no uplink; without SSH only the held tap speaks
    assert _codes(op.DeleteOvsPort("patch-tun"), snap, VIA_BR_INT) == set()
    assert _codes(op.DeleteOvsPort(rec.TAP), snap, None) == {("tap-held", rec.TAP)}
    assert _codes(op.SetOvsTag(rec.TAP, 9), snap, None) == set()


def test_without_ovsdb_the_guard_says_it_cannot_tell() -> None:
    snap = replace(_ovs_node(), ovs=None)
    assert _codes(op.DeleteOvsBridge("br-int"), snap, VIA_BR_INT) == {("guard-unavailable", "br-int")}
    assert _codes(op.DeleteOvsBridge("br-int"), snap, None) == set()
    assert not ovs_guards.can_warn(op.CreateOvsBridge("x")) and guards.can_warn(op.SetOvsTag("x"))


# -- the gate, against a socket that records ---------------------------------------------------------


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A unix socket that accepts nothing by itself: a client connecting to it stays in its backlog."""
    path = str(tmp_path / "db.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.setblocking(False)
    yield path, srv
    srv.close()


def _connections(srv: socket.socket) -> list[bytes]:
    """What each client that connected so far sent."""
    out = []
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return out
        conn.settimeout(1)
        try:
            out.append(conn.recv(65536))
        except (TimeoutError, OSError):
            out.append(b"")
        conn.close()


@pytest.mark.parametrize("plan", [op.CreateOvsBridge("vntb0", "netdev"), op.DeleteOvsBridge("vntb0"),
                                  op.AddOvsPort("vntb0", "vntp0"), op.SetOvsTag("vntp0", 3)])
def test_read_only_refuses_before_opening_the_socket(listener: tuple[str, socket.socket], tmp_path: Path,
                                                     plan: op.OvsPlan) -> None:
    path, srv = listener
    journal = Journal(str(tmp_path / "j.jsonl"))
    mutator = Mutator(True, journal, ovsdb=path)
    assert mutator.check(plan) == []
    with pytest.raises(ReadOnlyError, match="read-only"):
        mutator.apply(plan, confirmed_warnings=["ssh-route:x"])
    assert _connections(srv) == []
    (entry,) = list(journal.entries())
    assert entry["outcome"] == "refused-read-only" and entry["ip_command"] == plan.ovs_vsctl()


def test_a_hung_ovsdb_gives_one_line_naming_the_socket(listener: tuple[str, socket.socket], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The control of the test above: writable, the same plan does reach the socket (and gives up)."""
    path, srv = listener
    monkeypatch.setattr(ovs_executor, "TIMEOUT", 0.3)
    journal = Journal(str(tmp_path / "j.jsonl"))
    result = Mutator(False, journal, ovsdb=path).apply(op.CreateOvsBridge("vntb0", "netdev"))
    assert not result.ok and result.message == f"{path}: no answer within 0.3 s"
    (sent,) = _connections(srv)
    assert b'"method":"transact"' in sent and b'"op":"select"' in sent and b'"insert"' not in sent
    (entry,) = list(journal.entries())
    assert entry["outcome"] == "failed" and entry["plan"]["plan"] == "CreateOvsBridge"


def test_no_ovsdb_at_all_is_one_line(tmp_path: Path) -> None:
    mutator = Mutator(False, None, ovsdb=str(tmp_path / "none.sock"), environ={})
    result = mutator.apply(op.DeleteOvsPort("vntp0"), snapshot=_ovs_node())
    assert not result.ok and result.message == f"{tmp_path / 'none.sock'}: no such socket (is ovsdb-server running?)"


def test_taps_held_by_ovs_vswitchd_itself_are_not_a_cut_off_process() -> None:
    """The userspace datapath holds its internal and local ports' taps: removing them cuts no VM."""
    snap = _ovs_node()
    links = tuple(replace(ln, tun=replace(ln.tun, holders=(TunHolder(77, "ovs-vswitchd", (40,)),)))
                  if ln.name == rec.TAP and ln.tun is not None else ln for ln in snap.links)
    assert _codes(op.DeleteOvsPort(rec.TAP), replace(snap, links=links), None) == set()


def test_lab_up_ovs_without_ovsdb_says_so_in_one_line_and_builds_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from vnettop.actions import lab

    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path / "state"))
    made: list[str] = []
    monkeypatch.setattr(lab.Lab, "up", lambda self, mutator: made.append("up") or 0)
    journal = tmp_path / "j.jsonl"
    sock = tmp_path / "db.sock"
    assert lab.cli_lab("up", str(journal), prefix="vntlabT", ovs=True, ovsdb=str(sock)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{sock}: no such socket" in err and "start it with" in err
    assert "nothing was built" in err
    assert made == [] and not journal.exists() and not (tmp_path / "state").exists()
    assert lab.cli_lab("up", str(journal), prefix="vntlabTOOLONG", ovs=True, ovsdb=str(sock)) == 1
    assert "too long for --ovs" in capsys.readouterr().err and made == []
