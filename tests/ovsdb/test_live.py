"""The OVSDB reader against a real ovsdb-server (Open vSwitch 3.1, from Debian's openvswitch-switch).

A private ovsdb-server per test (its own database file and socket in tmp_path; no ovs-vswitchd, so
nothing touches the kernel); changes are made with the real `ovs-vsctl --no-wait`, as an operator would.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernelkit import poll_until
from vnettop.ovsdb.jsonrpc import OvsdbError
from vnettop.ovsdb.monitor import Monitor, read_once

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


@dataclass
class Server:
    dir: Path
    sock: str
    pid: int

    def vsctl(self, *args: str) -> None:
        subprocess.run(["ovs-vsctl", f"--db=unix:{self.sock}", "--no-wait", "--timeout=10", *args],
                       check=True, capture_output=True, text=True)

    def dump(self) -> str:
        return subprocess.run(["ovsdb-client", "dump", f"unix:{self.sock}", "Open_vSwitch"], check=True,
                              capture_output=True, text=True, timeout=20).stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if shutil.which("ovsdb-server") is None or not os.path.exists(SCHEMA):
        if os.environ.get("CI") == "true":
            pytest.fail("ovsdb-server is missing on CI (Debian package openvswitch-switch)")
        pytest.skip("ovsdb-server not installed (Debian package openvswitch-switch)")
    d = tmp_path
    subprocess.run(["ovsdb-tool", "create", str(d / "conf.db"), SCHEMA], check=True)
    sock = str(d / "db.sock")
    subprocess.run(["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{sock}", f"--pidfile={d / 'pid'}",
                    f"--unixctl={d / 'ctl'}", f"--log-file={d / 'log'}", "--detach", "--no-chdir"],
                   check=True, capture_output=True)
    pid = int(poll_until(lambda: (d / "pid").exists() and (d / "pid").read_text().strip()))
    srv = Server(d, sock, pid)
    try:
        srv.vsctl("init")
        srv.vsctl("add-br", "vntbr-int", "--", "set", "bridge", "vntbr-int", "datapath_type=netdev",
                  "fail_mode=secure", "external_ids:bridge-id=br-int",
                  "--", "add-port", "vntbr-int", "vnttap1ec9dbb7", "tag=5",
                  "--", "set", "interface", "vnttap1ec9dbb7", "external_ids:iface-id=1ec9dbb7-e7a4",
                  "external_ids:attached-mac=fa:16:3e:85:f8:0c", "external_ids:vm-uuid=7f1e2d3c",
                  "--", "add-port", "vntbr-int", "vntpatch-tun",
                  "--", "set", "interface", "vntpatch-tun", "type=patch", "options:peer=vntpatch-int",
                  "--", "add-port", "vntbr-int", "vntgnv0", "trunks=10,20",
                  "--", "set", "interface", "vntgnv0", "type=geneve", "options:remote_ip=10.0.0.2",
                  "options:key=flow")
        yield srv
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_one_look_sees_bridges_ports_interfaces_with_their_columns(server: Server) -> None:
    view = read_once(server.sock)
    (br,) = view.bridges
    assert (br.name, br.datapath_type, br.fail_mode) == ("vntbr-int", "netdev", "secure")
    assert dict(br.external_ids) == {"bridge-id": "br-int"}
    ports = {p.name: p for p in br.ports}
    assert sorted(ports) == ["vntbr-int", "vntgnv0", "vntpatch-tun", "vnttap1ec9dbb7"]
    tap = ports["vnttap1ec9dbb7"]
    assert tap.tag == 5 and tap.trunks == ()
    (iface,) = tap.interfaces
    assert iface.type == "" and dict(iface.external_ids) == {
        "iface-id": "1ec9dbb7-e7a4", "attached-mac": "fa:16:3e:85:f8:0c", "vm-uuid": "7f1e2d3c"}
    assert ports["vntpatch-tun"].interfaces[0].option("peer") == "vntpatch-int"
    gnv = ports["vntgnv0"]
    assert gnv.trunks == (10, 20) and gnv.tag is None
    assert (gnv.interfaces[0].type, gnv.interfaces[0].option("remote_ip")) == ("geneve", "10.0.0.2")
    assert ports["vntbr-int"].interfaces[0].type == "internal"


def test_changes_arrive_as_events_and_a_quiet_database_costs_nothing(server: Server) -> None:
    mon = Monitor(server.sock)
    try:
        first = mon.view()
        assert mon.poll() is False and mon.view() is first  # nothing happened: nothing rebuilt
        poller = select.poll()
        poller.register(mon.fileno(), select.POLLIN)
        assert poller.poll(200) == []  # a quiet database sends nothing
        server.vsctl("add-port", "vntbr-int", "vnttap2", "tag=9")
        assert poller.poll(5000), "no update event after ovs-vsctl add-port"
        assert poll_until(mon.poll, timeout=5)
        ports = {p.name: p.tag for p in mon.view().bridges[0].ports}
        assert ports["vnttap2"] == 9
        server.vsctl("del-port", "vntbr-int", "vnttap1ec9dbb7")
        poll_until(lambda: mon.poll() or "vnttap1ec9dbb7" not in {p.name for p in mon.view().bridges[0].ports},
                   timeout=5)
        assert "vnttap1ec9dbb7" not in {p.name for p in mon.view().bridges[0].ports}
    finally:
        mon.close()


def test_reading_leaves_the_database_byte_identical(server: Server) -> None:
    before = server.dump()
    mon = Monitor(server.sock)
    mon.poll()
    mon.view()
    mon.close()
    read_once(server.sock)
    assert server.dump() == before


def test_a_killed_server_is_an_error_not_a_hang(server: Server) -> None:
    mon = Monitor(server.sock, timeout=1)
    try:
        os.kill(server.pid, signal.SIGKILL)
        start = time.monotonic()
        with pytest.raises(OvsdbError, match=r"closed the connection|connection lost"):
            poll_until(lambda: mon.poll() and False, timeout=5)
        assert time.monotonic() - start < 5
    finally:
        mon.close()
    with pytest.raises(OvsdbError, match=r"connection refused|no such socket"):
        read_once(server.sock, timeout=1)


def test_a_vanished_socket_is_named(server: Server) -> None:
    os.unlink(server.sock)
    with pytest.raises(OvsdbError, match=re.escape(f"{server.sock}: no such socket")):
        read_once(server.sock)


def test_each_change_rebuilds_only_what_it_touched_and_equals_a_fresh_build(server: Server) -> None:
    from vnettop.ovsdb.monitor import build_view

    mon = Monitor(server.sock)
    try:
        poller = select.poll()
        poller.register(mon.fileno(), select.POLLIN)
        edits = [
            ("set", "port", "vntgnv0", "tag=42"),  # a port row
            ("set", "interface", "vnttap1ec9dbb7", "external_ids:iface-status=active"),  # an interface row only
            ("add-port", "vntbr-int", "vntnew0"),  # rows added, the bridge's port set changed
            ("del-port", "vntbr-int", "vntpatch-tun"),  # rows removed
            ("add-br", "vntbr-ex", "--", "set", "bridge", "vntbr-ex", "datapath_type=netdev"),
        ]
        for edit in edits:
            before = {p.name: p for b in mon.view().bridges for p in b.ports}
            server.vsctl(*edit)
            poller.poll(5000)
            poll_until(mon.poll, timeout=5)
            after = mon.view()
            assert after == build_view(server.sock, mon.tables), edit  # incremental == from scratch
            now = {p.name: p for b in after.bridges for p in b.ports}
            touched = {edit[2]} if edit[0] == "set" else set()
            for name in ("vntbr-int", "vnttap1ec9dbb7", "vntgnv0"):
                if name in before and name in now and name not in touched:
                    assert now[name] is before[name], (edit, name)  # untouched: the same object
            if touched:
                assert now[edit[2]] is not before[edit[2]]
    finally:
        mon.close()


def test_a_statistics_write_updates_the_counters_and_keeps_the_view(server: Server) -> None:
    """What ovs-vswitchd does every 5 s, written here by hand (no ovs-vswitchd in this tier): the patch
    interface's statistics reach the counters map with the time they came, and the view is not rebuilt."""
    mon = Monitor(server.sock, clock=lambda: 1234.5)
    try:
        view = mon.view()
        uuid = next(i.uuid for p in view.bridges[0].ports for i in p.interfaces if i.name == "vntpatch-tun")
        first = mon.statistics()
        assert first is not None and uuid not in first.by_iface  # never written: unknown, not zeros
        server.vsctl("set", "interface", "vntpatch-tun", "statistics:rx_bytes=5000", "statistics:tx_bytes=7000",
                     "statistics:rx_packets=50", "statistics:tx_packets=70")
        poll_until(lambda: mon.poll() is False and mon.statistics() is not first, timeout=5)
        got = mon.statistics()
        assert got is not None and got.seen_at == 1234.5
        counters = got.by_iface[uuid]
        assert counters.get("rx_bytes") == 5000 and counters.get("tx_packets") == 70 and counters.at == 1234.5
        assert mon.view() is view  # the structure's replica did not move
    finally:
        mon.close()


