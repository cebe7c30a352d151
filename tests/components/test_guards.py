"""The teardown guards themselves: a firewall or ip_forward change is seen and put back."""

from __future__ import annotations

import pytest

from tests.components.base import IP_FORWARD, Component, HostState, run, tag

pytestmark = pytest.mark.kernel


def test_host_state_sees_and_restores_a_chain_and_ip_forward() -> None:
    state = HostState()
    chain = f"vnt{tag()}guard"
    flipped = "0" if state.ip_forward == "1" else "1"
    try:
        run(["iptables", "-N", chain])
        IP_FORWARD.write_text(flipped + "\n")
        changes = state.changes()
        assert "iptables-save ruleset changed" in changes and HostState.FORWARD_CHANGED in changes
        state.restore()
        assert state.changes() == []
        assert chain not in run(["iptables-save"]).stdout
    finally:
        run(["iptables", "-X", chain], check=False)
        IP_FORWARD.write_text(state.ip_forward + "\n")


def test_component_close_removes_what_it_recorded_and_reports_leftovers() -> None:
    comp = Component("guard")
    bridge = comp.name("gb")
    comp.record_link(bridge)
    run(["ip", "link", "add", bridge, "type", "bridge"])
    netns = comp.name("gn")
    comp.record_netns(netns)
    run(["ip", "netns", "add", netns])
    comp.close()
    assert bridge not in run(["ip", "-o", "link", "show"]).stdout
    assert netns not in run(["ip", "netns", "list"]).stdout
    assert comp.leftovers == [] and comp.host_changes == []
    assert not comp.dir.exists()
