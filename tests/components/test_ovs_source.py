"""The `ovs` source on a real Open vSwitch (netdev datapath): the join, the JSON and text outlets, live
following of `ovs-vsctl`, a server that dies or hangs mid-session, and a session that writes nothing.

The shared session switch (tests/components/ovs.py) gets the ports the join is about: an internal port
moved into a `vnt…` namespace with a same-name decoy in another, a patch pair to a second bridge, a
vxlan tunnel, and a Nova-style port with external_ids. The tests that kill or stop a server start their
own private switch.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.components.base import Component, component, poll_until, run
from tests.components.ovs import Ovs
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources import Enrichment, enrich
from vnettop.collect.sources.ovs import OvsSource
from vnettop.collect.sources.registry import make_sources
from vnettop.model import OvsIfaceEntry, Snapshot
from vnettop.render.json import snapshot_to_dict
from vnettop.render.text import render_text

pytestmark = pytest.mark.kernel

PORT_ID = "1ec9dbb7-e7a4-4d1b-9c55-0a2b3c4d5e6f"
VM_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def _sock(ovs: Ovs) -> str:
    return ovs.db.removeprefix("unix:")


def _collector(ovs: Ovs) -> LiveCollector:
    return LiveCollector(sources=make_sources("/", {"ovs": {"db": _sock(ovs)}}))


def _iface(snap: Snapshot, name: str) -> OvsIfaceEntry:
    assert snap.ovs is not None, [e.message for e in snap.errors]
    for bridge in snap.ovs.bridges:
        for port in bridge.ports:
            for iface in port.interfaces:
                if iface.name == name:
                    return iface
    raise AssertionError(f"OVS interface {name} not in the section")


def _ns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


@dataclass
class World:
    ovs: Ovs
    moved: str
    moved_ns: str
    decoy_ns: str
    bridge2: str
    patch1: str
    patch2: str
    vxlan: str
    nova: str


@pytest.fixture(scope="module")
def world(ovs: Ovs) -> Iterator[World]:
    comp = ovs.comp
    t = comp.tag
    moved, moved_ns, decoy_ns = comp.name("mv"), comp.name("nsm"), comp.name("nsd")
    bridge2, patch1, patch2, vxlan, nova = (comp.name(x) for x in ("b2", "pa", "pb", "vx", "nv"))
    assert t
    for ns in (moved_ns, decoy_ns):
        comp.record_netns(ns)
        run(["ip", "netns", "add", ns])
    for name in (moved, bridge2, nova):
        comp.record_link(name)
    v = ovs.vsctl
    v("add-port", ovs.bridge, moved, "--", "set", "interface", moved, "type=internal")
    v("add-br", bridge2, "--", "set", "bridge", bridge2, "datapath_type=netdev")
    v("add-port", ovs.bridge, patch1, "--", "set", "interface", patch1, "type=patch", f"options:peer={patch2}",
      "--", "add-port", bridge2, patch2, "--", "set", "interface", patch2, "type=patch", f"options:peer={patch1}")
    v("add-port", bridge2, vxlan, "--", "set", "interface", vxlan, "type=vxlan", "options:remote_ip=10.0.0.2",
      "options:key=5001")
    v("add-port", ovs.bridge, nova, "tag=5", "--", "set", "interface", nova, "type=internal",
      f"external_ids:iface-id={PORT_ID}", "external_ids:attached-mac=fa:16:3e:12:34:56",
      f"external_ids:vm-uuid={VM_ID}", "external_ids:iface-status=active",
      "--", "set", "port", nova, "other_config:net_uuid=ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c",
      "other_config:segmentation_id=1234")
    poll_until(lambda: os.path.exists(f"/sys/class/net/{moved}") and os.path.exists(f"/sys/class/net/{nova}"),
               timeout=20)
    run(["ip", "link", "set", moved, "netns", moved_ns])
    # the decoy: a device of the same name, in another namespace
    run(["ip", "-n", decoy_ns, "link", "add", moved, "type", "veth", "peer", "name", comp.name("dp")])
    yield World(ovs, moved, moved_ns, decoy_ns, bridge2, patch1, patch2, vxlan, nova)
    run(["ip", "netns", "exec", moved_ns, "ip", "link", "set", moved, "netns", "1"], check=False)
    for port in (moved, patch1, nova):
        v("--if-exists", "del-port", ovs.bridge, port)
    v("--if-exists", "del-br", bridge2)


def test_the_join_finds_the_moved_port_and_is_not_fooled_by_the_decoy(world: World) -> None:
    with _collector(world.ovs) as c:
        snap = c.collect()
    moved = _iface(snap, world.moved)
    assert moved.link is not None and moved.link.netns == _ns_inode(world.moved_ns), moved.link
    decoy = [ln for ln in snap.links if ln.name == world.moved and ln.netns == _ns_inode(world.decoy_ns)]
    assert len(decoy) == 1 and decoy[0].key != moved.link.key
    local = _iface(snap, world.ovs.bridge)
    root = snap.root
    assert root is not None and local.link is not None and local.link.netns == root.inode
    p1 = _iface(snap, world.patch1)
    assert p1.link is None and p1.peer is not None and (p1.peer.bridge, p1.peer.port) == (world.bridge2, world.patch2)
    vx = _iface(snap, world.vxlan)
    assert vx.link is None and vx.option("remote_ip") == "10.0.0.2" and vx.option("key") == "5001"
    assert snap.ovs is not None
    assert [d.link.name for d in snap.ovs.datapath_devices] == ["ovs-netdev"]
    assert not [e for e in snap.errors if e.scope == "source ovs"], snap.errors
    # the Nova-style port: exact owners, the port's parent is the VM
    owners = snap.owners or ()
    port = next(o for o in owners if o.kind == "neutron-port" and o.id == PORT_ID)
    nova = _iface(snap, world.nova)
    assert port.exact and port.source == "ovsdb external_ids" and nova.link is not None
    assert nova.link.key in port.links
    assert port.parent is not None and owners[port.parent].id == VM_ID


def test_the_section_in_json_and_the_text_dump(world: World) -> None:
    with _collector(world.ovs) as c:
        snap = c.collect()
    doc = json.loads(json.dumps(snapshot_to_dict(snap)))
    bridges = {b["name"]: b for b in doc["ovs"]["bridges"]}
    assert bridges[world.ovs.bridge]["datapath_type"] == "netdev"
    nova_port = next(p for p in bridges[world.ovs.bridge]["ports"] if p["name"] == world.nova)
    assert nova_port["tag"] == 5 and nova_port["interfaces"][0]["external_ids"]["iface-id"] == PORT_ID
    moved_link = next(ln for ln in doc["links"] if ln["name"] == world.moved
                      and ln["netns"] == _ns_inode(world.moved_ns))
    assert moved_link["ovs_port"] == {"bridge": world.ovs.bridge, "port": world.moved}
    decoy_link = next(ln for ln in doc["links"] if ln["name"] == world.moved
                      and ln["netns"] == _ns_inode(world.decoy_ns))
    assert decoy_link["ovs_port"] is None
    text = render_text(snap, ascii=True)
    assert f"ovs bridge {world.ovs.bridge}" in text and f"ovs bridge {world.bridge2}" in text
    assert f"= {world.moved} @ {world.moved_ns}" in text
    assert f"peer {world.bridge2}/{world.patch2}" in text and "remote 10.0.0.2" in text and "tag 5" in text
    out = run([sys.executable, "-m", "vnettop", "--ovsdb", _sock(world.ovs), "dump", "-f", "text", "--ascii"]).stdout
    assert f"= {world.moved} @ {world.moved_ns}" in out
    dot = run([sys.executable, "-m", "vnettop", "dump", "-f", "dot", "--ovsdb", _sock(world.ovs)]).stdout
    assert f"cluster_ovs_{world.bridge2}" in dot and "patch" in dot and "remote 10.0.0.2" in dot


def test_the_live_collector_follows_add_port_within_one_refresh(world: World) -> None:
    extra = world.ovs.comp.name("lp")
    with _collector(world.ovs) as c:
        c.collect()

        def quiet() -> bool:
            c.collect()
            return "ovs" not in c._sources.last_read

        # An unchanged OVSDB is not read again (retried only past a statistics write, every 5 s, which
        # makes the socket readable by design: its read costs no join, see the statistics test below).
        poll_until(quiet, timeout=12, interval=0.1)
        # a patch port has no kernel device: only OVSDB's monitor update can tell
        world.ovs.vsctl("add-port", world.bridge2, extra, "--", "set", "interface", extra, "type=patch",
                        "options:peer=nowhere")
        try:
            # OVSDB's monitor update makes the source's socket readable: that, not polling, brings it
            source = next(src for src in c._sources.sources if src.name == "ovs")
            poll_until(lambda: c._sources._fired(source), timeout=5)
            snap = c.collect()
            assert "ovs" in c._sources.last_read
            assert _iface(snap, extra).type == "patch"
        finally:
            world.ovs.vsctl("--if-exists", "del-port", world.bridge2, extra)


def _send_broadcast(dev: str) -> None:
    """One broadcast frame out of an OVS internal port of the session switch (a local experimental
    ethertype): NORMAL switching floods it to the bridge's other ports, the patch port among them."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((dev, 0))
        s.send(b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x88\xb5"
               + b"vnettop".ljust(46, b"\0"))