def test_a_statistics_write_reaches_the_section_and_keeps_its_structure(server: Server) -> None:
    from vnettop.collect.sources.enrich import SourceSet
    from vnettop.collect.sources.ovs import OvsSource
    from vnettop.model import Host, Namespace, Snapshot

    base = Snapshot(Host("h", "k"), (Namespace(4026531840, (), True, ()),), ())
    sset = SourceSet([OvsSource("/", db=server.sock)])
    try:
        first = sset.enrich(base)
        assert first.ovs is not None and first.ovs.statistics is not None
        assert sset.enrich(base).ovs is first.ovs and sset.last_read == []  # unchanged: not read again
        server.vsctl("set", "interface", "vntgnv0", "statistics:rx_bytes=1", "statistics:tx_bytes=2")

        def arrived() -> Snapshot | None:
            snap = sset.enrich(base)
            return snap if snap.ovs is not None and snap.ovs.statistics is not first.ovs.statistics else None

        second = poll_until(arrived, timeout=5)
        assert second.ovs is not None and first.ovs is not None
        assert second.ovs.bridges is first.ovs.bridges and second.ovs == first.ovs
        uuid = next(i.uuid for p in second.ovs.bridges[0].ports for i in p.interfaces if i.name == "vntgnv0")
        got = second.ovs.counters(uuid)
        assert got is not None and got.get("tx_bytes") == 2 and got.at is not None
    finally:
        sset.close()
