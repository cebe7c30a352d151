"""Every action, applied for real through the Mutator and checked with iproute2; every failure path.

Objects are named with `kit.name(...)` and registered with the kit (namespaces in `kit.namespaces`,
root devices with `kit.link`) so they are removed even when a test fails. Results are read back with
`ip -j` (an independent tool), never with vnettop's own collector.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernelkit import KernelKit, run
from tests.tunholder import start_holder
from vnettop.actions import mutator as mut
from vnettop.actions import plans as p
from vnettop.actions import validate as v
from vnettop.actions.guards import UnconfirmedWarnings
from vnettop.actions.journal import Journal
from vnettop.errors import NotFoundError, ValidationError
from vnettop.model import Host, Snapshot

pytestmark = pytest.mark.kernel
REPO = str(Path(__file__).resolve().parents[2])


def _empty() -> Snapshot:
    return Snapshot(Host("", ""), (), ())


@pytest.fixture
def m(tmp_path: Path) -> mut.Mutator:
    """A writable mutator without SSH context; guards see an empty snapshot (tested on their own)."""
    return mut.Mutator(False, Journal(str(tmp_path / "journal.jsonl")), snapshot_provider=_empty, environ={})


def links(kit: KernelKit, netns: str | None = None) -> dict[str, dict[str, Any]]:
    return {d["ifname"]: d for d in json.loads(kit.ip("-j", "-d", "link", "show", netns=netns))}


def addrs(kit: KernelKit, dev: str, netns: str | None = None) -> list[str]:
    (d,) = json.loads(kit.ip("-j", "addr", "show", "dev", dev, netns=netns))
    return [f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", [])]


def ok(m: mut.Mutator, plan: p.Plan) -> mut.ApplyResult:
    result = m.apply(plan)
    assert result.ok, result.message
    assert result.ip_command == plan.ip_command()
    return result


def test_namespace_create_and_delete(kit: KernelKit, m: mut.Mutator) -> None:
    name = kit.name("ns")
    kit.namespaces.append(name)
    ok(m, p.CreateNamespace(name))
    assert name in run(["ip", "netns", "list"]).stdout.split()
    # A real namespace, distinct from ours, usable by iproute2.
    assert os.stat(f"/run/netns/{name}").st_ino != os.stat("/proc/self/ns/net").st_ino
    assert set(links(kit, name)) == {"lo"}
    result = m.apply(p.CreateNamespace(name))
    assert not result.ok and "already exists" in result.message and "EEXIST" in result.message
    ok(m, p.DeleteNamespace(name))
    assert not os.path.lexists(f"/run/netns/{name}")
    assert f" {name}/" not in Path("/proc/self/mountinfo").read_text()
    result = m.apply(p.DeleteNamespace(name))
    assert not result.ok and "does not exist" in result.message


def test_bridge_with_stp_mtu_and_mac(kit: KernelKit, m: mut.Mutator) -> None:
    ns = kit.netns("a")
    br = kit.name("br")
    ok(m, p.CreateBridge(br, netns=ns, stp=True, mtu=1400, mac="02:00:00:00:be:ef"))
    dev = links(kit, ns)[br]
    assert dev["linkinfo"]["info_kind"] == "bridge"
    assert dev["linkinfo"]["info_data"]["stp_state"] == 1
    assert dev["mtu"] == 1400 and dev["address"] == "02:00:00:00:be:ef"
    result = m.apply(p.CreateBridge(br, netns=ns))
    assert not result.ok and f"a device named {br} already exists in namespace {ns}" in result.message


@pytest.mark.parametrize("where", ["ns-ns", "root-ns", "ns-root", "same-ns"])
def test_veth_pair_each_end_anywhere(kit: KernelKit, m: mut.Mutator, where: str) -> None:
    a_ns = None if where.startswith("root") else kit.netns("a")
    b_ns = {"ns-ns": None, "root-ns": None, "ns-root": None, "same-ns": a_ns}[where]
    if where in ("ns-ns", "root-ns"):
        b_ns = kit.netns("b")
    a, b = kit.name("va"), kit.name("vb")
    kit.link(a, a_ns)
    kit.link(b, b_ns)
    ok(m, p.CreateVethPair(a, b, netns=a_ns, peer_netns=b_ns, mtu=1450))
    end_a, end_b = links(kit, a_ns)[a], links(kit, b_ns)[b]
    assert end_a["linkinfo"]["info_kind"] == end_b["linkinfo"]["info_kind"] == "veth"
    assert end_a["mtu"] == end_b["mtu"] == 1450
    # Each end's IFLA_LINK is the other's ifindex (in the other's namespace).
    if a_ns == b_ns:
        assert end_a["link"] == b and end_b["link"] == a
    else:
        assert end_a["link_index"] == end_b["ifindex"] and end_b["link_index"] == end_a["ifindex"]
        assert "link_netnsid" in end_a and "link_netnsid" in end_b
    # Deleting one end deletes both.
    ok(m, p.DeleteLink(b, netns=b_ns))
    assert a not in links(kit, a_ns) and b not in links(kit, b_ns)


def test_veth_peer_name_taken_fails_whole(kit: KernelKit, m: mut.Mutator) -> None:
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    a, b = kit.name("va"), kit.name("vb")
    kit.bridge(b, netns=ns_b)
    result = m.apply(p.CreateVethPair(a, b, netns=ns_a, peer_netns=ns_b))
    assert not result.ok and "EEXIST" in result.message
    assert a not in links(kit, ns_a)


def test_veth_whose_second_step_fails_is_removed(kit: KernelKit, m: mut.Mutator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """If the pair cannot be found whole after creation, what was made is deleted again."""
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    a, b = kit.name("va"), kit.name("vb")
    real_lookup = mut._lookup

    def lookup(ipr: Any, name: str, netns: str | None, seen: int | None = None) -> int:
        if name == b:
            raise NotFoundError(f"no device {b} (simulated)")
        return real_lookup(ipr, name, netns, seen)

    monkeypatch.setattr(mut, "_lookup", lookup)
    result = m.apply(p.CreateVethPair(a, b, netns=ns_a, peer_netns=ns_b))
    assert not result.ok and "not created whole" in result.message
    assert a not in links(kit, ns_a) and b not in links(kit, ns_b)


def test_tuntap_in_a_namespace_like_ip_tuntap(kit: KernelKit, m: mut.Mutator) -> None:
    ns = kit.netns("t")
    tap, tun = kit.name("tap"), kit.name("tun")
    ok(m, p.CreateTunTap(tap, netns=ns, multi_queue=True, vnet_hdr=True, owner=65534))
    ok(m, p.CreateTunTap(tun, mode="tun", netns=ns, group=65534))
    devs = links(kit, ns)
    tap_data, tun_data = devs[tap]["linkinfo"]["info_data"], devs[tun]["linkinfo"]["info_data"]
    assert (tap_data["type"], tap_data["pi"], tap_data["multi_queue"], tap_data["vnet_hdr"],
            tap_data["persist"], tap_data["user"]) == ("tap", False, True, True, True, "nobody")
    assert (tun_data["type"], tun_data["pi"], tun_data["persist"], tun_data["group"]) == \
        ("tun", False, True, "nogroup")
    assert tap not in links(kit)  # made in the namespace, not in the thread's or process's home
    result = m.apply(p.CreateTunTap(tap, netns=ns))
    assert not result.ok and "already exists" in result.message


def test_master_nomaster_move_state_addresses(kit: KernelKit, m: mut.Mutator) -> None:
    ns, other = kit.netns("a"), kit.netns("b")
    br, tap, veth_a, veth_b = kit.name("br"), kit.name("tap"), kit.name("va"), kit.name("vb")
    kit.bridge(br, netns=ns)
    kit.tuntap(tap, netns=ns)
    kit.veth(veth_a, veth_b, ns_a=ns, ns_b=ns)
    ok(m, p.SetMaster(tap, netns=ns, bridge=br))
    ok(m, p.SetMaster(veth_a, netns=ns, bridge=br))
    assert links(kit, ns)[tap]["master"] == br and links(kit, ns)[veth_a]["master"] == br
    ok(m, p.ClearMaster(tap, netns=ns))
    assert "master" not in links(kit, ns)[tap]
    result = m.apply(p.ClearMaster(tap, netns=ns))
    assert not result.ok and "not a port of any bridge" in result.message
    result = m.apply(p.SetMaster(tap, netns=ns, bridge=veth_b))
    assert not result.ok and "is not a bridge" in result.message
    # Move to another namespace, then to root and back.
    ok(m, p.MoveToNamespace(veth_b, netns=ns, to_netns=other))
    assert veth_b in links(kit, other) and veth_b not in links(kit, ns)
    kit.link(veth_b, None)
    ok(m, p.MoveToNamespace(veth_b, netns=other, to_netns=None))
    assert veth_b in links(kit)
    ok(m, p.MoveToNamespace(veth_b, netns=None, to_netns=other))
    # Up / down.
    ok(m, p.SetLinkState(veth_b, netns=other, up=True))
    assert "UP" in links(kit, other)[veth_b]["flags"]
    ok(m, p.SetLinkState(veth_b, netns=other, up=False))
    assert "UP" not in links(kit, other)[veth_b]["flags"]
    # Addresses, v4 and v6.
    ok(m, p.AddAddress(veth_b, netns=other, address="10.77.0.2/24"))
    ok(m, p.AddAddress(veth_b, netns=other, address="fd00:77::2/64"))
    assert {"10.77.0.2/24", "fd00:77::2/64"} <= set(addrs(kit, veth_b, other))
    result = m.apply(p.AddAddress(veth_b, netns=other, address="10.77.0.2/24"))
    assert not result.ok and "already has 10.77.0.2/24" in result.message
    ok(m, p.DelAddress(veth_b, netns=other, address="10.77.0.2/24"))
    assert "10.77.0.2/24" not in addrs(kit, veth_b, other)
    result = m.apply(p.DelAddress(veth_b, netns=other, address="10.77.0.2/24"))
    assert not result.ok and "has no address" in result.message
    # Moving into a namespace that has a device of that name.
    kit.bridge(veth_b, netns=ns)
    result = m.apply(p.MoveToNamespace(veth_b, netns=other, to_netns=ns))
    assert not result.ok and "already has a device named" in result.message


def test_invalid_input_never_reaches_the_kernel(kit: KernelKit, m: mut.Mutator) -> None:
    ns = kit.netns("a")
    with pytest.raises(ValidationError, match="15"):
        m.apply(p.CreateBridge(kit.name("br") + "xxxxxxxx", netns=ns))
    with pytest.raises(ValidationError, match="prefix"):
        m.apply(p.AddAddress("lo", netns=ns, address="10.0.0.1"))
    assert set(links(kit, ns)) == {"lo"}


def test_missing_namespace_is_reported_and_never_created(kit: KernelKit, m: mut.Mutator) -> None:
    ghost = kit.name("ghost")
    kit.namespaces.append(ghost)  # in case it were (wrongly) created
    for plan in (p.CreateBridge(kit.name("br"), netns=ghost), p.SetLinkState("lo", netns=ghost),
                 p.CreateTunTap(kit.name("tap"), netns=ghost),
                 p.CreateVethPair(kit.name("va"), kit.name("vb"), peer_netns=ghost),
                 p.MoveToNamespace("lo", netns=None, to_netns=ghost)):
        result = m.apply(plan)
        assert not result.ok and f"namespace {ghost} does not exist" in result.message, plan
        assert not os.path.lexists(f"/run/netns/{ghost}")
    assert kit.name("va") not in links(kit)


def test_vanished_or_replaced_device_is_refused(kit: KernelKit, m: mut.Mutator) -> None:
    ns = kit.netns("a")
    name = kit.name("br")
    kit.bridge(name, netns=ns)
    seen = links(kit, ns)[name]["ifindex"]
    kit.ip("link", "del", name, netns=ns)
    result = m.apply(p.SetLinkState(name, netns=ns, ifindex=seen))
    assert not result.ok and f"no device {name} in namespace {ns}" in result.message
    kit.bridge(name, netns=ns)  # same name, new device
    now = links(kit, ns)[name]["ifindex"]
    assert now != seen
    result = m.apply(p.DeleteLink(name, netns=ns, ifindex=seen))
    assert not result.ok and "replaced since the screen drew it" in result.message
    assert name in links(kit, ns)
    ok(m, p.DeleteLink(name, netns=ns, ifindex=now))


def test_live_guard_names_the_process_holding_a_tap(kit: KernelKit, tmp_path: Path) -> None:
    """Without an injected snapshot the mutator reads the system itself (a one-shot live collector)."""
    ns = kit.netns("g")
    tap = kit.name("tap")
    pid, _fds = start_holder(kit, tap, netns=ns)
    m = mut.Mutator(False, Journal(str(tmp_path / "j.jsonl")), environ={})
    plan = p.DeleteLink(tap, netns=ns)
    with pytest.raises(UnconfirmedWarnings) as info:
        m.apply(plan)
    (warning,) = info.value.warnings
    assert warning.code == "tap-held" and f"[{pid}]" in warning.message
    assert tap in links(kit, ns)
    result = m.apply(plan, confirmed_warnings=[warning])
    assert result.ok, result.message
    assert tap not in links(kit, ns)


def _run_without(caps: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", f"--bounding-set={caps}", sys.executable, "-c", code],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.skipif(not os.path.exists("/usr/bin/setpriv"), reason="needs setpriv (util-linux)")
def test_without_cap_net_admin(kit: KernelKit) -> None:
    br, ns = kit.name("br"), kit.name("np")
    kit.link(br)
    kit.namespaces.append(ns)
    code = f"""
