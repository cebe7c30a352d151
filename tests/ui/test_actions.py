"""Pilot tests of the write-mode dialogs over a recording mutator (no kernel is touched)."""

from __future__ import annotations

from textual.widgets import Input

from tests.fixtures_snapshots import PIDNS, QDHCP, QDHCP_NAME, ROOT, compute_node
from tests.ui.fakes import RecordingMutator
from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.actions import plans
from vnettop.actions.guards import GuardWarning
from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser
from vnettop.ui.targets import Target


def _dialog(app: object) -> ActionDialog:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ActionDialog)
    return screen


def _preview(dialog: ActionDialog) -> str:
    return str(dialog.query_one("#preview").render())


async def test_up_down_shows_the_ip_command_and_applies_through_the_mutator() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 5))  # tap0, up: the dialog proposes down
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert dialog.plan == plans.SetLinkState(device="tap0", netns=None, ifindex=5, up=False)
        assert "ip link set dev tap0 down" in _preview(dialog)
        polls = app.polls
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ActionDialog))
        assert mutator.applied == [dialog.plan]
        await wait_for(pilot, lambda: app.polls > polls)  # re-collected at once, not after 60 s


async def test_invalid_input_is_explained_inline_and_nothing_is_applied() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(QDHCP, 2))  # veth-b in the qdhcp namespace
        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        await pilot.press(*"10.0.0.300/24")
        assert dialog.plan is None and "✗" in _preview(dialog)
        await pilot.press("ctrl+s")
        assert mutator.attempts == []
        for _ in range(len("300/24")):
            await pilot.press("backspace")
        await pilot.press(*"3/24")
        assert f"ip -n {QDHCP_NAME} addr add 10.0.0.3/24 dev veth-b" in _preview(dialog)
        await pilot.press("enter")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied[0].netns == QDHCP_NAME


async def test_delete_needs_the_name_typed() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 9))  # vethc1
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert "ip link del dev vethc1" in _preview(dialog)
        confirm = dialog.query_one("#confirm", Input)
        assert confirm.has_focus
        await pilot.press(*"vethc", "enter")
        assert mutator.attempts == []
        assert "type 'vethc1'" in str(dialog.query_one("#result").render())
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: mutator.applied)
        assert mutator.applied == [plans.DeleteLink(device="vethc1", netns=None, ifindex=9)]


async def test_guard_warnings_are_shown_and_need_an_explicit_second_apply() -> None:
    warning = GuardWarning("tap-held", "tap0", "tap0 is held by qemu-kvm[7748] (fd 26)")
    mutator = RecordingMutator(warnings=[warning])
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 5))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        await pilot.press(*"tap0", "enter")
        await wait_for(pilot, lambda: dialog.warnings)
        assert "qemu-kvm[7748]" in str(dialog.query_one("#warnings").render())
        assert mutator.applied == []
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: mutator.applied)
        assert not isinstance(app.screen, ActionDialog)


async def test_kernel_refusal_is_shown_in_the_dialog() -> None:
    mutator = RecordingMutator(ok=False)
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 2))
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "the kernel said no" in str(dialog.query_one("#result").render()))
        assert isinstance(app.screen, ActionDialog)


async def test_new_offers_each_creation_and_prefills_the_namespace() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.ns(QDHCP))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewObjectChooser))
        await pilot.press("down", "enter")  # veth pair
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        dialog = _dialog(app)
        assert dialog.plan_cls is plans.CreateVethPair
        await pilot.press(*"vnta", "tab", *"vntb", "ctrl+s")
        await wait_for(pilot, lambda: mutator.applied)
        plan = mutator.applied[0]
        assert (plan.name, plan.peer, plan.netns) == ("vnta", "vntb", QDHCP_NAME)


async def test_add_to_bridge_move_and_del_address_prefill_from_the_snapshot() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 8))  # tun0
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        assert "ip link set tun0 master br0" in _preview(_dialog(app))
        await pilot.press("escape")
        await pilot.press("minus")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        assert "ip addr del 10.5.0.1/32 dev tun0" in _preview(_dialog(app))
        await pilot.press("escape", "m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionDialog))
        await pilot.press(*QDHCP_NAME)
        assert f"ip link set tun0 netns {QDHCP_NAME}" in _preview(_dialog(app))
        await pilot.press("escape")
        assert mutator.attempts == []


async def test_a_device_in_an_unnamed_namespace_cannot_be_targeted() -> None:
    mutator = RecordingMutator()
    app, _ = make_app(compute_node(), read_only=False, mutator=mutator)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(PIDNS, 3))
        await pilot.press("d")
        assert not isinstance(app.screen, ActionDialog)
        assert any("no name" in n.message for n in app._notifications)
