"""Scenes: recorded snapshots + key presses that put the app in a known state.

The SVG snapshot tests (`test_snapshots.py`) and the README screenshots (`screenshots/make_screenshots.py`)
are both made from these, so a screenshot can never show something the tests do not check. Everything
is fixed: the snapshots' clock, PIDs and host names come from fixtures, never from this machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from textual.pilot import Pilot

from tests.fixtures_snapshots import ROOT as FX_ROOT
from tests.fixtures_snapshots import compute_node
from tests.ui.fakes import FakeCollector, RecordingMutator, later, with_links
from tests.ui.fleet_fixture import fleet_state
from tests.ui.helpers import wait_for
from vnettop.actions.guards import GuardWarning
from vnettop.demo import QDHCP, ROOT, demo_snapshot
from vnettop.demo_ovs import ROOT as OVS_ROOT
from vnettop.demo_ovs import ovs_snapshot
from vnettop.demo_ovs import uuid as ovs_uuid
from vnettop.model import Link, Snapshot, Stats
from vnettop.ui.app import VnettopApp, build_app
from vnettop.ui.fleet_hosts import FleetState
from vnettop.ui.targets import Target
from vnettop.ui.timeline import RecordingCollector, Timeline

Steps = Callable[[Pilot[Any], FakeCollector], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    """One reproducible screen."""

    name: str
    caption: str
    snapshot: Callable[[], Snapshot]
    steps: Steps | None = None
    size: tuple[int, int] = (120, 36)
    read_only: bool = True
    mutator: Callable[[], Any] | None = None
    notice: str | None = None
    source_label: str = "live"
    #: A fleet file's hosts (`--load fleet.jsonl`): the app opens on the hosts view and polls nothing.
    fleet: Callable[[], FleetState] | None = None
    #: A recording (`--load REC`): its collector at the moment it opens at (tests/ui/recording_fixture.py).
    recording: Callable[[], RecordingCollector] | None = None

    def build(self) -> tuple[VnettopApp, FakeCollector]:
        if self.recording is not None:
            moments = self.recording()
            app = build_app(moments, None, read_only=True, notice=self.notice, source_label=self.source_label,
                            timeline=moments.timeline)
            return app, cast(FakeCollector, moments)
        collector = FakeCollector(self.snapshot())
        mutator = self.mutator() if self.mutator else None
        app = build_app(collector, mutator, read_only=self.read_only, notice=self.notice,
                        source_label=self.source_label, interval=1.0,
                        fleet=self.fleet() if self.fleet is not None else None)
        return app, collector

    def run_before(self, collector: FakeCollector) -> Callable[[Pilot[Any]], Awaitable[None]]:
        """What snap_compare / the screenshot script run before taking the picture."""

        async def run(pilot: Pilot[Any]) -> None:
            app = pilot.app
            assert isinstance(app, VnettopApp)
            fleet = app.fleet
            if fleet is None:
                await wait_for(pilot, lambda: app.polls >= 1)
            else:  # every host counted, so the picture never catches a row half-way
                await wait_for(pilot, lambda: fleet.to_summarize() == 0)
            if self.steps is not None:
                await self.steps(pilot, collector)
            await pilot.pause()
            app.clear_notifications()
            await pilot.pause()

        return run


async def _feed(pilot: Pilot[Any], collector: FakeCollector, snap: Snapshot) -> None:
    app = pilot.app
    assert isinstance(app, VnettopApp)
    collector.change(snap)
    await wait_for(pilot, lambda: app.snapshot is snap)


def _jump(target: Target, *keys: str) -> Steps:
    async def steps(pilot: Pilot[Any], collector: FakeCollector) -> None:
        app = pilot.app
        assert isinstance(app, VnettopApp)
        app.jump_to(target)
        await pilot.press(*keys)
        await pilot.pause()

    return steps


def _view_then_jump(view: str, target: Target) -> Steps:
    async def steps(pilot: Pilot[Any], collector: FakeCollector) -> None:
        app = pilot.app
        assert isinstance(app, VnettopApp)
        await pilot.press(view)
        await pilot.pause()
        app.jump_to(target)
        await pilot.pause()

    return steps


def _keys(*keys: str) -> Steps:
    async def steps(pilot: Pilot[Any], collector: FakeCollector) -> None:
        await pilot.press(*keys)
        await pilot.pause()

    return steps


TAP0 = Target.link(ROOT, 6)
OVS_TAP = Target.link(OVS_ROOT, 7)
VETH_OUT = Target.link(ROOT, 9)
TAP_VM = Target.link(ROOT, 10)


async def _traffic(pilot: Pilot[Any], collector: FakeCollector) -> None:
    """Eight ticks of traffic on tap0, so the details pane has rates and a sparkline."""
    app = pilot.app
    assert isinstance(app, VnettopApp)
    base = demo_snapshot()
    app.jump_to(TAP0)
    rx = [3, 5, 9, 14, 11, 7, 12, 16]
    total_rx, total_tx = 0, 0
    for i, mb in enumerate(rx, start=1):
        total_rx += mb * 100_000
        total_tx += (20 - mb) * 40_000
        links = [replace(link, stats=Stats(link.stats.rx_bytes + total_rx, link.stats.tx_bytes + total_tx,
                                           link.stats.rx_packets + total_rx // 700,
                                           link.stats.tx_packets + total_tx // 700))
                 if link.key == (TAP0.netns, TAP0.ident) else link for link in base.links]
        await _feed(pilot, collector, later(base, float(i), links=tuple(links)))


async def _open_demo_host(pilot: Pilot[Any], collector: FakeCollector) -> None:
    app = pilot.app
    assert isinstance(app, VnettopApp)
    await pilot.press("down", "down", "enter")
    await wait_for(pilot, lambda: app.snapshot is not None and app.view == "topology")
    app.jump_to(TAP_VM)
    await pilot.pause()


async def _events(pilot: Pilot[Any], collector: FakeCollector) -> None:
    """A VM starts (tap added to the bridge), another's tap goes down, the docker veth moves."""
    base = demo_snapshot()
    new_tap = Link(ROOT, 14, "tapc0ffee1-2d", "tap", "fe:16:3e:c0:ff:ee", 1450, True, "up",
                   master=base.link(ROOT, 8).ref)  # type: ignore[union-attr]
    step1 = with_links(base, [*base.links, new_tap], seconds=4)
    await _feed(pilot, collector, step1)
    links = [replace(link, admin_up=False, oper_state="down", carrier=False) if link.key == (ROOT, 11)
             else link for link in step1.links]
    step2 = with_links(step1, links, seconds=9)
    await _feed(pilot, collector, step2)
    await pilot.press("6")
    await pilot.pause()


