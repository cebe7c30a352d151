"""The teardown guards themselves: a firewall or ip_forward change is seen and put back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.components.base import REPO, Component, run

pytestmark = pytest.mark.kernel


_GUARD_CHECK = """
from tests.components.base import IP_FORWARD, HostState, run
state = HostState()
flipped = "0" if state.ip_forward == "1" else "1"
run(["iptables", "-N", "vntguard"])
run(["iptables", "-P", "FORWARD", "DROP"])
IP_FORWARD.write_text(flipped + "\\n")
changes = state.changes()
assert "iptables-save ruleset changed" in changes and HostState.FORWARD_CHANGED in changes, changes
state.restore()
assert state.changes() == [], state.changes()
saved = run(["iptables-save"]).stdout
assert "vntguard" not in saved and ":FORWARD ACCEPT" in saved, saved
print("guard ok")
"""


def test_host_state_sees_and_restores_a_chain_a_policy_and_ip_forward() -> None:
    """Run in a throwaway network namespace: iptables-nft cannot delete a table once made, so doing this
    in the host's own namespace would leave an (inert) filter table behind."""
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", _GUARD_CHECK], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "guard ok" in proc.stdout, proc.stdout + proc.stderr


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
