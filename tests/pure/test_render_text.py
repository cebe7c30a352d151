"""The text dump: what `ip -br link`, `brctl show` and `lsof /dev/net/tun` would each say, in one tree."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures_snapshots import QDHCP_NAME, UNREADABLE, compute_node, cyclic
from vnettop import topology as topo
from vnettop.model import Snapshot, TunHolder
from vnettop.render.text import render_text, render_trace


@pytest.fixture
def snap() -> Snapshot:
    return compute_node()


@pytest.fixture
def text(snap: Snapshot) -> str:
    return render_text(snap)


def line_of(text: str, needle: str) -> str:
    (line,) = [ln for ln in text.splitlines() if needle in ln]
    return line


def row(text: str, device: str) -> str:
    """The one device row of `device` (its name first, after any tree prefix)."""
    (line,) = [ln for ln in text.splitlines() if ln.startswith("  ") and
               ln.lstrip(" │├└─|`-").split()[:1] == [device] and "[" not in ln.split()[0]]
    return line


def section(text: str, header_start: str) -> list[str]:
    """The lines of one namespace block (from its header to the next blank line)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header_start))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_header_counts(text: str) -> None:
    first, second = text.splitlines()[:2]
    assert "compute01" in first and "kernel 6.18.44" in first and "2026-11-25 08:00:00 UTC" in first
    assert second == "3 namespaces · 14 links · 1 bridge · 3 veth pairs · 3 tun/tap · 1 error"


def test_each_namespace_has_a_block_with_label_inode_and_processes(text: str) -> None:
    root = section(text, "root ")
    assert root[0].startswith("root  net:[4026531840]") and "3 processes" in root[0]
    qdhcp = section(text, QDHCP_NAME)
    assert "net:[4026532323]" in qdhcp[0]
    assert any("dnsmasq[28795]" in ln and "udp 0.0.0.0:67" in ln and "tcp 10.0.0.2:53" in ln for ln in qdhcp)
    pidns = section(text, "pid 4242")
    assert "(no name)" in pidns[0]
    assert any(ln.split()[0] == "eth0" for ln in pidns[1:])


def test_device_columns_kind_state_mac_addresses(text: str) -> None:
    em2 = row(text, "em2")
    assert em2.split()[:5] == ["em2", "device", "UP", "02:00:00:00:00:02", "192.0.2.10/24"]
    assert row(text, "tap1").split()[2] == "DOWN(admin)"
    assert row(text, "vethx").split()[2] == "LOWERLAYERDOWN"
    assert row(text, "tun0").split()[3] == "-"  # a tun has no MAC


def test_bridge_ports_are_nested_under_the_bridge_with_port_state(text: str) -> None:
    root = section(text, "root ")
    br = next(i for i, ln in enumerate(root) if ln.split()[0] == "br0")
    assert "stp off, 3 ports, 2 fdb entries" in root[br]
    nested = root[br + 1 : br + 4]
    assert [ln.split()[1] for ln in nested] == ["tap0", "em2.100", "veth-a"]
    assert nested[0].lstrip().startswith("├─") and nested[2].lstrip().startswith("└─")
    assert "port learning" in nested[2] and "port forwarding" in nested[0]
    # a port is shown once, nested, not again at the top level
    assert sum(1 for ln in root if " veth-a " in f" {ln} ") == 1


def test_veth_shows_peer_and_its_namespace(text: str) -> None:
    assert f"⇄ veth-b @ {QDHCP_NAME} (ifindex 2)" in row(text, "veth-a")
    assert "⇄ veth-a @ root (ifindex 7)" in row(text, "veth-b")
    # eth0's peer is vethc1, never br0 (root's ifindex 3, the colliding index)
    assert "⇄ vethc1 @ root (ifindex 9)" in row(text, "eth0")
    assert f"⇄ ifindex 4 @ net:[{UNREADABLE}] (not readable)" in row(text, "vethx")


def test_tun_tap_flags_and_holders(snap: Snapshot, text: str) -> None:
    assert "vnet_hdr held by qemu-kvm[7748] P2 fd 26" in row(text, "tap0")
    tun = snap.find_links("tap0")[0].tun
    assert tun is not None
    two = dataclasses.replace(tun, holders=(TunHolder(9, "qemu", (29, 30)),))
    many = dataclasses.replace(snap, links=tuple(
        dataclasses.replace(x, tun=two) if x.name == "tap0" else x for x in snap.links))
    assert "held by qemu[9] fd 29,30" in row(render_text(many), "tap0")
    assert "held by openvpn[3056] fd 6" in row(text, "tun0")
    tap1 = row(text, "tap1")
    assert "persist" in tap1 and "multi_queue" in tap1 and "uid 1000" in tap1 and "owner 1000" not in tap1 and "not held" in tap1


def test_vlan_shows_lower_and_info(text: str) -> None:
    vlan = row(text, "em2.100")
    assert "on em2" in vlan and "id 100" in vlan


