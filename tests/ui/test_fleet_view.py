"""`vnettop --load fleet.jsonl`: the hosts view, enter into a host's picture and H back, failed hosts,
and the palette over every host (pilot tests over the fleet fixture)."""

from __future__ import annotations

from typing import Any

from textual.command import CommandPalette
from textual.widgets import Input

from tests.fixtures_snapshots import ROOT
from tests.ui.fleet_fixture import BROKEN, COMPUTE, DEMO, DOWN, REFUSED, fleet_state
from tests.ui.helpers import SIZE, screen_text, wait_for
from tests.ui.test_bytes_names import _hits
from vnettop.ui.app import VnettopApp, build_app
from vnettop.ui.fleet_hosts import FleetCollector, FleetState, host_index
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.footer import KeyFooter
from vnettop.ui.widgets.snapshot_table import SnapshotTable


def fleet_app(state: FleetState | None = None) -> VnettopApp:
    state = state or fleet_state()
    return build_app(FleetCollector(state), None, read_only=True, source_label="fleet: fleet.jsonl",
                     notice="browsing a fleet file (fleet.jsonl, 5 hosts): read-only", fleet=state)


async def counted(pilot: Any) -> VnettopApp:
    app = pilot.app
    assert isinstance(app, VnettopApp) and app.fleet is not None
    fleet = app.fleet
    await wait_for(pilot, lambda: fleet.to_summarize() == 0)
    await pilot.pause()
    return app


def hosts_table(app: VnettopApp) -> SnapshotTable:
    return app.main_query("#hosts", SnapshotTable)


def notices(app: VnettopApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def to_host(pilot: Any, app: VnettopApp, index: int) -> None:
    table = hosts_table(app)
    rows = [host_index(table.row_at(i)) for i in range(table.row_count)]
    table.move_cursor(rows.index(index))
    await pilot.pause()


async def test_the_hosts_view_has_one_row_per_host_in_file_order() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        assert app.view == "hosts" and app.snapshot is None and app.collector is not None
        table = hosts_table(app)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
            "compute01", "hv-down", "hv-demo", "hv-broken", "hv-timeout"]
        assert [str(c) for c in table.get_row_at(COMPUTE)][1:9] == ["ok", "412", "3", "14", "1", "5", "3", "2"]
        assert str(table.get_row_at(DOWN)[3]) == REFUSED
        # The reason starts on screen, after the host and its state, not beyond the columns (the details
        # pane beside says it whole).
        line = table.render_line(1 + DOWN).text
        assert line.split()[:4] == ["hv-down", "failed", "2", "ssh:"], line
        header_line = table.render_line(0).text
        assert header_line.index("links") < 40, header_line  # ... and widens no column of the counts
        header = screen_text(app)
        assert "fleet file fleet.jsonl" in header and "5 hosts · 3 ok · 2 failed · orphans 2 on 1 host" in header
        details = app.main_query(DetailsPane)
        assert "orphans: 2" in str(details.content) and "veth-unattached" in str(details.content)
        assert app.main_query("#views").border_title == "H Hosts (5)"


async def test_enter_opens_a_host_in_every_view_and_h_goes_back() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await to_host(pilot, app, DEMO)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.snapshot is not None and app.view == "topology")
        assert app.snapshot is not None and app.snapshot.host.hostname == "hv-demo"
        assert app.fleet is not None and app.fleet.current == DEMO
        header = screen_text(app)
        assert "host hv-demo 3/5" in header and "fleet fleet.jsonl" in header and "READ-ONLY" in header
        assert "1 Topology · hv-demo" in str(app.main_query("#views").border_title)
        for key, view in (("2", "bridges"), ("3", "veths"), ("4", "tuntap"), ("5", "namespaces"),
                          ("6", "events"), ("1", "topology")):
            await pilot.press(key)
            assert app.view == view
        await pilot.press("2")
        bridges = app.main_query("#bridges", SnapshotTable)
        assert bridges.row_count > 0 and any("brqba48a3fc-7a" in str(bridges.get_row_at(i)[0])
                                             for i in range(bridges.row_count))
        await pilot.press("H")
        assert app.view == "hosts" and host_index(hosts_table(app).current_row) == DEMO
        assert "fleet file fleet.jsonl" in screen_text(app) and "last opened: hv-demo" in screen_text(app)
        await to_host(pilot, app, COMPUTE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.host.hostname == "compute01")
        assert app.view == "topology" and app.changes.total == 0  # nothing carried over from hv-demo
        assert "host compute01 1/5" in screen_text(app)