from vnettop.actions.mutator import Mutator
from vnettop.actions import plans as p
from vnettop.actions import validate as v
m, notice = Mutator.for_cli(False, None)
print("READONLY", m.read_only, notice)
w = Mutator(False, None, environ={{}})
print("BRIDGE", w.apply(p.CreateBridge({br!r})).message)
print("NETNS", w.apply(p.CreateNamespace({ns!r})).message)
"""
    proc = _run_without("-net_admin,-sys_admin", code)
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert out["READONLY"].startswith("True read-only:") and "CAP_NET_ADMIN" in out["READONLY"]
    assert "EPERM" in out["BRIDGE"] and "not permitted" in out["BRIDGE"]
    assert "failed" in out["NETNS"]
    assert br not in links(kit)
    assert not os.path.lexists(f"/run/netns/{ns}")


def test_journal_records_applied_and_failed(kit: KernelKit, tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.jsonl"))
    m = mut.Mutator(False, journal, snapshot_provider=_empty, environ={})
    ns = kit.netns("j")
    br = kit.name("br")
    ok(m, p.CreateBridge(br, netns=ns))
    m.apply(p.CreateBridge(br, netns=ns))
    entries = list(journal.entries())
    assert [e["outcome"] for e in entries] == ["applied", "failed"]
    assert entries[0]["ip_command"] == f"ip -n {ns} link add {br} type bridge"
    assert entries[0]["duration_ms"] > 0 and "EEXIST" in entries[1]["message"]


def test_ip_commands_are_real_iproute2_commands(kit: KernelKit) -> None:
    """The printed command does what the plan does: run it with iproute2 and look."""
    ns_a, ns_b = kit.netns("a"), kit.netns("b")
    br, tap, va, vb = kit.name("br"), kit.name("tap"), kit.name("va"), kit.name("vb")
    new_ns = kit.name("c")
    kit.namespaces.append(new_ns)
    for plan in (p.CreateBridge(br, netns=ns_a, stp=True), p.CreateTunTap(tap, netns=ns_a, multi_queue=True),
                 p.CreateVethPair(va, vb, netns=ns_a, peer_netns=ns_b), p.SetMaster(tap, netns=ns_a, bridge=br),
                 p.SetLinkState(vb, netns=ns_b, up=True), p.AddAddress(vb, netns=ns_b, address="10.78.0.1/24"),
                 p.MoveToNamespace(va, netns=ns_a, to_netns=ns_b), p.CreateNamespace(new_ns)):
        run(plan.ip_command().split())
    # Names iproute2 would read as keywords ("br" = broadcast, "a" = address, "mtu").
    for plan in (p.CreateBridge("br", netns=ns_b), p.CreateVethPair("a", "mtu", netns=ns_b, peer_netns=ns_b),
                 p.SetMaster("mtu", netns=ns_b, bridge="br"), p.ClearMaster("mtu", netns=ns_b),
                 p.SetMaster("a", netns=ns_b, bridge="br"), p.MoveToNamespace("mtu", netns=ns_b, to_netns=ns_a)):
        run(plan.ip_command().split())
    a, b = links(kit, ns_a), links(kit, ns_b)
    assert b["a"]["master"] == "br" and "mtu" in a
    assert a[tap]["master"] == br and a[br]["linkinfo"]["info_data"]["stp_state"] == 1
    assert a[tap]["linkinfo"]["info_data"]["pi"] is False
    assert va in b and "UP" in b[vb]["flags"] and addrs(kit, vb, ns_b) == ["10.78.0.1/24"]
    assert os.path.exists(f"/run/netns/{new_ns}")


def _kernel_rule_broken(name: str) -> bool:
    """dev_valid_name() in net/core/dev.c: 1-15 bytes, not . or .., no '/', ':' or (Latin-1) space."""
    raw = name.encode("utf-8", "surrogatepass")
    return (not 0 < len(raw) <= 15 or name in (".", "..")
            or any(b in b"/: \t\n\v\f\r" or b == 0xA0 for b in raw))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=17))
def test_validator_and_kernel_agree_on_device_names(kit: KernelKit, m: mut.Mutator, name: str) -> None:
    """Every name the validator accepts, the kernel accepts (made and deleted through the mutator);
    every name the kernel's own rule rejects, the validator rejects too."""
    ns = getattr(kit, "hyp_ns", None) or kit.netns("h")
    kit.hyp_ns = ns  # type: ignore[attr-defined]
    try:
        v.check_ifname(name)
    except ValidationError:
        # Stricter than dev_valid_name(): control characters, Unicode spaces, and '%' (which makes the
        # kernel treat the name as a template like "eth%d" and choose another name, or fail).
        assert _kernel_rule_broken(name) or any(
            c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "%" for c in name), name
        if _kernel_rule_broken(name) and name and "\x00" not in name and "%" not in name:
            assert run(["ip", "-n", ns, "link", "add", "name", name, "type", "bridge"], check=False).returncode != 0
        return
    ok(m, p.CreateBridge(name, netns=ns))
    assert name in links(kit, ns)
    ok(m, p.DeleteLink(name, netns=ns))


