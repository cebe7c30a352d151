"""Pilot tests of the OVS actions over a recording mutator: on a device that is an OVS port or bridge,
`d` and `A` remove it from OVSDB (not `ip link del`), `v` sets or clears its tag, and `n` offers an OVS
bridge or port when the picture has an OVS section."""

from __future__ import annotations

from dataclasses import replace

from tests import ovs_replies as rec
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.actions import ovs_plans as op
from vnettop.collect.sources.ovs import join
from vnettop.model import Snapshot
from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser
from vnettop.ui.targets import Target


def _ovs_node() -> Snapshot:
    base = rec.kernel_datapath_host()
    section, _owners, _errors = join(rec.view_of(rec.KERNEL_DATAPATH), base)
    return replace(base, ovs=section)


def _dialog(app: object) -> ActionDialog:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ActionDialog)
    return screen


def _preview(dialog: ActionDialog) -> str:
    return str(dialog.query_one("#preview").render())


async def test_delete_on_an_ovs_port_removes_it_from_ovsdb() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(_ovs_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(rec.ROOT, 9))  # the VM's tap, a port of br-int
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert dialog.plan_cls is op.DeleteOvsPort
        assert f"ovs-vsctl del-port br-int {rec.TAP}" in _preview(dialog)
        await pilot.press(*rec.TAP, "enter")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [op.DeleteOvsPort(rec.TAP, "br-int")]


async def test_delete_on_a_bridge_local_port_deletes_the_ovs_bridge() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(_ovs_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(rec.ROOT, 4))  # br-int's local port
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        assert "ovs-vsctl del-br br-int" in _preview(_dialog(app))
        await pilot.press("escape", "A")  # the local port is not removed from its own bridge
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        assert _dialog(app).plan_cls is not op.DeleteOvsPort
        await pilot.press("escape")
        assert mutator.attempts == []


async def test_v_sets_or_clears_the_tag_prefilled_from_ovsdb() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(_ovs_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(rec.ROOT, 9))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert f"ovs-vsctl set port {rec.TAP} tag=5" in _preview(dialog)
        await pilot.press("backspace")
        assert f"ovs-vsctl clear port {rec.TAP} tag" in _preview(dialog)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [op.SetOvsTag(rec.TAP, None)]


async def test_new_offers_ovs_plans_only_with_an_ovs_section() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(_ovs_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(rec.ROOT, 9))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewObjectChooser))
        assert op.AddOvsPort in app.screen.choices  # type: ignore[attr-defined]
        await pilot.press("end", "enter")  # the last: New OVS port, on the selected port's bridge
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert dialog.plan_cls is op.AddOvsPort
        await pilot.press("tab", *"vntp1", "ctrl+s")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [op.AddOvsPort("br-int", "vntp1")]
    plain, _ = make_app(replace(_ovs_node(), ovs=None), read_only=False, mutator=RecordingMutator())
    async with plain.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(plain.screen, NewObjectChooser))
        assert op.AddOvsPort not in plain.screen.choices  # type: ignore[attr-defined]


async def test_delete_on_ovs_rows_with_no_kernel_device() -> None:
    """A patch port's row and an OVS bridge's row (tree nodes with no kernel device) reach the same
    plans: `d` on the patch port removes it from its bridge, `d` on the bridge row deletes the bridge."""
    snap = _ovs_node()
    assert snap.ovs is not None
    bridge, port, iface = next((b, p, i) for b in snap.ovs.bridges for p in b.ports for i in p.interfaces
                               if i.type == "patch")
    mutator = RecordingMutator()
    app, _ = make_app(snap, read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.ovs(iface.uuid))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert dialog.plan_cls is op.DeleteOvsPort
        assert f"ovs-vsctl del-port {bridge.name} {port.name}" in _preview(dialog)
        await pilot.press("escape")
        app.jump_to(Target.ovs(bridge.uuid))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        assert f"ovs-vsctl del-br {bridge.name}" in _preview(_dialog(app))
        await pilot.press("escape")
        assert mutator.attempts == []