def _guarded_mutator() -> RecordingMutator:
    return RecordingMutator(warnings=[GuardWarning(
        "tap-held", "tap0", "tap0 is held by qemu-kvm[7748] (fd 26): deleting it cuts that process's network")])


async def _delete_held_tap(pilot: Pilot[Any], collector: FakeCollector) -> None:
    app = pilot.app
    assert isinstance(app, VnettopApp)
    app.jump_to(TAP0)
    await pilot.press("d", *"tap0", "enter")
    await wait_for(pilot, lambda: bool(getattr(app.screen, "warnings", None)))


def _compute_errors() -> Snapshot:
    return compute_node()


SCENES: tuple[Scene, ...] = (
    Scene("topology", "Topology: namespaces, bridges with their ports, veth peers, tun/tap holders",
          demo_snapshot, _jump(VETH_OUT)),
    Scene("topology_80x24", "At 80x24 over SSH: the details pane goes below with a third of the rows",
          demo_snapshot, _jump(Target.link(QDHCP, 2)), size=(80, 24)),
    Scene("write_80x24", "At 80x24 in write mode: the footer shows the keys that fit whole", demo_snapshot,
          _jump(TAP0), size=(80, 24), read_only=False, mutator=RecordingMutator),
    Scene("topology_60x15", "At 60x15: the main view gets every row, details hide until i", demo_snapshot,
          _jump(VETH_OUT), size=(60, 15)),
    Scene("details_60x15", "At 60x15, i: the details under the view", demo_snapshot,
          _jump(TAP0, "i"), size=(60, 15)),
    Scene("help_60x15", "At 60x15: ? help fits and scrolls", demo_snapshot, _keys("question_mark"),
          size=(60, 15)),
    Scene("dialog_60x15", "At 60x15: a write dialog fits and scrolls", demo_snapshot,
          _keys("n", "down", "enter"), size=(60, 15), read_only=False, mutator=RecordingMutator),
    Scene("bridges", "2 Bridges: ports, states, costs, learned MACs", demo_snapshot, _keys("2", "down")),
    Scene("veths", "3 veth pairs: both ends on one row", demo_snapshot, _keys("3")),
    Scene("tuntap", "4 tun/tap: type, flags, holders", demo_snapshot, _keys("4", "down", "down", "down")),
    Scene("namespaces", "5 Namespaces: processes and listening sockets", demo_snapshot, _keys("5", "down")),
    Scene("events", "6 Events: what changed, newest first", demo_snapshot, _events),
    Scene("details_rates", "Details: rx/tx rates with a sparkline, holders and their command lines",
          demo_snapshot, _traffic),
    Scene("trace", "t: the path from a VM's tap to the DHCP server in its namespace", demo_snapshot,
          _jump(TAP_VM, "t")),
    Scene("filter", "/ filter: namespaces, devices and processes matching 'qdhcp'", demo_snapshot,
          _keys("slash", *"qdhcp", "enter")),
    Scene("help_read_only", "? help in read-only mode: no write keys", demo_snapshot, _keys("question_mark")),
    Scene("delete_guarded", "Write mode: delete asks for the name, shows the ip command and the guard",
          demo_snapshot, _delete_held_tap, read_only=False, mutator=_guarded_mutator),
    Scene("no_privilege", "Started without CAP_NET_ADMIN: read-only with the reason",
          _compute_errors, _jump(Target.link(FX_ROOT, 10)), size=(100, 30),
          notice="read-only: no CAP_NET_ADMIN (run as root, or with: sudo setcap cap_net_admin+ep)"),
    Scene("loaded_file", "--load FILE: a saved snapshot, browsed offline", demo_snapshot,
          _keys("down", "down"), source_label="file: compute01.json"),
    Scene("fleet_hosts", "--load fleet.jsonl: one row per host, failures with their reason, orphans by reason",
          demo_snapshot, size=(120, 40), source_label="fleet: fleet.jsonl", fleet=fleet_state,
          notice="browsing a fleet file (fleet.jsonl, 5 hosts): read-only"),
    Scene("fleet_hosts_80x24", "A fleet file at 80x24: the hosts, the selected host's details below",
          demo_snapshot, size=(80, 24), source_label="fleet: fleet.jsonl", fleet=fleet_state,
          notice="browsing a fleet file (fleet.jsonl, 5 hosts): read-only"),
    Scene("fleet_host", "enter on a host of a fleet file: its picture in every view; H goes back",
          demo_snapshot, _open_demo_host, source_label="fleet: fleet.jsonl", fleet=fleet_state,
          notice="browsing a fleet file (fleet.jsonl, 5 hosts): read-only"),
    Scene("ovs_topology", "Open vSwitch: br-int and br-tun beside Linux bridges, ports nested with tag and "
          "ofport, ovs-system explained", ovs_snapshot, _jump(OVS_TAP)),
    Scene("ovs_bridges", "2 Bridges with OVS: tag, ofport, patch peer, tunnel remote",
          ovs_snapshot, _view_then_jump("2", Target.ovs(ovs_uuid(41)))),
    Scene("ovs_trace", "t through OVS: VM -> tap -> br-int (tag 5) -> patch-tun -> br-tun -> vxlan, and into "
          "the ovnmeta namespace", ovs_snapshot, _jump(OVS_TAP, "t"), size=(150, 40)),
)

