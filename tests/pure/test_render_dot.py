"""The DOT graph: clusters per namespace, port/veth/lower/holder edges, quoting that survives any name.

Structure is checked with a small parser of the subset `render_dot` writes; when Graphviz's `dot` is
installed, the output is also fed to it (the real judge of validity).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from tests.fixtures_snapshots import PIDNS, QDHCP, ROOT, UNREADABLE, compute_node, cyclic
from vnettop.model import Host, LinkRef, Snapshot
from vnettop.render.dot import quote, render_dot

_STR = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^\s*{_STR} \[(.*)\];$")
_EDGE = re.compile(rf"^\s*{_STR} -> {_STR} \[(.*)\];$")
_SUB = re.compile(rf"^\s*subgraph {_STR} \{{$")
_ATTR = re.compile(rf"(\w+)=(?:{_STR}|([^,\s]+))")


@dataclasses.dataclass
class Graph:
    nodes: dict[str, dict[str, str]]
    cluster_of: dict[str, str]
    edges: list[tuple[str, str, dict[str, str]]]
    clusters: dict[str, str]  # id -> label


def attrs(text: str) -> dict[str, str]:
    return {m[0]: (m[1] if m[1] or not m[2] else m[2]) for m in _ATTR.findall(text)}


def parse(dot: str) -> Graph:
    lines = dot.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    g = Graph({}, {}, [], {})
    cluster: str | None = None
    for line in lines[1:-1]:
        if m := _SUB.match(line):
            assert cluster is None, "clusters are not nested"
            cluster = m[1]
        elif line.strip() == "}":
            assert cluster is not None
            cluster = None
        elif m := _EDGE.match(line):
            g.edges.append((m[1], m[2], attrs(m[3])))
        elif m := _NODE.match(line):
            g.nodes[m[1]] = attrs(m[2])
            if cluster:
                g.cluster_of[m[1]] = cluster
        elif (m := re.match(rf"^\s*label={_STR};$", line)) and cluster:
            g.clusters[cluster] = m[1]
        else:
            assert re.match(r"^\s*(graph|node|edge) \[.*\];$|^\s*style=", line), f"unexpected line: {line}"
    assert cluster is None
    return g


@pytest.fixture
def snap() -> Snapshot:
    return compute_node()


@pytest.fixture
def graph(snap: Snapshot) -> Graph:
    return parse(render_dot(snap))


def lid(netns: int, ifindex: int) -> str:
    return f"l_{netns}_{ifindex}"


def test_namespaces_are_clusters_holding_their_devices(snap: Snapshot, graph: Graph) -> None:
    assert set(graph.clusters) == {f"cluster_ns_{ns.inode}" for ns in snap.namespaces}
    assert graph.clusters[f"cluster_ns_{QDHCP}"].startswith("qdhcp-ba48a3fc")
    assert graph.clusters[f"cluster_ns_{PIDNS}"].startswith("pid 4242")
    for link in snap.links:
        assert graph.cluster_of[lid(*link.key)] == f"cluster_ns_{link.netns}"
    # same name in three namespaces, three distinct nodes
    los = [n for n, a in graph.nodes.items() if a["label"].startswith("lo\\n")]
    assert len(los) == 3


def test_processes_sit_in_their_namespace(graph: Graph) -> None:
    assert graph.cluster_of["p_28795"] == f"cluster_ns_{QDHCP}"
    assert "udp 0.0.0.0:67" in graph.nodes["p_28795"]["label"]
    assert graph.cluster_of["p_7748"] == f"cluster_ns_{ROOT}"
    assert graph.nodes["p_7748"]["shape"] == "ellipse"


def test_bridge_port_edges_carry_the_port_state(graph: Graph) -> None:
    to_br0 = {src: a["label"] for src, dst, a in graph.edges if dst == lid(ROOT, 3)}
    assert to_br0 == {lid(ROOT, 5): "forwarding", lid(ROOT, 6): "forwarding", lid(ROOT, 7): "learning"}


def test_veth_edges_once_per_pair_across_clusters(graph: Graph) -> None:
    veths = sorted((src, dst) for src, dst, a in graph.edges if a.get("label") == "veth")
    assert veths == sorted([
        (lid(ROOT, 7), lid(QDHCP, 2)),
        (lid(ROOT, 9), lid(PIDNS, 3)),  # not (ROOT, 3): the bridge sharing eth0's index
        (lid(ROOT, 10), lid(UNREADABLE, 4)),
    ])
    assert all(a["dir"] == "both" for _, _, a in graph.edges if a.get("label") == "veth")


def test_unreadable_peer_is_a_dashed_node_outside_clusters(graph: Graph) -> None:
    node = lid(UNREADABLE, 4)
    assert graph.nodes[node]["style"] == "dashed" and "not readable" in graph.nodes[node]["label"]
    assert node not in graph.cluster_of


def test_holder_and_lower_edges(graph: Graph) -> None:
    assert ("p_7748", lid(ROOT, 5), "fd 26") in [(s, d, a["label"]) for s, d, a in graph.edges]
    assert ("p_3056", lid(ROOT, 8), "fd 6") in [(s, d, a["label"]) for s, d, a in graph.edges]
    assert (lid(ROOT, 6), lid(ROOT, 2), "lower") in [(s, d, a["label"]) for s, d, a in graph.edges]


def test_every_edge_end_is_a_declared_node(graph: Graph) -> None:
    for src, dst, _ in graph.edges:
        assert src in graph.nodes and dst in graph.nodes


def test_self_references_draw_no_loops() -> None:
    g = parse(render_dot(cyclic()))
    assert all(src != dst for src, dst, _ in g.edges)


def test_quote_escapes() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


NASTY = 'we"ird\\na}me{'


def nasty_snapshot(snap: Snapshot) -> Snapshot:
    links = tuple(dataclasses.replace(link, name=NASTY) if link.name == "tap0" else link for link in snap.links)
    return dataclasses.replace(snap, links=links)


def test_any_device_name_stays_one_quoted_label(snap: Snapshot) -> None:
    g = parse(render_dot(nasty_snapshot(snap)))
    assert g.nodes[lid(ROOT, 5)]["label"] == 'we\\"ird\\\\na}me{\\ntap'


HOSTILE = ('q"uo\\te\\', "two\nlines\r", "\x1b]2;PWNED\x07", "rtl\u202eevil", "zero\u200bwidth", "\\",
           "\\N\\G\\l", "raw\udcff", "中文}{;")


def hostile_snapshot(snap: Snapshot) -> Snapshot:
    """Every device, namespace, process and host name replaced by one of HOSTILE (refs kept consistent)."""
    names = {link.key: HOSTILE[i % len(HOSTILE)] for i, link in enumerate(snap.links)}

    def ref(r: LinkRef | None) -> LinkRef | None:
        return dataclasses.replace(r, name=names.get(r.key, r.name)) if r is not None else None

    links = tuple(dataclasses.replace(link, name=names[link.key], peer=ref(link.peer), master=ref(link.master),
                                      lower=ref(link.lower)) for link in snap.links)
    namespaces = tuple(
        dataclasses.replace(ns, names=(HOSTILE[i], HOSTILE[i + 1]) if ns.names else (), processes=tuple(
            dataclasses.replace(p, comm=HOSTILE[-1 - j]) for j, p in enumerate(ns.processes)))
        for i, ns in enumerate(snap.namespaces))
    return dataclasses.replace(snap, links=links, namespaces=namespaces, host=Host(HOSTILE[0], HOSTILE[1]))


def test_hostile_names_stay_inside_their_labels(snap: Snapshot) -> None:
    text = render_dot(hostile_snapshot(snap))
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u202e\udc80-\udcff]", text)
    assert len(text.splitlines()) == len(render_dot(snap).splitlines())
    g = parse(text)
    # A newline in a name is shown as the two characters \n (DOT: \\n), never as a line break of the label.
    assert g.nodes[lid(ROOT, 2)]["label"] == "two\\\\nlines\\\\r\\ndevice\\n192.0.2.10/24"
    assert g.nodes[lid(ROOT, 1)]["label"].startswith('q\\"uo\\\\te\\\\\\nloopback\\n')
    assert g.nodes[lid(ROOT, 3)]["label"].startswith("\\\\x1b]2;PWNED\\\\x07\\n")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("make", [compute_node, cyclic, lambda: nasty_snapshot(compute_node()),
                                  lambda: hostile_snapshot(compute_node())])
def test_graphviz_accepts_it(make: object) -> None:
    text = render_dot(make())  # type: ignore[operator]
    done = subprocess.run(["dot", "-Tplain"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    plain_nodes = [ln for ln in done.stdout.splitlines() if ln.startswith("node ")]
    assert len(plain_nodes) == len(parse(text).nodes)
