"""Open vSwitch, userspace datapath: its ports are taps that vnettop shows held by ovs-vswitchd."""

from __future__ import annotations

import pytest

from tests.components.ovs import Ovs
from tests.components.snap import collect, link_in

pytestmark = pytest.mark.kernel


def test_bridge_and_internal_port_are_taps_held_by_ovs_vswitchd(ovs: Ovs) -> None:
    snap = collect()
    root = next(ns.inode for ns in snap.namespaces if ns.root)
    for name in (ovs.bridge, ovs.internal, "ovs-netdev"):
        link = link_in(snap, name, root)
        assert link.tun is not None and link.tun.type == "tap", f"{name}: {link.kind}"
        pids = {h.pid for h in link.tun.holders}
        assert ovs.vswitchd_pid in pids, f"{name} holders {pids}, ovs-vswitchd is {ovs.vswitchd_pid}"
        holder = next(h for h in link.tun.holders if h.pid == ovs.vswitchd_pid)
        assert holder.exact and holder.comm.startswith("ovs-vswitchd")
    # The userspace datapath gives its ports no rtnetlink master: membership lives only in OVSDB.
    assert link_in(snap, ovs.internal, root).master is None
    assert ovs.internal in ovs.vsctl("list-ports", ovs.bridge).split()
