"""Joins and traces over hand-built snapshots: peers across namespaces, bridges, holders, paths."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures_snapshots import PIDNS, QDHCP, QDHCP_NAME, ROOT, UNREADABLE, chain, compute_node, cyclic
from vnettop import topology as topo
from vnettop.errors import NotFoundError
from vnettop.model import Link, Listening, Process, Snapshot


@pytest.fixture
def snap() -> Snapshot:
    return compute_node()


def dev(snap: Snapshot, name: str, netns: int = ROOT) -> Link:
    (link,) = snap.find_links(name, netns)
    return link


# -- one-step joins -----------------------------------------------------------------------------


def test_peer_crosses_namespaces_by_key_not_by_local_ifindex(snap: Snapshot) -> None:
    veth_a = dev(snap, "veth-a")
    # The peer's ifindex (2) is em2's ifindex in root: a lookup by bare ifindex would say em2.
    assert veth_a.peer is not None and veth_a.peer.ifindex == dev(snap, "em2").ifindex
    other = topo.peer(snap, veth_a)
    assert other is not None
    assert (other.name, other.netns) == ("veth-b", QDHCP)
    back = topo.peer(snap, other)
    assert back is not None and back.key == veth_a.key


def test_peer_of_pid_only_namespace_device_collides_with_bridge_index(snap: Snapshot) -> None:
    eth0 = dev(snap, "eth0", PIDNS)
    assert eth0.ifindex == dev(snap, "br0").ifindex  # the collision the fixture is built for
    other = topo.peer(snap, eth0)
    assert other is not None and other.name == "vethc1" and other.netns == ROOT
    vethc1 = topo.peer(snap, other)
    assert vethc1 is not None and vethc1.key == (PIDNS, 3) and vethc1.kind == "veth"


def test_unresolved_peer_and_non_veth_give_none(snap: Snapshot) -> None:
    assert topo.peer(snap, dev(snap, "vethx")) is None
    assert topo.peer(snap, dev(snap, "br0")) is None


def test_lower_and_uppers(snap: Snapshot) -> None:
    vlan = dev(snap, "em2.100")
    em2 = topo.lower(snap, vlan)
    assert em2 is not None and em2.name == "em2"
    assert [u.name for u in topo.uppers(snap, em2)] == ["em2.100"]
    assert topo.lower(snap, dev(snap, "tap0")) is None


def test_bridge_of_and_ports(snap: Snapshot) -> None:
    br0 = dev(snap, "br0")
    master = topo.bridge_of(snap, dev(snap, "veth-a"))
    assert master is not None and master.key == br0.key
    assert topo.bridge_of(snap, dev(snap, "veth-b", QDHCP)) is None
    assert [p.name for p in topo.ports(snap, br0)] == ["tap0", "em2.100", "veth-a"]
    assert topo.ports(snap, dev(snap, "em2")) == ()


def test_ports_never_include_the_bridge_itself() -> None:
    snap = cyclic()
    (br,) = snap.find_links("brloop")
    assert [p.name for p in topo.ports(snap, br)] == ["self-veth", "up-a", "up-b"]


def test_holders_join_the_process_record(snap: Snapshot) -> None:
    ((proc, holder),) = topo.holders(snap, dev(snap, "tap0"))
    assert proc is not None and proc.cmdline.startswith("qemu-kvm -name guest=P2")
    assert (holder.pid, holder.fds) == (7748, (26,))
    assert topo.holders(snap, dev(snap, "tap1")) == ()  # persistent, nobody holds it
    assert topo.holders(snap, dev(snap, "br0")) == ()
    assert [link.name for link in topo.held_by(snap, 3056)] == ["tun0"]


def test_veth_pairs_lists_each_pair_once(snap: Snapshot) -> None:
    pairs = topo.veth_pairs(snap)
    named = [(a.name, b.name if b else None) for a, b in pairs]
    assert named == [("veth-a", "veth-b"), ("vethc1", "eth0"), ("vethx", None)]
    ends = [a.key for a, _ in pairs] + [b.key for _, b in pairs if b]
    assert len(ends) == len(set(ends))


def test_bridges_and_tuntaps(snap: Snapshot) -> None:
    assert [b.name for b in topo.bridges(snap)] == ["br0"]
    assert [t.name for t in topo.tuntaps(snap)] == ["tap0", "tun0", "tap1"]


def test_namespace_of_and_process(snap: Snapshot) -> None:
    assert topo.namespace_of(snap, dev(snap, "veth-b", QDHCP)).names == (QDHCP_NAME,)
    ghost = Link(netns=UNREADABLE, ifindex=4, name="x", kind="veth", mac=None, mtu=1500,
                 admin_up=True, oper_state="up")
    assert topo.namespace_of(snap, ghost).inode == UNREADABLE  # placeholder, not an error
    found = topo.process(snap, 28795)
    assert found is not None
    ns, proc = found
    assert ns.inode == QDHCP and proc.comm == "dnsmasq"
    assert topo.process(snap, 1) is None  # in a namespace's pids, but not a described process
    assert [p.comm for p in topo.listeners(ns)] == ["dnsmasq"]


# -- finding by name ------------------------------------------------------------------------------


def test_find_exact_first_then_by_kind(snap: Snapshot) -> None:
    matches = topo.find(snap, "veth-a")
    assert matches[0].kind == "link" and matches[0].exact and matches[0].ref == (ROOT, 7)
    partial = topo.find(snap, "TAP")
    assert [m.label for m in partial] == ["tap0 @ root", "tap1 @ root"]
    assert not any(m.exact for m in partial)
    assert [m.kind for m in topo.find(snap, "qdhcp")] == ["namespace"]
    dns = topo.find(snap, "28795")
    assert [(m.kind, m.ref, m.netns) for m in dns] == [("process", 28795, QDHCP)]
    assert topo.find(snap, "  ") == []
    assert topo.find(snap, "nothing-like-this") == []


def test_find_lo_is_in_every_namespace(snap: Snapshot) -> None:
    matches = [m for m in topo.find(snap, "lo") if m.exact]
    assert sorted(m.netns for m in matches) == sorted([ROOT, QDHCP, PIDNS])


def test_resolve_link(snap: Snapshot) -> None:
    assert topo.resolve_link(snap, "veth-b").key == (QDHCP, 2)
    assert topo.resolve_link(snap, "lo", QDHCP_NAME).key == (QDHCP, 1)
    assert topo.resolve_link(snap, "lo", "root").key == (ROOT, 1)
    assert topo.resolve_link(snap, "eth0", "pid 4242").key == (PIDNS, 3)
    assert topo.resolve_link(snap, "eth0", str(PIDNS)).key == (PIDNS, 3)


def test_resolve_link_errors_say_what_to_do(snap: Snapshot) -> None:
    with pytest.raises(topo.AmbiguousNameError) as amb:
        topo.resolve_link(snap, "lo")
    assert "--netns" in str(amb.value)
    assert set(amb.value.namespaces) == {"root", QDHCP_NAME, "pid 4242"}
    with pytest.raises(NotFoundError, match="no device 'nope' in any namespace"):
        topo.resolve_link(snap, "nope")
    with pytest.raises(NotFoundError, match="no device 'veth-a' in namespace"):
        topo.resolve_link(snap, "veth-a", QDHCP_NAME)
    with pytest.raises(NotFoundError, match=r"no network namespace 'ghost'.*root"):
        topo.resolve_link(snap, "lo", "ghost")


# -- traces ---------------------------------------------------------------------------------------


def labels(hops: list[topo.Hop]) -> list[str]:
    return [h.label for h in hops]


def test_trace_from_tap_is_the_articles_path(snap: Snapshot) -> None:
    hops = topo.trace(snap, dev(snap, "tap0"))
    assert [(h.kind, h.label) for h in hops[:3]] == [
        ("process", "qemu-kvm[7748]"), ("link", "tap0"), ("link", "br0")]
    # VM process -> tap -> bridge -> veth -> (across) veth -> namespace -> service listening
    order = labels(hops)
    path = ["qemu-kvm[7748]", "tap0", "br0", "veth-a", "veth-b", QDHCP_NAME, "dnsmasq[28795]"]
    assert [order.index(x) for x in path] == sorted(order.index(x) for x in path)
    by_label = {h.label: h for h in hops}
    assert by_label["veth-b"].ref == (QDHCP, 2)
    assert by_label[QDHCP_NAME].kind == "namespace" and by_label[QDHCP_NAME].ref == QDHCP
    dnsmasq = by_label["dnsmasq[28795]"]
    assert dnsmasq.kind == "service" and "udp 0.0.0.0:67" in dnsmasq.note and ":53" in dnsmasq.note
    assert "fd 26" in hops[0].note
    # em2 (2 in root) never appears as veth-a's peer, only as em2.100's lower
    assert by_label["em2"].note.endswith("(lower)")


def test_trace_depth_makes_a_tree(snap: Snapshot) -> None:
    hops = topo.trace(snap, dev(snap, "tap0"))
    depth = {h.label: h.depth for h in hops}
    assert depth["qemu-kvm[7748]"] == 0 and depth["tap0"] == 1 and depth["br0"] == 2
    assert depth["em2.100"] == depth["veth-a"] == 3  # siblings: both other ports of br0
    assert depth["veth-b"] == 4 and depth[QDHCP_NAME] == 5 and depth["dnsmasq[28795]"] == 6
    for prev, hop in itertools.pairwise(hops):
        assert hop.depth <= prev.depth + 1  # preorder: never skips a level


def test_trace_from_inside_the_namespace_goes_back_out(snap: Snapshot) -> None:
    hops = topo.trace(snap, dev(snap, "veth-b", QDHCP))
    assert labels(hops)[:4] == ["veth-b", "veth-a", "root", "br0"]
    assert "qemu-kvm[7748]" in labels(hops)  # through tap0 on the bridge, to the VM holding it
    assert "dnsmasq[28795]" not in labels(hops)  # the start's own namespace is not a hop
    assert QDHCP_NAME not in labels(hops)


def test_trace_pid_namespace_peer_is_not_the_colliding_bridge(snap: Snapshot) -> None:
    hops = topo.trace(snap, dev(snap, "vethc1"))
    assert [(h.label, h.ref) for h in hops[:3]] == [
        ("vethc1", (ROOT, 9)), ("eth0", (PIDNS, 3)), ("pid 4242", PIDNS)]
    assert "br0" not in labels(hops)


def test_trace_unresolved_peer_is_a_hop_that_says_so(snap: Snapshot) -> None:
    hops = topo.trace(snap, dev(snap, "vethx"))
    assert len(hops) == 2
    assert hops[1].ref == (UNREADABLE, 4) and "not in the snapshot" in hops[1].note
    assert hops[1].label == f"ifindex 4 @ net:[{UNREADABLE}]"


def test_trace_lower_and_stacked(snap: Snapshot) -> None:
    assert labels(topo.trace(snap, dev(snap, "em2")))[:3] == ["em2", "em2.100", "br0"]
    assert labels(topo.trace(snap, dev(snap, "em2.100")))[:2] == ["em2.100", "em2"]


def test_trace_lone_device(snap: Snapshot) -> None:
    assert [(h.kind, h.label) for h in topo.trace(snap, dev(snap, "tap1"))] == [("link", "tap1")]


@pytest.mark.parametrize("name", ["brloop", "self-veth", "up-a", "up-b"])
def test_trace_terminates_on_cycles_and_visits_each_once(name: str) -> None:
    snap = cyclic()
    hops = topo.trace(snap, snap.find_links(name)[0])
    assert sorted(labels(hops)) == ["brloop", "self-veth", "up-a", "up-b"]


def test_trace_is_deterministic(snap: Snapshot) -> None:
    for link in snap.links:
        assert topo.trace(snap, link) == topo.trace(compute_node(), link)


def test_trace_every_device_visits_each_thing_once(snap: Snapshot) -> None:
    for link in snap.links:
        hops = topo.trace(snap, link)
        keys = [(h.kind in ("process", "service"), h.kind == "namespace", h.ref) for h in hops]
        assert len(keys) == len(set(keys)), link.name


def test_trace_deep_chain_needs_no_recursion_and_is_bounded() -> None:
    snap = chain(2000)  # 2000 namespaces: far deeper than Python's recursion limit
    whole = topo.trace(snap, snap.links[0], limit=100_000)
    assert sum(1 for h in whole if h.kind == "namespace") == 1999
    assert whole[-1].ref == (4026540000 + 1999, 1)
    cut = topo.trace(snap, snap.links[0], limit=50)
    assert len(cut) == 50 and cut == [*whole[:49], cut[-1]]
    assert cut[-1].note.endswith("trace cut at 50 hops")


def test_trace_process(snap: Snapshot) -> None:
    hops = topo.trace_process(snap, 7748)
    assert [(h.kind, h.label, h.depth) for h in hops[:3]] == [
        ("process", "qemu-kvm[7748]", 0), ("link", "tap0", 1), ("link", "br0", 2)]
    assert "dnsmasq[28795]" in labels(hops)
    assert "root" not in labels(hops)  # the process's own namespace is not a hop
    with pytest.raises(NotFoundError):
        topo.trace_process(snap, 1)


# -- any snapshot, however malformed -------------------------------------------------------------

_NS = (4026531840, 4026532001, 4026532002)


@st.composite
def random_snapshots(draw: st.DrawFn) -> Snapshot:
    """Devices in three namespaces whose peer/master/lower point anywhere: loops, dangling keys."""
    from vnettop.model import BridgeInfo, BridgePort, Host, LinkRef, Namespace, TunHolder, TunInfo

    keys = sorted(draw(st.sets(st.tuples(st.sampled_from(_NS), st.integers(1, 8)), min_size=1, max_size=14)))
    any_key = st.tuples(st.sampled_from((*_NS, 4026539999)), st.integers(1, 9))
    ref = st.none() | any_key.map(lambda k: LinkRef(k[0], k[1], f"d{k[1]}"))
    links = []
    for netns, ifindex in keys:
        kind = draw(st.sampled_from(["veth", "bridge", "tap", "vlan", "device"]))
        holders = tuple(TunHolder(pid, f"p{pid}", (3,)) for pid in draw(st.sets(st.integers(100, 103),
                                                                                 max_size=2)))
        links.append(Link(
            netns=netns, ifindex=ifindex, name=f"d{ifindex}", kind=kind, mac=None, mtu=1500, admin_up=True,
            oper_state="up", peer=draw(ref), master=draw(ref), lower=draw(ref),
            bridge=BridgeInfo(False, False, tuple(draw(st.lists(st.integers(1, 9), max_size=4))))
            if kind == "bridge" else None,
            bridge_port=BridgePort("forwarding", 2, 32),
            tun=TunInfo("tap", False, False, False, False, holders=holders) if kind == "tap" else None,
        ))
    procs = tuple(Process(pid, f"p{pid}", "", None, (Listening("tcp", "0.0.0.0", pid),)) for pid in (100, 101))
    namespaces = (Namespace(_NS[0], (), True, (1,), procs),
                  Namespace(_NS[1], ("n1",), False, ()),
                  Namespace(_NS[2], (), False, (7,), (Process(102, "p102", "", None,
                                                              (Listening("udp", "0.0.0.0", 67),)),)))
    return Snapshot(Host("h", "k"), namespaces, tuple(links))


@settings(max_examples=300, deadline=None)
@given(random_snapshots(), st.integers(1, 60))
def test_trace_terminates_visits_once_and_respects_the_limit(snap: Snapshot, limit: int) -> None:
    for link in snap.links:
        hops = topo.trace(snap, link, limit=limit)
        assert 1 <= len(hops) <= limit
        assert hops == topo.trace(snap, link, limit=limit)  # deterministic
        links = [h.ref for h in hops if h.kind == "link"]
        pids = [h.ref for h in hops if h.kind in ("process", "service")]
        spaces = [h.ref for h in hops if h.kind == "namespace"]
        assert len(links) == len(set(links)) and len(pids) == len(set(pids))
        assert len(spaces) == len(set(spaces)) and link.netns not in spaces
        assert link.key in links or len(hops) == limit
        assert hops[0].depth == 0
        for prev, hop in itertools.pairwise(hops):
            assert 0 <= hop.depth <= prev.depth + 1
    for end, other in topo.veth_pairs(snap):
        assert end.kind == "veth" and (other is None or other.key == end.peer.key)  # type: ignore[union-attr]


def test_holder_hops_name_the_vhost_fds_too() -> None:
    """The demo's qemu holds tap0 on fd 26 and its vhost-net on fd 28: a trace says both, from the tap
    and from the process, and says nothing of vhost for a holder without one."""
    from vnettop.demo import demo_snapshot

    demo = demo_snapshot()
    tap0 = next(link for link in demo.links if link.name == "tap0")
    from_tap = [h.note for h in topo.trace(demo, tap0) if h.kind == "process"]
    assert "holds tap0 fd 26 vhost 28" in from_tap
    first = topo.trace_process(demo, 7748)[0]
    assert first.note.startswith("holds tap0 fd 26 vhost 28")
    tun0 = next(link for link in demo.links if link.name == "tun0")
    assert all("vhost" not in h.note for h in topo.trace(demo, tun0) if h.kind == "process")
