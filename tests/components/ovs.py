"""A private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace `netdev` datapath) for one session.

There is no openvswitch kernel module on this machine kind, so every bridge has `datapath_type=netdev`:
ovs-vswitchd then opens a persistent tap for the bridge's local port, one per internal port, and one
named `ovs-netdev` (the datapath's own). Those taps outlive the daemon, so they are recorded and removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.components.base import Component, component, need_binary, need_root, poll_until, root_links, run


@dataclass
class Ovs:
    comp: Component
    db: str  # "unix:/tmp/.../db.sock", what ovs-vsctl --db takes
    env: dict[str, str]
    vswitchd_pid: int
    bridge: str
    internal: str

    def vsctl(self, *args: str) -> str:
        return run(["ovs-vsctl", f"--db={self.db}", "--timeout=20", *args], env=self.env).stdout


def start_ovs(comp: Component) -> Ovs:
    need_root("Open vSwitch (netdev datapath taps)")
    need_binary("ovsdb-server", "openvswitch-switch")
    need_binary("ovs-vswitchd", "openvswitch-switch")
    d = comp.dir
    # OVS_RUNDIR etc. keep every default path (ctl sockets, pid files, logs) inside the private dir.
    env = dict(os.environ, OVS_RUNDIR=str(d), OVS_DBDIR=str(d), OVS_LOGDIR=str(d), OVS_SYSCONFDIR=str(d))
    ovs_netdev_before = "ovs-netdev" in root_links()
    run(["ovsdb-tool", "create", str(d / "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"], env=env)
    sock = d / "db.sock"
    run(["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{sock}", f"--pidfile={d / 'ovsdb-server.pid'}",
         f"--unixctl={d / 'ovsdb-server.ctl'}", f"--log-file={d / 'ovsdb-server.log'}", "--detach",
         "--no-chdir"], env=env)
    comp.wait_pidfile(d / "ovsdb-server.pid")
    db = f"unix:{sock}"
    run(["ovs-vsctl", f"--db={db}", "--no-wait", "init"], env=env)
    run(["ovs-vswitchd", db, f"--pidfile={d / 'ovs-vswitchd.pid'}", f"--unixctl={d / 'ovs-vswitchd.ctl'}",
         f"--log-file={d / 'ovs-vswitchd.log'}", "--detach", "--no-chdir"], env=env)
    pid = comp.wait_pidfile(d / "ovs-vswitchd.pid")
    bridge, internal = comp.name("ob"), comp.name("oi")
    # Recorded before they exist: they are made by ovs-vswitchd as soon as the transaction lands.
    comp.record_link(bridge)
    comp.record_link(internal)
    if not ovs_netdev_before:
        comp.record_link("ovs-netdev")
    ovs = Ovs(comp, db, env, pid, bridge, internal)
    ovs.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
              "--", "add-port", bridge, internal, "--", "set", "interface", internal, "type=internal")
    poll_until(lambda: {bridge, internal} <= root_links(), timeout=20)
    return ovs


@pytest.fixture(scope="session")
def ovs() -> Iterator[Ovs]:
    with component("ovs") as comp:
        yield start_ovs(comp)


__all__ = ["Ovs", "ovs", "start_ovs"]