def test_errors_come_last(text: str) -> None:
    lines = text.rstrip("\n").splitlines()
    assert lines[-2] == "errors (1)"
    assert lines[-1] == f"  netns {UNREADABLE}: permission denied: /proc/4343/ns/net"
    assert text.endswith("\n")


def test_ascii_option_is_pure_ascii(snap: Snapshot) -> None:
    out = render_text(snap, ascii=True)
    out.encode("ascii")
    assert "<-> veth-b" in out and "`- veth-a" in out


def test_cyclic_snapshot_renders_every_device_once() -> None:
    out = render_text(cyclic())
    for name in ("brloop", "self-veth", "up-a", "up-b"):
        assert sum(1 for ln in out.splitlines() if f" {name} " in f" {ln} ") >= 1
    rows = [ln for ln in out.splitlines() if ln.startswith("  ") and "UP" in ln]
    assert len(rows) == 4


def test_trace_renders_as_a_tree(snap: Snapshot) -> None:
    start = snap.find_links("tap0")[0]
    out = render_trace("trace from tap0", topo.trace(snap, start))
    lines = out.splitlines()
    assert lines[0] == "trace from tap0"
    assert lines[1].startswith("qemu-kvm[7748]  holds tap0 fd 26")
    assert lines[2].startswith("└─ tap0")
    assert any(ln.lstrip(" │├└─").startswith(f"namespace {QDHCP_NAME}") for ln in lines)
    # br0 fans out to two ports: the first is "├─", the last "└─", and the first's subtree keeps "│"
    em2_100 = line_of(out, "em2.100")
    veth_a = line_of(out, "veth-a")
    assert "├─ em2.100" in em2_100 and "└─ veth-a" in veth_a
    assert "│" in line_of(out, "em2  device")
    assert "listening tcp 10.0.0.2:53" in line_of(out, "dnsmasq")
    render_trace("from tap0", topo.trace(snap, start), ascii=True).encode("ascii")


def test_ipv6_listeners_are_bracketed() -> None:
    from vnettop.model import Listening

    assert Listening("udp6", "fe80::1", 53).endpoint == "[fe80::1]:53"
    assert Listening("tcp", "10.0.0.2", 53).endpoint == "10.0.0.2:53"


def test_wide_and_combining_names_keep_the_columns_aligned(snap: Snapshot) -> None:
    """Columns count terminal cells: a CJK character takes two, a combining accent none."""
    from vnettop.textsafe import display_width

    wide = {"tap0": "网卡零", "em2": "ｅｍ２", "br0": "bre\u0301", "tun0": "隧道"}
    snap = dataclasses.replace(snap, links=tuple(
        dataclasses.replace(x, name=wide.get(x.name, x.name)) for x in snap.links))
    root = section(render_text(snap), "root ")
    starts = {}
    for link in snap.links_in(snap.namespaces[0].inode):
        (line,) = [ln for ln in root if ln.lstrip(" │├└─").startswith(f"{link.name}  ")]
        kind_at = line.index(f"  {link.kind} ", line.index(link.name) + len(link.name)) + 2
        starts[link.name] = display_width(line[:kind_at])
    assert len(set(starts.values())) == 1, starts


def test_a_long_master_chain_renders_nested_without_recursion() -> None:
    """A saved file may nest masters thousands deep (a bond in a bridge in a bridge...): the tree is still
    drawn, each device once, without exhausting Python's recursion limit."""
    from vnettop.model import BridgeInfo, BridgePort, Host, Link, LinkRef, Namespace

    ns, depth = 4026531840, 3000
    links = tuple(
        Link(ns, i, f"d{i}", "bridge", None, 1500, True, "up",
             master=LinkRef(ns, i - 1, f"d{i - 1}") if i > 1 else None,
             bridge_port=BridgePort("forwarding", 2, 32) if i > 1 else None,
             bridge=BridgeInfo(False, False, (i + 1,) if i < depth else ()))
        for i in range(1, depth + 1))
    snap = Snapshot(Host("h", "k"), (Namespace(ns, (), True, ()),), links)
    rows = [ln for ln in render_text(snap, ascii=True).splitlines() if " bridge " in ln]
    assert len(rows) == depth
    assert rows[0].startswith("  d1 ") and rows[2].startswith("     `- d3 ")


def test_a_bridge_says_stp_once(snap: Snapshot) -> None:
    # The live collector also lists the bridge's kind facts (bridge_id, forward_delay, stp...): the note
    # that already says "stp off" must not say it again from them.
    br0 = next(link for link in snap.links if link.name == "br0")
    facts = (("bridge_id", "8000.00:00:00:00:00:00"), ("forward_delay", "15s"), ("stp", "off"))
    bridged = dataclasses.replace(snap, links=tuple(dataclasses.replace(x, info=facts) if x is br0 else x
                                                    for x in snap.links))
    line = row(render_text(bridged), "br0")
    assert line.count("stp") == 1 and "forward_delay 15s" in line
