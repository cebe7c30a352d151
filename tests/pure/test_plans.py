"""Plans: their ip commands, descriptions, validation, and that a dialog can be generated from them."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from vnettop.actions import plans as p
from vnettop.errors import ValidationError

EXPECTED = [
    (p.CreateBridge("br0"), "ip link add br0 type bridge"),
    (p.CreateBridge("br0", netns="ns1", stp=True, mtu=9000, mac="02:00:00:00:00:01"),
     "ip -n ns1 link add br0 mtu 9000 address 02:00:00:00:00:01 type bridge stp_state 1"),
    (p.CreateVethPair("veth-a", "veth-b"), "ip link add veth-a type veth peer name veth-b"),
    (p.CreateVethPair("veth-a", "veth-b", netns="NS", peer_netns="OTHER"),
     "ip -n NS link add veth-a type veth peer name veth-b netns OTHER"),
    (p.CreateVethPair("veth-a", "veth-b", peer_netns="OTHER"),
     "ip link add veth-a type veth peer name veth-b netns OTHER"),
    (p.CreateVethPair("veth-a", "veth-b", netns="NS"),
     "ip link add veth-a netns NS type veth peer name veth-b"),
    (p.CreateVethPair("a", "b", netns="NS", peer_netns="NS"), "ip -n NS link add name a type veth peer name b"),
    (p.CreateTunTap("tap0", multi_queue=True, owner=1000),
     "ip tuntap add mode tap name tap0 multi_queue user 1000"),
    (p.CreateTunTap("tun2", mode="tun", netns="vpn", group=27, vnet_hdr=True),
     "ip -n vpn tuntap add mode tun name tun2 vnet_hdr group 27"),
    (p.CreateNamespace("qdhcp-1"), "ip netns add qdhcp-1"),
    (p.DeleteNamespace("qdhcp-1"), "ip netns del qdhcp-1"),
    (p.SetMaster("tap0", bridge="br0"), "ip link set tap0 master br0"),
    (p.ClearMaster("tap0"), "ip link set tap0 nomaster"),
    (p.MoveToNamespace("veth-b", to_netns="NS"), "ip link set veth-b netns NS"),
    (p.MoveToNamespace("veth-b", netns="NS"), "ip -n NS link set veth-b netns 1"),
    (p.SetLinkState("X", up=True), "ip link set dev X up"),
    (p.SetLinkState("X", netns="n", up=False), "ip -n n link set dev X down"),
    (p.AddAddress("X", address="10.0.0.2/24"), "ip addr add 10.0.0.2/24 dev X"),
    (p.DelAddress("X", netns="n", address="fd00::1/64"), "ip -n n addr del fd00::1/64 dev X"),
    (p.DeleteLink("X"), "ip link del dev X"),
]


@pytest.mark.parametrize(("plan", "command"), EXPECTED, ids=[c for _, c in EXPECTED])
def test_ip_command(plan: p.Plan, command: str) -> None:
    plan.validate()
    assert plan.ip_command() == command


def test_every_plan_type_is_covered_above() -> None:
    assert {type(plan) for plan, _ in EXPECTED} == set(p.PLAN_TYPES)


def test_odd_namespace_names_are_quoted() -> None:
    plan = p.CreateNamespace("my ns")
    plan.validate()
    assert plan.ip_command() == "ip netns add 'my ns'"


@pytest.mark.parametrize(("plan", "_command"), EXPECTED)
def test_round_trip_through_dict(plan: p.Plan, _command: str) -> None:
    data = plan.to_dict()
    assert data["plan"] == type(plan).__name__
    assert p.plan_from_dict(data) == plan


def test_plan_from_dict_rejects_unknown_things() -> None:
    with pytest.raises(ValidationError, match="not a known action"):
        p.plan_from_dict({"plan": "FormatDisk"})
    with pytest.raises(ValidationError, match="unknown field"):
        p.plan_from_dict({"plan": "DeleteLink", "device": "x", "force": True})


@pytest.mark.parametrize("cls", p.PLAN_TYPES)
def test_fields_are_simple_enough_for_a_generated_dialog(cls: type[p.Plan]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        args = set(typing.get_args(hints[f.name])) or {hints[f.name]}
        assert args <= {str, int, bool, type(None)}, (cls.__name__, f.name, hints[f.name])
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
    assert cls.title


def test_destructive_plans_and_their_confirmation_text() -> None:
    destructive = {cls for cls in p.PLAN_TYPES if cls.destructive}
    assert destructive == {p.DeleteLink, p.DeleteNamespace}
    assert p.DeleteLink("tap796091c0-07").confirm_text == "tap796091c0-07"
    assert p.DeleteNamespace("qdhcp-1").confirm_text == "qdhcp-1"
    assert p.CreateBridge("br0").confirm_text is None


def test_target_of_device_plans() -> None:
    assert p.DeleteLink("tap0", netns="n", ifindex=7).target == p.DeviceTarget("n", "tap0", 7)
    assert p.CreateBridge("br0").target is None


@pytest.mark.parametrize(("plan", "fragment"), [
    (p.CreateBridge("br/0"), "bridge name"),
    (p.CreateBridge("br0", mtu=10), "mtu"),
    (p.CreateBridge("br0", mac="01:00:5e:00:00:01"), "multicast"),
    (p.CreateVethPair("a", "a"), "different names"),
    (p.CreateVethPair("a", "toolongname12345"), "peer name"),
    (p.CreateVethPair("a", "b", peer_netns=".."), "peer namespace"),
    (p.CreateTunTap("tap0", mode="tip"), "mode"),
    (p.CreateTunTap("tap0", owner=-1), "owner"),
    (p.CreateTunTap("tap0", persist=False), "persist"),
    (p.CreateNamespace(""), "empty"),
    (p.CreateNamespace("a/b"), "'/'"),
    (p.SetMaster("tap0", bridge="tap0"), "itself"),
    (p.SetMaster("tap0", bridge=""), "bridge name"),
    (p.MoveToNamespace("tap0", netns="x", to_netns="x"), "already in"),
    (p.AddAddress("tap0", address="10.0.0.1"), "prefix"),
    (p.DelAddress("tap0", address="10.0.0.300/24"), "not an IPv4 or IPv6"),
    (p.DeleteLink("tap0", ifindex=0), "ifindex"),
    (p.DeleteLink("a b"), "whitespace"),
])
def test_validation_names_the_field_and_reason(plan: p.Plan, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        plan.validate()
    assert fragment in str(info.value)


def test_describe_is_one_line_naming_the_device() -> None:
    for plan, _ in EXPECTED:
        text = plan.describe()
        assert "\n" not in text and text
    assert "tap0" in p.SetMaster("tap0", bridge="br0").describe()
    assert "root namespace" in p.MoveToNamespace("x", netns="n").describe()


def test_importing_the_write_side_is_light() -> None:
    """The UI and CLI import plans and the mutator eagerly; pyroute2 and Textual must not come along."""
    import subprocess
    import sys

    code = ("import sys, vnettop.actions.mutator, vnettop.actions.lab, vnettop.actions.guards; "
            "print(sorted(m for m in ('pyroute2', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("plan", "command"), [
    (p.CreateBridge("br"), "ip link add name br type bridge"),
    (p.CreateVethPair("up", "b"), "ip link add name up type veth peer name b"),
    (p.CreateVethPair("a", "b", netns="n"), "ip link add name a netns n type veth peer name b"),
    (p.SetMaster("mtu", bridge="br"), "ip link set dev mtu master br"),
    (p.ClearMaster("d"), "ip link set dev d nomaster"),
    (p.MoveToNamespace("link", to_netns="n"), "ip link set dev link netns n"),
    (p.CreateBridge("br0"), "ip link add br0 type bridge"),
])
def test_names_iproute2_would_read_as_keywords_are_spelled_out(plan: p.Plan, command: str) -> None:
    """`ip link add br type bridge` fails ("type" is invalid lladdr): "br" is read as "broadcast"."""
    assert plan.ip_command() == command