async def test_a_failed_host_says_why_and_enter_says_it_has_no_picture() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await to_host(pilot, app, DOWN)
        assert REFUSED in str(app.main_query(DetailsPane).content)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no picture" in notices(app))
        assert REFUSED in notices(app)
        assert app.view == "hosts" and app.snapshot is None


async def test_an_unreadable_host_says_so_when_entered() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await to_host(pilot, app, BROKEN)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "hv-broken" in notices(app))
        assert app.view == "hosts" and app.snapshot is None


async def test_views_wait_for_a_host_and_live_keys_are_not_offered() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await pilot.press("2")
        assert app.view == "hosts" and "choose a host first" in notices(app)
        shown = {e.order_id for e in app.main_query(KeyFooter).shown}
        assert "hosts" in shown and not shown & {"pause", "refresh", "peer", "trace", "bridge", "holder"}
        assert app.check_action("hosts", ()) and not app.check_action("refresh", ())
        await pilot.press("enter")  # compute01: the device keys are back in its views
        await wait_for(pilot, lambda: app.view == "topology")
        await pilot.pause()
        assert {"peer", "trace"} <= {e.order_id for e in app.main_query(KeyFooter).shown}


async def test_the_filter_narrows_the_hosts() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await pilot.press("slash", *"failed", "enter")
        table = hosts_table(app)
        assert [host_index(table.row_at(i)) for i in range(table.row_count)] == [1, 4]
        assert "refused" in str(app.main_query(DetailsPane).content).lower()


async def test_the_palette_finds_a_device_on_another_host_and_opens_it() -> None:
    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        palette.query_one(Input).value = "fe:16:3e:9d:01:77"  # a MAC on hv-demo, the third host
        await wait_for(pilot, lambda: "hv-demo: tapa1b2c3d4-5e @ root" in _hits(palette))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.snapshot is not None and app.current_target() == Target.link(ROOT, 11))
        assert app.fleet is not None and app.fleet.current == DEMO and app.view == "topology"


async def test_not_a_fleet_file_has_no_hosts_key() -> None:
    from tests.fixtures_snapshots import compute_node
    from tests.ui.helpers import make_app, started

    app, _ = make_app(compute_node())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.check_action("hosts", ()) is False
        assert "hosts" not in {e.order_id for e in app.main_query(KeyFooter).shown}
        await pilot.press("H")
        assert app.view == "topology"


async def test_help_names_the_hosts_keys_on_a_fleet_file() -> None:
    from vnettop.ui.screens.help import HelpScreen

    app = fleet_app()
    async with app.run_test(size=SIZE) as pilot:
        app = await counted(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert "hosts view" in keys["H"] and "every host" in keys["ctrl+p"] and "enter (hosts)" in keys
        assert "space" not in keys and "r" not in keys  # a fleet file never changes


async def test_counts_that_arrive_while_a_host_is_shown_are_there_after_h(monkeypatch: Any) -> None:
    from vnettop.ui.fleet_hosts import summarize
    from vnettop.ui.messages import HostsSummarized

    monkeypatch.setattr(VnettopApp, "start_summaries", lambda self: None)  # the counts come when we say
    state = fleet_state()
    app = fleet_app(state)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: hosts_table(app).row_count == 5)
        assert str(hosts_table(app).get_row_at(DEMO)[3]) == "…"
        await pilot.press("enter")  # compute01
        await wait_for(pilot, lambda: app.view == "topology")
        app.post_message(HostsSummarized([(DEMO, summarize(state.entries[DEMO]))]))
        await wait_for(pilot, lambda: state.summaries[DEMO] is not None)
        await pilot.press("H")
        assert [str(c) for c in hosts_table(app).get_row_at(DEMO)][3:9] == ["4", "21", "4", "6", "4", "0"]
