"""Hostile names reach the screen exactly as they are, never as markup and never as terminal controls.

A device named `[b]vq2` once showed as `vq2` (Rich read `[b]` as bold), so the inspector named the wrong
device; a process named `"\\x1b[31mEVIL"` could drive root's terminal. Each test reads what is on screen
(the exported screenshot's text) or the widgets' cells.
"""

from __future__ import annotations

import html
import re
from typing import Any

from textual.command import CommandPalette
from textual.pilot import Pilot

from tests.ui.helpers import SIZE, make_app, started, wait_for
from tests.ui.hostile import BRIDGE, ERROR_MESSAGE, ESC_DEV, SHELLY, SHOWN, TAP, hostile_snapshot
from vnettop.ui.app import VnettopApp
from vnettop.ui.details_content import details_title, render_details
from vnettop.ui.filtering import Filter
from vnettop.ui.rows import bridge_rows, ns_rows, tun_rows
from vnettop.ui.screens.errors import ErrorsScreen
from vnettop.ui.screens.trace import TraceScreen
from vnettop.ui.targets import Target
from vnettop.ui.widgets.snapshot_table import SnapshotTable

CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def on_screen(app: VnettopApp) -> str:
    """The text of the whole screen (every layer), from the exported screenshot."""
    svg = app.export_screenshot()
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return "".join(html.unescape(t) for t in texts).replace("\xa0", " ")


def assert_clean(text: str) -> None:
    found = CONTROL.findall(text)
    assert not found, f"control characters on screen: {found!r}"


async def _start(pilot: Pilot[Any]) -> VnettopApp:
    app = await started(pilot)
    await pilot.pause()
    return app


async def test_tree_shows_every_hostile_name_exactly() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        app = await _start(pilot)
        text = on_screen(app)
        # Its owner (inferred from qemu's command line) names the VM, so the holder need not.
        assert "[b]vq2  tap  P2 (vm, qemu command line)  qemu-kvm[7748] fd 26" in text
        assert "vntr{[b]}<  bridge" in text
        for key in ("esc_dev", "evil_comm", "markup_comm", "ns", "owner"):
            assert SHOWN[key] in text, key
        assert "holds [b]vq2 fd 26 vhost 28" in text
        assert_clean(text)


async def test_tables_show_hostile_names_in_cells_and_on_screen() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        app = await _start(pilot)
        await pilot.press("i")  # the tables' whole width: the demo's cni- namespace widens a column
        for key, view, expected in (("2", "bridges", SHOWN["bridge"]), ("4", "tuntap", SHOWN["tap"]),
                                    ("4", "tuntap", SHOWN["esc_dev"]), ("5", "namespaces", SHOWN["ns"]),
                                    ("5", "namespaces", SHOWN["markup_comm"] + "[4251]")):
            await pilot.press(key)
            table = app.main_query(f"#{view}", SnapshotTable)
            cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
            assert any(expected in c for c in cells), (view, expected, cells)
            await pilot.pause()
            text = on_screen(app)
            assert expected in text, (view, expected)
            assert_clean(text)
        # The owner columns come last (off screen at this width): their cells, and nothing unsafe on screen.
        for key, view in (("5", "namespaces"), ("3", "veths"), ("4", "tuntap")):
            await pilot.press(key)
            table = app.main_query(f"#{view}", SnapshotTable)
            cells = [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]
            if view != "tuntap":
                assert any(c.endswith(SHOWN["owner"]) for c in cells), (view, cells)
            assert "P2 (vm, qemu command line)" in cells or view != "tuntap", cells
            assert_clean(on_screen(app))


async def test_details_title_and_body_name_the_right_device() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        app = await _start(pilot)
        app.jump_to(Target.link(*TAP))
        await wait_for(pilot, lambda: "qemu-kvm[7748] P2 fd 26 vhost 28" in on_screen(app))
        text = on_screen(app)
        assert "╮╭─ [b]vq2 ─" in text or "─ [b]vq2 ─" in text  # the pane's border title
        assert re.search(r"master +" + re.escape(SHOWN["bridge"]), text)
        assert_clean(text)


