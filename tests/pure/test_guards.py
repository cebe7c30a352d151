"""The guards, pure: fake SSH_CONNECTION, the article's compute node, and injected route answers."""

from __future__ import annotations

import pytest

from tests.fixtures_snapshots import QDHCP_NAME, compute_node
from vnettop.actions import guards
from vnettop.actions import plans as p
from vnettop.actions.guards import GuardWarning, SshContext, UnconfirmedWarnings
from vnettop.actions.mutator import Mutator
from vnettop.errors import ValidationError
from vnettop.model import Snapshot

# compute_node(): root ifindex 2 em2 (NIC), 3 br0 (ports 5 tap0, 6 em2.100 on em2, 7 veth-a),
# 8 tun0 (openvpn), 11 tap1 (unheld); qdhcp-...: veth-b, peer of veth-a.
VIA_BR0 = SshContext(client="198.51.100.7", server="192.0.2.10", route_ifindex=3)
VIA_TUN0 = SshContext(client="10.5.0.2", server="10.5.0.1", route_ifindex=8)


def codes(warnings: list[GuardWarning]) -> set[tuple[str, str]]:
    return {(w.code, w.subject) for w in warnings}


def test_ssh_from_env_parses_client_and_server() -> None:
    env = {"SSH_CONNECTION": "198.51.100.7 52114 192.0.2.10 22"}
    assert guards.ssh_from_env(env) == ("198.51.100.7", "192.0.2.10")
    assert guards.ssh_from_env({"SSH_CONNECTION": "fe80::1%eth0 1 fe80::2%eth0 22"}) == ("fe80::1", "fe80::2")
    assert guards.ssh_from_env({}) is None
    assert guards.ssh_from_env({"SSH_CONNECTION": "garbage"}) is None


@pytest.mark.parametrize("plan", [
    p.DeleteLink("br0"),
    p.SetLinkState("br0", up=False),
    p.MoveToNamespace("br0", to_netns="x"),
])
def test_cutting_the_ssh_bridge_warns(plan: p.Plan) -> None:
    warnings = guards.check(plan, compute_node(), VIA_BR0)
    assert ("ssh-route", "br0") in codes(warnings)
    msg = next(w.message for w in warnings if w.code == "ssh-route")
    assert "SSH" in msg and "br0" in msg


def test_ports_of_the_ssh_bridge_and_their_lower_devices_warn() -> None:
    snap = compute_node()
    assert ("ssh-route", "em2.100") in codes(guards.check(p.ClearMaster("em2.100"), snap, VIA_BR0))
    assert ("ssh-route", "em2.100") in codes(guards.check(p.DeleteLink("em2.100"), snap, VIA_BR0))
    # em2 carries em2.100, the bridge's uplink; it is also a physical NIC.
    assert codes(guards.check(p.SetLinkState("em2", up=False), snap, VIA_BR0)) == {
        ("ssh-route", "em2"), ("physical-nic", "em2")}


def test_devices_off_the_ssh_path_do_not_warn() -> None:
    snap = compute_node()
    assert guards.check(p.DeleteLink("tap1"), snap, VIA_BR0) == []
    assert guards.check(p.SetLinkState("br0", up=True), snap, VIA_BR0) == []
    assert guards.check(p.DeleteLink("br0"), snap, VIA_TUN0) == []
    assert guards.check(p.DeleteLink("br0"), snap, None) == []


def test_the_route_device_itself_warns_when_it_is_not_a_bridge() -> None:
    warnings = guards.check(p.SetLinkState("tun0", up=False), compute_node(), VIA_TUN0)
    assert codes(warnings) == {("ssh-route", "tun0")}


def test_deleting_a_veth_whose_peer_matters_warns_through_the_peer() -> None:
    # veth-b (in qdhcp) is the peer of veth-a, a port of the SSH bridge: deleting either end kills both.
    warnings = guards.check(p.DeleteLink("veth-b", netns=QDHCP_NAME), compute_node(), VIA_BR0)
    assert ("ssh-route", "veth-a") in codes(warnings)
    warnings = guards.check(p.DeleteNamespace(QDHCP_NAME), compute_node(), VIA_BR0)
    assert ("ssh-route", "veth-a") in codes(warnings)


def test_removing_the_address_ssh_is_connected_to_warns() -> None:
    warnings = guards.check(p.DelAddress("em2", address="192.0.2.10/24"), compute_node(), VIA_BR0)
    assert codes(warnings) == {("ssh-address", "em2")}
    assert guards.check(p.DelAddress("em2", address="192.0.2.11/24"), compute_node(), VIA_BR0) == []


