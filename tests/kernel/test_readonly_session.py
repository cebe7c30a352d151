"""The read-only proof: a TUI session that presses every key, in every view, on every kind of object,
and tries every palette entry, changes nothing and is offered no write action anywhere.

The state compared before and after is read with iproute2 (independently of vnettop): each of this
test's namespaces' links (name, index, master, flags, peer namespace id, mtu, mac), addresses and
namespace-id table (`ip -n X netns list-id`: a read that makes the kernel assign an nsid writes kernel
state), this test's devices in the root namespace, and this test's entries in the namespace list. Other
engineers' tests change the rest of the host concurrently, so only our own objects are compared.

Before the first reading, iproute2's own reference reads run (`ip -n X -d link show` in each of our
namespaces): a link dump of a namespace holding a veth whose peer is elsewhere makes the kernel give the
peer's namespace an id there, whoever dumps (see `vnettop/collect/collector.py`). Those ids are what any
reader causes; the test proves vnettop assigns none beyond them.

One object of each kind gets every key in the tree (a namespace, a bridge, a veth leading to another
namespace, a tap, a root-namespace veth); every table view gets every key too.
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
        result[f"{ns} nsids"] = _nsids(kit, ns)
    return result


def _nsids(kit: KernelKit, netns: str) -> list[tuple[Any, ...]]:
    """The namespace's nsid table: which other namespaces it has given an id to."""
    return sorted(tuple(sorted(entry.items())) for entry in json.loads(kit.ip("-j", "netns", "list-id",
                                                                               netns=netns) or "[]"))


def reference_reads(kit: KernelKit) -> None:
    """What any reader's link dump assigns (ids for the namespaces of remote veth peers), done first."""
    for ns in kit.namespaces:
        kit.ip("-d", "link", "show", netns=ns)


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
    reference_reads(kit)
    before = state(kit)
    assert before[f"{names['ns_a']} nsids"], "the veth to ns_b must have given ns_b an id in ns_a"
    inode = {ns: kit.ns_inode(ns) for ns in (names["ns_a"], names["ns_b"])}
    targets = [Target.ns(inode[names["ns_a"]])]  # one object of each kind
    for dev, ns in (("br", "ns_a"), ("va", "ns_a"), ("tap", "ns_a"), ("root", None)):
        netns = names[ns] if ns else None
        index = int(json.loads(kit.ip("-j", "link", "show", "dev", names[dev], netns=netns))[0]["ifindex"])
        targets.append(Target.link(kit.ns_inode(netns), index))
    # q and ctrl+c quit (q ends the session below; ctrl+c is checked in tests/ui); / is typed below.
    keys = [b.key for b in ALL_BINDINGS if b.key not in ("q", "ctrl+c", "slash")] + \
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

    view_keys = {str(i) for i in range(1, len(VIEW_TITLES) + 1)}

    async def press_all(pilot: Any, app: Any, with_views: bool = False, stay_in: str = "") -> None:
        """Every key; the view keys (a whole-table rebuild each, the slow part) only when asked: they
        do the same from any selection, so one round with them suffices."""
        for key in keys:
            if key in view_keys and not with_views:
                continue
            await pilot.press(key)
            await back_to_main(pilot, app)
            if stay_in and app.view != stay_in:  # `enter` on a row shows it in the topology
                await pilot.press(str([v for v, _ in VIEW_TITLES].index(stay_in) + 1))

    async def session() -> None:
        collector = LiveCollector()
        app = build_app(collector, spy, read_only=True, interval=5.0)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                tree = app.main_query(TopologyTree)
                await _wait(pilot, lambda: all(tree.has(t) for t in targets), 15)
                assert tree.has(Target.ns(inode[names["ns_b"]]))
                assert app.read_only
                for action in WRITE_ACTIONS:
                    assert app.check_action(action, ()) is False
                # Every key on every kind of object (tree), then every key in every table view.
                for i, target in enumerate(targets):
                    await pilot.press("1")
                    app.jump_to(target)
                    await press_all(pilot, app, with_views=i == 0)
                for view_number in range(2, len(VIEW_TITLES) + 1):
                    await pilot.press(str(view_number))
                    view = VIEW_TITLES[view_number - 1][0]
                    assert app.view == view
                    await press_all(pilot, app, stay_in=view)
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