def test_patch_statistics_arrive_as_counters_and_keep_the_structure(world: World) -> None:
    """A patch port is no kernel device: its traffic is only in OVSDB's Interface.statistics, which
    ovs-vswitchd writes every 5 s. They reach the section; a write of them keeps the structure object."""
    run(["ip", "link", "set", world.nova, "up"])
    with _collector(world.ovs) as c:
        base = c.collect().kernel_picture()
    src = OvsSource(db=_sock(world.ovs))
    try:
        def iface_up() -> bool:
            part = src.read(base)
            assert part.ovs is not None
            return any(i.name == world.nova and i.link_state == "up" for b in part.ovs.bridges
                       for p in b.ports for i in p.interfaces)

        poll_until(iface_up, timeout=20)  # the structure's own update (link_state) is in before we start
        uuid = next(i.uuid for b in src.read(base).ovs.bridges  # type: ignore[union-attr]
                    for p in b.ports for i in p.interfaces if i.name == world.patch1)

        def written(after: float) -> Enrichment | None:
            _send_broadcast(world.nova)
            part = src.read(base)
            got = part.ovs.counters(uuid) if part.ovs is not None else None
            return part if got is not None and got.at is not None and got.at > after else None

        first = poll_until(lambda: written(0.0), timeout=20, interval=0.2)  # the first write we see
        assert first.ovs is not None
        one = first.ovs.counters(uuid)
        assert one is not None and one.at is not None and (one.get("tx_packets") or 0) > 0
        second = poll_until(lambda: written(one.at or 0.0), timeout=20, interval=0.2)  # the next one
        assert second.ovs is not None
        two = second.ovs.counters(uuid)
        assert two is not None and (two.get("tx_packets") or 0) > (one.get("tx_packets") or 0)
        assert second.ovs.bridges is first.ovs.bridges  # not rebuilt: the very same structure
        assert second.ovs == first.ovs and second.owners is first.owners
    finally:
        src.close()
    doc = snapshot_to_dict(enrich.apply(base, [("ovs", second)]))
    (patch,) = [i for b in doc["ovs"]["bridges"] for p in b["ports"] for i in p["interfaces"]
                if i["name"] == world.patch1]
    assert patch["link"] is None and patch["statistics"]["counters"]["tx_packets"] == two.get("tx_packets")
    assert patch["statistics"]["written_at"] is not None and doc["ovs"]["statistics_seen_at"] is not None
    with _collector(world.ovs) as c:  # and the live collector's snapshot carries them too
        snap = poll_until(lambda: (lambda s: s if s.ovs is not None and s.ovs.counters(uuid) else None)(
            c.collect()), timeout=10)
    assert snap.ovs is not None and snap.ovs.counters(uuid) is not None