def test_physical_nic_warns_without_ssh() -> None:
    for plan in (p.DeleteLink("em2"), p.SetLinkState("em2", up=False), p.MoveToNamespace("em2", to_netns="x"),
                 p.SetMaster("em2", bridge="br0")):
        assert codes(guards.check(plan, compute_node(), None)) == {("physical-nic", "em2")}, plan


def test_deleting_a_held_tap_names_the_process() -> None:
    warnings = guards.check(p.DeleteLink("tap0"), compute_node(), None)
    assert codes(warnings) == {("tap-held", "tap0")}
    assert "qemu-kvm[7748]" in warnings[0].message and "fd 26" in warnings[0].message


def test_a_plan_for_a_replaced_device_finds_no_target() -> None:
    # The screen saw tap0 as ifindex 99: the snapshot's tap0 (index 5) is another device.
    assert guards.check(p.DeleteLink("tap0", ifindex=99), compute_node(), None) == []
    assert codes(guards.check(p.DeleteLink("tap0", ifindex=5), compute_node(), None)) == {("tap-held", "tap0")}


def test_unconfirmed_accepts_objects_or_keys() -> None:
    ws = guards.check(p.DeleteLink("em2"), compute_node(), VIA_BR0)
    assert len(ws) == 2
    assert guards.unconfirmed(ws, ws) == []
    assert guards.unconfirmed(ws, [ws[0].key]) == [ws[1]]
    assert guards.unconfirmed(ws, []) == ws


def test_mutator_refuses_unconfirmed_warnings_before_the_kernel() -> None:
    """apply() with an injected snapshot and route: refused, and the kernel is never reached
    (the plan names a device that exists only in the fake snapshot)."""
    env = {"SSH_CONNECTION": "198.51.100.7 52114 192.0.2.10 22"}
    mutator = Mutator(False, None, environ=env, route_lookup=lambda client: 3)
    plan = p.DeleteLink("br0")
    with pytest.raises(UnconfirmedWarnings) as info:
        mutator.apply(plan, snapshot=compute_node())
    assert "SSH" in str(info.value)
    assert [w.key for w in info.value.warnings] == ["ssh-route:br0"]
    assert mutator.check(plan, compute_node())[0].key == "ssh-route:br0"


def test_mutator_validates_before_guards() -> None:
    mutator = Mutator(False, None, environ={}, route_lookup=lambda client: None)
    with pytest.raises(ValidationError):
        mutator.apply(p.DeleteLink("bad/name"), snapshot=compute_node())


def test_can_warn_skips_plans_no_guard_objects_to() -> None:
    quiet = [p.CreateBridge("b"), p.CreateVethPair("a", "b"), p.CreateTunTap("t"), p.CreateNamespace("n"),
             p.SetLinkState("x", up=True), p.AddAddress("x", address="10.0.0.1/24")]
    loud = [p.DeleteLink("x"), p.DeleteNamespace("n"), p.MoveToNamespace("x", to_netns="n"), p.ClearMaster("x"),
            p.SetMaster("x", bridge="b"), p.SetLinkState("x", up=False), p.DelAddress("x", address="10.0.0.1/24")]
    assert [guards.can_warn(plan) for plan in quiet] == [False] * len(quiet)
    assert [guards.can_warn(plan) for plan in loud] == [True] * len(loud)
    assert {type(x) for x in quiet + loud} == set(p.PLAN_TYPES)


def test_deleting_a_namespace_with_processes_names_them() -> None:
    warnings = guards.check(p.DeleteNamespace(QDHCP_NAME), compute_node(), None)
    assert codes(warnings) == {("ns-processes", QDHCP_NAME)}
    assert "dnsmasq[28795]" in warnings[0].message
    assert guards.check(p.DeleteNamespace("no-such-ns"), compute_node(), None) == []


def test_a_guard_that_cannot_look_asks_for_confirmation() -> None:
    def broken() -> Snapshot:
        raise OSError(24, "Too many open files")

    mutator = Mutator(False, None, snapshot_provider=broken, environ={})
    (warning,) = mutator.check(p.DeleteLink("tap0"))
    assert warning.code == "guard-unavailable" and "Too many open files" in warning.message
    with pytest.raises(UnconfirmedWarnings):
        mutator.apply(p.DeleteLink("tap0"))
    assert mutator.check(p.CreateBridge("br0")) == []  # creations need no look at all
