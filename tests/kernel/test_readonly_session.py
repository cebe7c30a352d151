"""The read-only proof: a TUI session that presses every key, in every view, on every kind of object,
and tries every palette entry, changes nothing and is offered no write action anywhere.

The state compared before and after is read with iproute2 (independently of vnettop): each of this
test's namespaces' links (name, index, master, flags, peer namespace id, mtu, mac) and addresses, this
test's devices in the root namespace, and this test's entries in the namespace list. Other engineers'
tests change the rest of the host concurrently, so only our own objects can be compared; for the same
reason namespace ids (`ip netns list-id`) are left out: any whole-host scan running on the machine at
the same time (another vnettop) can make the kernel assign them in our namespaces.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.kernelkit import KernelKit, run

pytestmark = pytest.mark.kernel


def _links(kit: KernelKit, netns: str | None) -> list[tuple[Any, ...]]:
    out = []
    for link in json.loads(kit.ip("-d", "-j", "link", "show", netns=netns)):
        if netns is None and not link["ifname"].startswith(f"vnt{kit.tag}"):
            continue
        out.append((link["ifname"], link["ifindex"], link.get("master"), tuple(sorted(link.get("flags", []))),
                    link.get("link_netnsid"), link.get("mtu"), link.get("address")))
    return sorted(out)


def _addresses(kit: KernelKit, netns: str | None) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for link in json.loads(kit.ip("-j", "addr", "show", netns=netns)):
        if netns is None and not link["ifname"].startswith(f"vnt{kit.tag}"):
            continue
        addrs = tuple(sorted(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])))
        out.append((link["ifname"], addrs))
    return sorted(out)


def state(kit: KernelKit) -> dict[str, Any]:
    """What must not change, read with iproute2."""
    result: dict[str, Any] = {
        "namespaces": sorted(line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines()
                             if line.startswith(f"vnt{kit.tag}")),
        "root links": _links(kit, None),
        "root addresses": _addresses(kit, None),
    }
    for ns in kit.namespaces:
        result[f"{ns} links"] = _links(kit, ns)
        result[f"{ns} addresses"] = _addresses(kit, ns)
    return result


class SpyMutator:
    """The real read-only Mutator, recording every call made to it."""

    def __init__(self) -> None:
        from vnettop.actions.mutator import Mutator

        self.inner = Mutator(read_only=True)
        self.calls: list[str] = []

    @property
    def read_only(self) -> bool:
        return self.inner.read_only

    def check(self, plan: Any, snapshot: Any = None) -> Any:
        self.calls.append(f"check {plan!r}")
        return self.inner.check(plan, snapshot)

    def apply(self, plan: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(f"apply {plan!r}")
        return self.inner.apply(plan, *args, **kwargs)


async def _wait(pilot: Any, condition: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)


def build_topology(kit: KernelKit) -> dict[str, str]:
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    br = kit.bridge(kit.name("br"), netns=ns_a)
    va, vb = kit.veth(kit.name("va"), kit.name("vb"), ns_a, ns_b)
    kit.ip("link", "set", va, "master", br, netns=ns_a)
    kit.ip("addr", "add", "10.77.0.1/24", "dev", vb, netns=ns_b)
    kit.ip("link", "set", vb, "up", netns=ns_b)
    tap = kit.tuntap(kit.name("tp"), netns=ns_a)
    kit.ip("link", "set", tap, "master", br, netns=ns_a)
    root_end, inner = kit.veth(kit.name("r0"), kit.name("r1"), None, ns_b)
    kit.ip("addr", "add", "10.78.0.1/24", "dev", root_end)
    return {"ns_a": ns_a, "ns_b": ns_b, "br": br, "va": va, "vb": vb, "tap": tap, "root": root_end,
            "inner": inner}


def test_every_key_and_palette_entry_in_read_only_changes_nothing(kit: KernelKit) -> None:
    from vnettop.collect.collector import LiveCollector
    from vnettop.ui.app import build_app
    from vnettop.ui.keys import ALL_BINDINGS, VIEW_TITLES, WRITE_ACTIONS, WRITE_BINDINGS
    from vnettop.ui.screens.help import HelpScreen
    from vnettop.ui.targets import Target
    from vnettop.ui.widgets.topology_tree import TopologyTree

    names = build_topology(kit)
    before = state(kit)
    inode = {ns: kit.ns_inode(ns) for ns in (names["ns_a"], names["ns_b"])}
    targets = [Target.ns(inode[names["ns_a"]]), Target.ns(inode[names["ns_b"]])]
    for dev, ns in (("br", "ns_a"), ("va", "ns_a"), ("tap", "ns_a"), ("vb", "ns_b"), ("inner", "ns_b"),
                    ("root", None)):
        netns = names[ns] if ns else None
        index = int(json.loads(kit.ip("-j", "link", "show", "dev", names[dev], netns=netns))[0]["ifindex"])
        targets.append(Target.link(kit.ns_inode(netns), index))
    keys = [b.key for b in ALL_BINDINGS if b.key not in ("q", "slash")] + \
        ["enter", "left", "right", "down", "up", "tab", "shift+tab", "pagedown", "home", "end", "ctrl+s",
         "y", "delete", "backspace"]
    spy = SpyMutator()
    write_tooltips = {b.tooltip for b in WRITE_BINDINGS}
    write_descriptions = {b.description for b in WRITE_BINDINGS}

    async def back_to_main(pilot: Any, app: Any) -> None:
        for _ in range(5):
            if len(app.screen_stack) == 1 and not app.filter.active:
                return
            await pilot.press("escape")

    async def press_all(pilot: Any, app: Any) -> None:
        for key in keys:
            await pilot.press(key)
            await back_to_main(pilot, app)

    async def session() -> None:
        collector = LiveCollector()
        app = build_app(collector, spy, read_only=True, interval=0.5)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                tree = app.main_query(TopologyTree)
                await _wait(pilot, lambda: all(tree.has(t) for t in targets), 15)
                assert app.read_only
                for action in WRITE_ACTIONS:
                    assert app.check_action(action, ()) is False
                # Every key on every kind of object (tree), then every key in every table view.
                for target in targets:
                    await pilot.press("1")
                    app.jump_to(target)
                    await press_all(pilot, app)
                for view_number in range(2, len(VIEW_TITLES) + 1):
                    await pilot.press(str(view_number))
                    await press_all(pilot, app)
                # The filter, typed and inverted, then cleared.
                await pilot.press("slash", *"vnt", "enter", "slash", "home", "exclamation_mark", "enter",
                                  "escape")
                await back_to_main(pilot, app)
                # Every palette entry: the system commands (built from the bindings) ...
                commands = list(app.get_system_commands(app.screen))
                titles = {c.title for c in commands}
                assert not titles & write_descriptions
                assert {"Peer", "Trace", "Holder", "Bridge", "Refresh"} <= titles
                for command in commands:
                    if command.title == "Quit":
                        continue
                    result = command.callback()
                    if asyncio.iscoroutine(result):
                        await result
                    await pilot.pause()
                    await back_to_main(pilot, app)
                # ... and the jump provider, through the palette itself.
                await pilot.press("ctrl+p", *names["vb"])
                await pilot.pause(0.3)
                await pilot.press("enter")
                await back_to_main(pilot, app)
                await pilot.press("question_mark")
                await _wait(pilot, lambda: isinstance(app.screen, HelpScreen), 5)
                shown = {d for _, d in app.screen.keys}
                assert not shown & write_tooltips
                await back_to_main(pilot, app)
                await pilot.press("q")
        finally:
            collector.close()

    asyncio.run(session())
    assert spy.calls == [], "no write action may even reach the mutator in read-only mode"
    assert state(kit) == before

    # The last gate: the mutator itself refuses, before any syscall.
    from vnettop.actions.plans import DeleteLink
    from vnettop.errors import ReadOnlyError

    with pytest.raises(ReadOnlyError):
        spy.apply(DeleteLink(device=names["br"], netns=names["ns_a"]))
    assert state(kit) == before
