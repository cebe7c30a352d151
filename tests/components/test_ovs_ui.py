"""The TUI and the trace through a real Open vSwitch (netdev datapath, the session switch of
tests/components/ovs.py): an internal port tagged 5 on the session bridge, a real patch pair to a second
bridge with a vxlan tunnel. The trace crosses the patch pair to the tunnel; the live app shows a port
that `ovs-vsctl add-port` adds (polled, no sleep), and `p` crosses the real patch pair.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.components.base import poll_until, run
from tests.components.ovs import Ovs
from tests.ui.helpers import started, wait_for
from vnettop import ovsgraph, topology
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Snapshot
from vnettop.ui.app import build_app
from vnettop.ui.targets import Target
from vnettop.ui.widgets.topology_tree import TopologyTree

pytestmark = pytest.mark.kernel


@dataclass
class Pair:
    ovs: Ovs
    inner: str  # internal port on the session bridge, tag 5: a kernel device (a tap ovs-vswitchd holds)
    bridge2: str
    patch1: str
    patch2: str
    vxlan: str


def _sock(ovs: Ovs) -> str:
    return ovs.db.removeprefix("unix:")


def _collector(ovs: Ovs) -> LiveCollector:
    return LiveCollector(sources=make_sources("/", {"ovs": {"db": _sock(ovs)}}))


@pytest.fixture(scope="module")
def pair(ovs: Ovs) -> Iterator[Pair]:
    comp = ovs.comp
    inner, bridge2, patch1, patch2, vxlan = (comp.name(x) for x in ("ui", "ub", "up", "uq", "ux"))
    for name in (inner, bridge2):
        comp.record_link(name)
    v = ovs.vsctl
    v("add-port", ovs.bridge, inner, "tag=5", "--", "set", "interface", inner, "type=internal")
    v("add-br", bridge2, "--", "set", "bridge", bridge2, "datapath_type=netdev")
    v("add-port", ovs.bridge, patch1, "--", "set", "interface", patch1, "type=patch", f"options:peer={patch2}",
      "--", "add-port", bridge2, patch2, "--", "set", "interface", patch2, "type=patch", f"options:peer={patch1}")
    v("add-port", bridge2, vxlan, "--", "set", "interface", vxlan, "type=vxlan", "options:remote_ip=10.0.0.2",
      "options:key=5001")
    poll_until(lambda: os.path.exists(f"/sys/class/net/{inner}"), timeout=20)
    yield Pair(ovs, inner, bridge2, patch1, patch2, vxlan)
    for port in (inner, patch1):
        v("--if-exists", "del-port", ovs.bridge, port)
    v("--if-exists", "del-br", bridge2)


def _hit(snap: Snapshot, name: str) -> ovsgraph.OvsHit:
    found = ovsgraph.bridges_by_name(snap, name)
    assert found, [e.message for e in snap.errors]
    return found[0]


def test_the_trace_crosses_the_real_patch_pair_to_the_tunnel(pair: Pair) -> None:
    with _collector(pair.ovs) as c:
        snap = c.collect()
    inner = next(link for link in snap.links if link.name == pair.inner)
    hops = [(h.kind, h.label) for h in topology.trace(snap, inner)]
    bridge = f"{pair.ovs.bridge} (tag 5)"
    assert ("ovs-bridge", bridge) in hops, hops
    at = hops.index(("ovs-bridge", bridge))
    assert hops.index(("ovs-port", pair.patch1)) > at
    assert hops.index(("ovs-bridge", pair.bridge2)) > hops.index(("ovs-port", pair.patch1))
    assert ("ovs-port", pair.vxlan) in hops
    note = next(h.note for h in topology.trace(snap, inner) if h.label == pair.vxlan)
    assert note.startswith("vxlan to 10.0.0.2 key 5001")
    # the same from the command line, starting at the far patch port (no kernel device)
    out = run([sys.executable, "-m", "vnettop", "--ovsdb", _sock(pair.ovs), "trace", pair.patch2, "--ascii"]).stdout
    assert out.splitlines()[0] == f"trace from OVS interface on {pair.bridge2}: {pair.patch2}"
    assert f"{pair.ovs.bridge}  OVS bridge, netdev datapath" in out and pair.inner in out


def test_the_live_tree_follows_add_port_and_p_crosses_the_patch_pair(pair: Pair) -> None:
    asyncio.run(_live_session(pair))


async def _live_session(pair: Pair) -> None:
    extra = pair.ovs.comp.name("un")
    collector = _collector(pair.ovs)
    app = build_app(collector, None, read_only=True, interval=1.0)
    try:
        async with app.run_test(size=(140, 44)) as pilot:
            await started(pilot)
            snap = app.snapshot
            assert snap is not None
            patch1 = Target.ovs(_hit(snap, pair.patch1).uuid)
            tree = app.main_query(TopologyTree)
            assert patch1 in tree.order()
            app.jump_to(patch1)
            await pilot.press("p")
            assert app.current_target() == Target.ovs(_hit(snap, pair.patch2).uuid)
            await pilot.press("b")
            assert app.current_target() == Target.ovs(_hit(snap, pair.bridge2).uuid)
            # a port with no kernel device: only OVSDB's monitor update can bring it to the screen
            pair.ovs.vsctl("add-port", pair.bridge2, extra, "tag=7", "--", "set", "interface", extra,
                           "type=patch", "options:peer=nowhere")
            try:
                def shown() -> bool:
                    now = app.snapshot
                    if now is None or not ovsgraph.bridges_by_name(now, extra):
                        return False
                    return Target.ovs(_hit(now, extra).uuid) in tree.order()

                await wait_for(pilot, shown, timeout=20)
            finally:
                pair.ovs.vsctl("--if-exists", "del-port", pair.bridge2, extra)
            await wait_for(pilot, lambda: app.snapshot is not None
                           and not ovsgraph.bridges_by_name(app.snapshot, extra), timeout=20)
    finally:
        collector.close()
