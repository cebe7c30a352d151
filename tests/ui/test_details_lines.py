"""What the details pane prints, line by line: nothing twice, `f` opens every list, commands wrap whole."""

from __future__ import annotations

from dataclasses import replace

from tests.fixtures_snapshots import QDHCP, ROOT, compute_node
from tests.ui.helpers import make_app, started, wait_for
from vnettop.model import Snapshot
from vnettop.ui.inspect_commands import commands_for
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane


def _pane_lines(app: object) -> list[str]:
    pane = app.main_query(DetailsPane)  # type: ignore[attr-defined]
    return ["".join(seg.text for seg in strip).rstrip() for strip in pane._strips]


def _live_bridge() -> Snapshot:
    """compute_node with br0's kind-specific facts as the live collector reads them (stp among them)."""
    snap = compute_node()
    links = tuple(replace(link, info=(("stp", "off"), ("bridge_id", "8000.525400123402"),
                                      ("priority", "32768")))
                  if link.key == (ROOT, 3) else link for link in snap.links)
    return replace(snap, links=links)


async def test_bridge_details_say_stp_once() -> None:
    app, _ = make_app(_live_bridge())
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 3))
        await wait_for(pilot, lambda: any(line.startswith("bridge_id") for line in _pane_lines(app)))
        stp = [line for line in _pane_lines(app) if line.split()[:1] == ["stp"]]
        assert len(stp) == 1, stp


def _many_pids() -> Snapshot:
    snap = compute_node()
    namespaces = tuple(replace(ns, pids=tuple(range(2000, 2030))) if ns.inode == QDHCP else ns
                       for ns in snap.namespaces)
    return replace(snap, namespaces=namespaces)


async def test_f_shows_every_pid_of_a_namespace() -> None:
    app, _ = make_app(_many_pids())
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        app.jump_to(Target.ns(QDHCP))

        def text() -> str:
            return " ".join(_pane_lines(app))

        await wait_for(pilot, lambda: "30: 2000 2001" in text())
        assert "2011" in text() and "2012" not in text()
        await pilot.press("f")
        await wait_for(pilot, lambda: "2029" in text())


async def test_inspect_commands_wrap_whole_at_80_columns() -> None:
    """Each command starts its own line; a long one breaks between words, its continuation indented
    deeper than a command; no word is cut."""
    snap = compute_node()
    target = Target.link(QDHCP, 2)  # veth-b: commands through `ip -n` / `ip netns exec` with a long name
    app, _ = make_app(snap)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        app.jump_to(target)
        assert app.main_query(DetailsPane).display, "at 80x24 the details are shown (under the view)"
        await wait_for(pilot, lambda: "inspect with" in _pane_lines(app))
        lines = _pane_lines(app)
        block = lines[lines.index("inspect with") + 1:]
        commands = commands_for(snap, target)
        starts = [i for i, line in enumerate(block) if line.startswith("  ") and not line.startswith("   ")]
        assert len(starts) == len(commands), block
        for start, end, command in zip(starts, [*starts[1:], len(block)], commands, strict=True):
            pieces = block[start:end]
            assert all(p.startswith("      ") for p in pieces[1:]), pieces
            assert " ".join(p.strip() for p in pieces).split() == command.split(), pieces
        assert any(end - start > 1 for start, end in zip(starts, [*starts[1:], len(block)], strict=True)), \
            "at 80 columns at least one command needs two lines"