def test_failed_namespace_creation_leaves_no_mount_point(kit: KernelKit, m: mut.Mutator,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from vnettop.actions import netnsfs

    name = kit.name("half")
    kit.namespaces.append(name)

    def refuse(path: str) -> None:
        raise OSError(1, "unshare(CLONE_NEWNET): Operation not permitted (simulated)")

    monkeypatch.setattr(netnsfs, "_unshare_and_bind", refuse)
    result = m.apply(p.CreateNamespace(name))
    assert not result.ok and "EPERM" in result.message
    assert not os.path.lexists(f"/run/netns/{name}")


def test_an_empty_leftover_under_run_netns_is_not_entered(kit: KernelKit, m: mut.Mutator) -> None:
    """An interrupted `ip netns add` leaves an empty file: setns on it would fail obscurely."""
    name = kit.name("empty")
    kit.namespaces.append(name)
    Path(f"/run/netns/{name}").touch()
    result = m.apply(p.SetLinkState("lo", netns=name))
    assert not result.ok and "not a mounted namespace" in result.message
    ok(m, p.DeleteNamespace(name))
    assert not os.path.lexists(f"/run/netns/{name}")


def test_live_ssh_guard_follows_the_route_to_the_client(kit: KernelKit, tmp_path: Path) -> None:
    """SSH_CONNECTION names a client routed through a test device in root: downing that device or
    deleting its veth peer needs confirmation, found by a live route lookup and a live snapshot."""
    a, b = kit.veth(kit.name("sa"), kit.name("sb"))
    net = 4 * (int(kit.tag, 16) % 60 + 1)  # a /30 of TEST-NET-2 per kit; no packet is ever sent
    kit.ip("addr", "add", f"198.51.100.{net + 1}/30", "dev", a)
    kit.ip("link", "set", a, "up")
    kit.ip("link", "set", b, "up")
    env = {"SSH_CONNECTION": f"198.51.100.{net + 2} 50000 198.51.100.{net + 1} 22"}
    m = mut.Mutator(False, Journal(str(tmp_path / "j.jsonl")), environ=env)
    assert mut.route_lookup_root(f"198.51.100.{net + 2}") == links(kit)[a]["ifindex"]
    down = p.SetLinkState(a, up=False)
    with pytest.raises(UnconfirmedWarnings) as info:
        m.apply(down)
    assert [w.key for w in info.value.warnings] == [f"ssh-route:{a}"]
    with pytest.raises(UnconfirmedWarnings) as info:
        m.apply(p.DeleteLink(b))
    assert f"ssh-route:{a}" in [w.key for w in info.value.warnings]
    with pytest.raises(UnconfirmedWarnings):
        m.apply(p.DelAddress(a, address=f"198.51.100.{net + 1}/30"))
    assert "UP" in links(kit)[a]["flags"]
    result = m.apply(down, confirmed_warnings=[f"ssh-route:{a}"])
    assert result.ok and "UP" not in links(kit)[a]["flags"]
