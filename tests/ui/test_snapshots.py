"""SVG snapshot tests, grouped by feature, from the scenes the README screenshots are made from.

Update after a deliberate change with `pytest tests/ui/test_snapshots.py --snapshot-update`, then look
at the new SVGs (or run screenshots/make_screenshots.py and look at the PNGs).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.ui.scenes import BY_NAME

Compare = Callable[..., bool]


def _check(snap_compare: Compare, name: str) -> None:
    scene = BY_NAME[name]
    app, collector = scene.build()
    assert snap_compare(app, terminal_size=scene.size, run_before=scene.run_before(collector))


@pytest.mark.parametrize("name", ["topology", "bridges", "veths", "tuntap", "namespaces", "events"])
def test_views(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


@pytest.mark.parametrize("name", ["details_rates", "trace", "filter"])
def test_navigation(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


@pytest.mark.parametrize("name", ["help_read_only", "no_privilege", "loaded_file"])
def test_modes(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


@pytest.mark.parametrize("name", ["delete_guarded"])
def test_actions(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


SMALL = ["topology_80x24", "write_80x24", "topology_60x15", "details_60x15", "help_60x15", "dialog_60x15"]


@pytest.mark.parametrize("name", SMALL)
def test_small_terminals(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


FLEET = ["fleet_hosts", "fleet_hosts_80x24", "fleet_host"]


@pytest.mark.parametrize("name", FLEET)
def test_fleet_file(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


OVS = ["ovs_topology", "ovs_bridges", "ovs_trace"]


@pytest.mark.parametrize("name", OVS)
def test_open_vswitch(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


@pytest.mark.parametrize("name", ["recording"])
def test_recording(snap_compare: Compare, name: str) -> None:
    _check(snap_compare, name)


def test_every_scene_is_snapshot_tested() -> None:
    tested = {*FLEET, *OVS, "recording", "topology", "bridges", "veths", "tuntap", "namespaces", "events",
              "details_rates", "trace",
              "filter", "help_read_only", "no_privilege", "loaded_file", "delete_guarded", *SMALL}
    assert tested == set(BY_NAME)