BY_NAME = {scene.name: scene for scene in SCENES}


_SCENE_DIR: list[str] = []


def _recording_at_change_2() -> RecordingCollector:
    """tests/ui/recording_fixture.py's recording (vnt.rec, written afresh in a directory of this
    process's own, removed at exit), opened at +4 s."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from tests.ui.recording_fixture import at, write_recording

    if not _SCENE_DIR:
        _SCENE_DIR.append(tempfile.mkdtemp(prefix="vnt-scene-"))
        atexit.register(shutil.rmtree, _SCENE_DIR[0], True)
    path = Path(_SCENE_DIR[0]) / "vnt.rec"
    path.unlink(missing_ok=True)  # the recorder appends to a recording that exists
    write_recording(path)
    timeline = Timeline.open(str(path), at(4))
    return RecordingCollector(timeline, timeline.snapshot_at(timeline.moment))


async def _next_change_events(pilot: Pilot[Any], collector: FakeCollector) -> None:
    """`]` from change 2 to change 3 (tap0 down), then the events view."""
    from tests.ui.recording_fixture import at

    app = pilot.app
    assert isinstance(app, VnettopApp)
    await pilot.press("right_square_bracket")
    await wait_for(pilot, lambda: app.snapshot is not None and app.moment_shown(app.snapshot) == at(6))
    await pilot.press("6")
    await wait_for(pilot, lambda: app.main_query("#events").row_count == 7)


SCENES += (
    Scene("recording", "--load REC --at TIME: a recorded moment; ] steps to the next change, the events view "
          "lists the recorded ones", demo_snapshot, _next_change_events, source_label="vnt.rec",
          notice="browsing a recording (vnt.rec: 2026-12-04T10:00:00.000Z to 2026-12-04T10:00:10.000Z, "
          "4 changes; [ and ] step): read-only", recording=_recording_at_change_2),
)
BY_NAME = {scene.name: scene for scene in SCENES}