async def test_trace_hops_show_hostile_names() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        app = await _start(pilot)
        app.jump_to(Target.link(*TAP))
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen))
        await pilot.pause()
        text = on_screen(app)
        assert f"Trace from {SHOWN['tap']} @ root" in text
        assert f"• {SHOWN['bridge']}" in text
        assert "qemu-kvm[7748] P2" in text
        assert_clean(text)


async def test_palette_lists_hostile_names_exactly() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        app = await _start(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"vq2")
        await wait_for(pilot, lambda: f"jump to {SHOWN['tap']} @ root" in on_screen(app))
        await pilot.press("backspace", "backspace", "backspace", *"EVIL")
        await wait_for(pilot, lambda: f"jump to {SHOWN['evil_comm']}[3056]" in on_screen(app))
        assert_clean(on_screen(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_target() is not None
                       and app.current_target().kind == "proc")  # type: ignore[union-attr]


async def test_errors_screen_and_notifications_show_messages_as_they_are() -> None:
    app, _ = make_app(hostile_snapshot())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app = await _start(pilot)
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorsScreen))
        await pilot.pause()
        text = on_screen(app)
        assert "[b]cannot\\x1b[2J read" in text and ERROR_MESSAGE not in text
        assert_clean(text)
        await pilot.press("escape")
        app.jump_to(Target.link(*TAP))
        await pilot.press("p")  # a tap has no peer: the notification names it
        await wait_for(pilot, lambda: f"{SHOWN['tap']} is a tap" in on_screen(app))
        app.jump_to(Target.link(*ESC_DEV))
        await pilot.press("p")
        await wait_for(pilot, lambda: f"{SHOWN['esc_dev']} is a tun" in on_screen(app))
        assert_clean(on_screen(app))


def test_pure_rows_and_details_keep_names() -> None:
    snap = hostile_snapshot()
    bridge = [str(c) for r in bridge_rows(snap, Filter()) for c in r.cells]
    assert SHOWN["bridge"] in bridge and SHOWN["tap"] in bridge
    tun = [str(c) for r in tun_rows(snap, Filter()) for c in r.cells]
    assert SHOWN["esc_dev"] in tun and "qemu-kvm[7748] P2 fd 26 vhost 28" in tun
    ns = " ".join(str(c) for r in ns_rows(snap, Filter()) for c in r.cells)
    assert SHOWN["evil_comm"] + "[3056]" in ns
    assert details_title(snap, Target.link(*BRIDGE)).plain == SHOWN["bridge"]
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(render_details(snap, Target.link(*TAP)))
    body = console.export_text()
    assert "[b]vq2" in body and "qemu-kvm[7748] P2 fd 26 vhost 28" in body
    assert_clean(body)


def test_inspect_commands_shell_quote_names() -> None:
    """`$`, `;`, `'` and `*` are legal in device names: a copied command must run only `ip`."""
    import shlex

    from vnettop.ui.inspect_commands import commands_for

    snap = hostile_snapshot()
    cmds = commands_for(snap, Target.link(*SHELLY))
    assert cmds[0] == "ip -d link show 'd$;'\"'\"'*x'"
    assert shlex.split(cmds[0]) == ["ip", "-d", "link", "show", "d$;'*x"]
    tap = commands_for(snap, Target.link(*TAP))
    assert "ip -d link show '[b]vq2'" in tap
    assert "ls -l /proc/7748/fd/28   # /dev/vhost-net" in tap
    ns_cmds = commands_for(snap, Target.ns(snap.namespaces[1].inode))
    assert shlex.split(ns_cmds[0])[:3] == ["ip", "-n", "[i]ns\x1b]0;t\x07"]


def test_details_write_ipv6_listeners_as_ss_does() -> None:
    from dataclasses import replace

    from rich.console import Console

    from vnettop.model import Listening

    snap = hostile_snapshot()
    ns = snap.namespaces[1]
    proc = replace(ns.processes[0], listening=(Listening("udp", "fe80::1", 53), Listening("tcp", "10.0.0.2", 53)))
    snap = replace(snap, namespaces=(snap.namespaces[0], replace(ns, processes=(proc,)), *snap.namespaces[2:]))
    console = Console(width=200, record=True, color_system=None)
    console.print(render_details(snap, Target.proc(ns.inode, proc.pid)))
    body = console.export_text()
    assert "listening udp [fe80::1]:53" in body and "listening tcp 10.0.0.2:53" in body