def _dump(ovs: Ovs) -> list[object]:
    """Every table, minus what ovs-vswitchd rewrites by itself every few seconds (Interface statistics)."""
    out = run(["ovsdb-client", "-f", "json", "dump", ovs.db], env=ovs.env).stdout
    tables = [json.loads(line) for line in out.splitlines() if line.strip()]
    for table in tables:
        if table.get("caption") == "Interface table":
            i = table["headings"].index("statistics")
            for row in table["data"]:
                row[i] = None
    return tables


def test_a_read_only_session_leaves_ovsdb_byte_identical(world: World) -> None:
    before = _dump(world.ovs)
    with _collector(world.ovs) as c:
        for _ in range(3):
            c.collect()
    run([sys.executable, "-m", "vnettop", "--ovsdb", _sock(world.ovs), "dump", "-f", "json"])
    assert _dump(world.ovs) == before


@dataclass
class Db:
    """A private ovsdb-server alone (no ovs-vswitchd: a second netdev datapath would fight the session
    switch over the `ovs-netdev` tap), with one bridge row in it."""

    comp: Component
    sock: str
    env: dict[str, str]

    def start(self) -> int:
        d = self.comp.dir
        run(["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{self.sock}",
             f"--pidfile={d / 'ovsdb-server.pid'}", f"--unixctl={d / 'ovsdb-server.ctl'}",
             f"--log-file={d / 'ovsdb-server.log'}", "--detach", "--no-chdir"], env=self.env)
        return self.comp.wait_pidfile(d / "ovsdb-server.pid")


@pytest.fixture
def private_db() -> Iterator[tuple[Db, Ovs]]:
    with component("ovsdb") as comp:
        d = comp.dir
        env = dict(os.environ, OVS_RUNDIR=str(d), OVS_DBDIR=str(d), OVS_LOGDIR=str(d), OVS_SYSCONFDIR=str(d))
        run(["ovsdb-tool", "create", str(d / "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"], env=env)
        db = Db(comp, str(d / "db.sock"), env)
        db.start()
        fake = Ovs(comp, f"unix:{db.sock}", env, 0, comp.name("ob"), "")
        fake.vsctl("--no-wait", "init", "--", "add-br", fake.bridge, "--", "set", "bridge", fake.bridge,
                   "datapath_type=netdev")
        yield db, fake


def _ovsdb_pid(comp: Component) -> int:
    return int((comp.dir / "ovsdb-server.pid").read_text().strip())


def _bridges(snap: Snapshot) -> list[str]:
    return [b.name for b in snap.ovs.bridges] if snap.ovs is not None else []


def test_a_killed_vswitchd_is_said_and_the_switch_comes_back(world: World) -> None:
    ovs = world.ovs
    d = ovs.comp.dir
    with _collector(ovs) as c:
        assert not [e for e in c.collect().errors if "ovs-vswitchd" in e.message]
        os.kill(ovs.vswitchd_pid, signal.SIGKILL)
        try:
            def said() -> Snapshot | None:
                got = c.collect()
                return got if any("ovs-vswitchd is not running" in e.message for e in got.errors) else None

            snap = poll_until(said, timeout=15)
            assert snap.ovs is not None  # OVSDB itself still answers: the configuration is still true
        finally:
            (d / "ovs-vswitchd.pid").unlink(missing_ok=True)
            run(["ovs-vswitchd", ovs.db, f"--pidfile={d / 'ovs-vswitchd.pid'}",
                 f"--unixctl={d / 'ovs-vswitchd.ctl'}", f"--log-file={d / 'ovs-vswitchd.log'}", "--detach",
                 "--no-chdir"], env=ovs.env)
            ovs.vswitchd_pid = ovs.comp.wait_pidfile(d / "ovs-vswitchd.pid")
        poll_until(lambda: not any("ovs-vswitchd" in e.message for e in c.collect().errors), timeout=20)


def test_a_vanished_socket_gives_the_picture_without_ovs_and_one_error(private_db: tuple[Db, Ovs]) -> None:
    db, fake = private_db
    with LiveCollector(sources=make_sources("/", {"ovs": {"db": db.sock}})) as c:
        assert _bridges(c.collect()) == [fake.bridge]
        os.kill(_ovsdb_pid(db.comp), signal.SIGTERM)  # it removes its socket as it goes
        poll_until(lambda: not os.path.exists(db.sock), timeout=10)
        t = time.monotonic()
        snap = c.collect()
        assert time.monotonic() - t < 3
        assert snap.ovs is None and snap.links
        mine = [e for e in snap.errors if e.scope == "source ovs"]
        assert len(mine) == 1 and db.sock in mine[0].message, mine
        db.start()  # a restarted server is read again
        again = poll_until(lambda: (s := c.collect()).ovs is not None and s, timeout=15)
        assert _bridges(again) == [fake.bridge]


def test_a_hung_or_refusing_server_costs_a_deadline_never_a_hang(private_db: tuple[Db, Ovs]) -> None:
    db, _fake = private_db
    pid = _ovsdb_pid(db.comp)
    os.kill(pid, signal.SIGSTOP)  # hung: connects are accepted by the kernel, nothing answers
    try:
        with LiveCollector(sources=make_sources("/", {"ovs": {"db": db.sock}})) as c:
            t = time.monotonic()
            snap = c.collect()
            took = time.monotonic() - t
        assert took < 5, took
        assert snap.ovs is None and any(db.sock in e.message and "no answer" in e.message
                                        for e in snap.errors if e.scope == "source ovs"), snap.errors
    finally:
        os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGKILL)  # the socket file stays behind: connections are refused
    with LiveCollector(sources=make_sources("/", {"ovs": {"db": db.sock}})) as c:
        snap = c.collect()
    assert snap.ovs is None and any(db.sock in e.message for e in snap.errors if e.scope == "source ovs")
