"""No value from the system can forge output: random hostile names through every outlet.

Device, namespace, process and owner names (and owners' ids, sources and facts), command lines, users,
hostnames, kernel strings, kind-specific facts and error messages are replaced by random strings rich in line breaks, controls, bidi and zero-width
characters, lone surrogates, CJK and combining marks. Every outlet a person reads - the text dump, a
trace from every device, process and owner, the TUI's labels and owner columns, the DOT graph, the JSON for a terminal, the CLI error line, the lab's
progress lines and the TUI header - must then (1) have exactly as many lines as with plain names, and
(2) hold no raw control, separator, bidi, zero-width or surrogate character.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_snapshots import compute_node
from tests.hostile_text import hostile_text, unclean
from tests.pure.test_render_dot import parse
from vnettop import cli
from vnettop import topology as topo
from vnettop.actions import lab as lab_mod
from vnettop.actions import plans as p
from vnettop.actions.mutator import ApplyResult
from vnettop.model import CollectError, Host, Link, LinkRef, Owner, Snapshot
from vnettop.owners import owner_text
from vnettop.render.dot import render_dot
from vnettop.render.json import snapshot_to_json
from vnettop.render.text import render_text, render_trace
from vnettop.textsafe import json_terminal_safe
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import link_label, ns_label
from vnettop.ui.rows import ns_rows, tun_rows, veth_rows
from vnettop.ui.widgets.header import HeaderState, header_text

Namer = Callable[[str], str]


def renamed(snap: Snapshot, name: Namer) -> Snapshot:
    """`snap` with every value that comes from the system replaced by `name(slot)`; structure unchanged.

    A device keeps one name everywhere it is referred to (its peer's, master's and upper's refs).
    """
    link_names = {link.key: name(f"link {link.key}") for link in snap.links}

    def ref(r: LinkRef | None) -> LinkRef | None:
        if r is None or r.name is None:
            return r
        return replace(r, name=link_names.get(r.key, name(f"ref {r.key}")))

    links = []
    for link in snap.links:
        tun = link.tun
        if tun is not None:
            tun = replace(tun, holders=tuple(replace(h, comm=name(f"comm {h.pid}")) for h in tun.holders))
        links.append(replace(
            link, name=link_names[link.key], peer=ref(link.peer), master=ref(link.master), lower=ref(link.lower),
            tun=tun, info=tuple((k, name(f"info {link.key} {k}")) for k, _v in link.info)))
    namespaces = []
    for ns in snap.namespaces:
        procs = tuple(replace(pr, comm=name(f"comm {pr.pid}"), cmdline=name(f"cmdline {pr.pid}"),
                              user=name(f"user {pr.pid}") if pr.user else None) for pr in ns.processes)
        names = tuple(name(f"ns {ns.inode} {i}") for i in range(len(ns.names)))
        namespaces.append(replace(ns, names=names, processes=procs))
    errors = tuple(CollectError(name(f"scope {i}"), name(f"message {i}")) for i in range(len(snap.errors) + 1))
    # Owners: a container's name and image, a pod's Kubernetes namespace are whatever their users chose.
    owners = tuple(replace(o, name=name(f"owner {i}"), id=name(f"owner id {i}") if o.id else None,
                           source=name(f"owner source {i}"),
                           details=tuple((k, name(f"owner {i} {k}")) for k, _v in o.details))
                   for i, o in enumerate(snap.owners or ()))
    return replace(snap, host=Host(name("hostname"), name("kernel")), links=tuple(links),
                   namespaces=tuple(namespaces), errors=errors, owners=owners if snap.owners is not None else None)


def plain(slot: str) -> str:
    return "v" + "".join(c for c in slot if c.isalnum())


@st.composite
def namers(draw: st.DrawFn) -> Namer:
    """A naming of every slot: a pool of hostile strings, used in turn (several slots may share one)."""
    pool = draw(st.lists(hostile_text(min_size=1), min_size=1, max_size=12))
    seen: dict[str, str] = {}

    def name(slot: str) -> str:
        if slot not in seen:
            seen[slot] = pool[len(seen) % len(pool)]
        return seen[slot]

    return name


def assert_like(hostile: str, reference: str, allow: str = "\n") -> None:
    assert len(hostile.splitlines()) == len(reference.splitlines()), "a value added or removed a line"
    assert unclean(hostile, allow) == []
    hostile.encode("utf-8")


def traces(snap: Snapshot) -> list[str]:
    """What `vnettop trace` prints from every device and every holding or listening process."""
    out = []
    for link in snap.links:
        title = f"trace from {link.name} @ {snap.ns_label(link.netns)} (ifindex {link.ifindex})"
        out.append(render_trace(title, topo.trace(snap, link)))
    for ns in snap.namespaces:
        for proc in ns.processes:
            hops = topo.trace_process(snap, proc.pid)
            out.append(render_trace(f"trace from {hops[0].label}", hops, ascii=True))
    for owner in snap.owners or ():
        out.append(render_trace(f"trace from {owner_text(owner)}", topo.trace_owner(snap, owner)))
    return out


def with_owners(snap: Snapshot) -> Snapshot:
    """`snap` with an owner of each kind an outlet words differently: an exact VM on its first tun/tap
    holding its holder's pid, its inferred Neutron port (parent: the VM), a pod (with its Kubernetes
    namespace) on the first namespace but root, and a container reached through a veth's far end."""
    tap = next(link for link in snap.links if link.tun is not None)
    other = next(ns for ns in snap.namespaces if not ns.root)
    veth = next(link for link in snap.links if link.peer is not None and link.peer.netns != link.netns)
    pids = tuple(h.pid for h in tap.tun.known_holders) if tap.tun else ()
    return replace(snap, owners=(
        Owner("container", "c", "cid", "docker", "docker.sock", True, details=(("image", "i"),),
              namespaces=(veth.peer.netns,) if veth.peer else ()),
        Owner("neutron-port", "p", "pid", "neutron", "name pattern", False, details=(("role", "tap"),),
              links=(tap.key,), parent=3),
        Owner("pod", "q", "uid", "containerd", "cri", True, details=(("namespace", "default"),),
              namespaces=(other.inode,), pids=other.pids[:1]),
        Owner("vm", "v", "uuid", "libvirt", "/run/libvirt/qemu/v.xml", True,
              details=(("also", "qemu command line"), ("flavor", "m1")), links=(tap.key,), pids=pids),
    ))


def ui_lines(snap: Snapshot) -> list[str]:
    """The TUI's one-line labels (tree, tables) of every device and namespace, and its owner columns."""
    out = [link_label(snap, link).plain for link in snap.links]
    out += [ns_label(snap, ns).plain for ns in snap.namespaces]
    for build in (ns_rows, tun_rows, veth_rows):
        out += [str(cell) for row in build(snap, Filter()) for cell in row.cells]
    return out


BASE = with_owners(compute_node())
PLAIN = renamed(BASE, plain)


@settings(max_examples=60, deadline=None)
@given(namers())
def test_text_dump_trace_and_dot_keep_their_lines(name: Namer) -> None:
    snap = renamed(BASE, name)
    for ascii in (False, True):
        assert_like(render_text(snap, ascii=ascii), render_text(PLAIN, ascii=ascii))
    for hostile, reference in zip(traces(snap), traces(PLAIN), strict=True):
        assert_like(hostile, reference)
    for hostile, reference in zip(ui_lines(snap), ui_lines(PLAIN), strict=True):
        assert_like(hostile, reference, allow="")
    dot, dot_plain = render_dot(snap), render_dot(PLAIN)
    assert_like(dot, dot_plain)
    graph, graph_plain = parse(dot), parse(dot_plain)  # every line still one well-quoted statement
    assert len(graph.nodes) == len(graph_plain.nodes) and len(graph.edges) == len(graph_plain.edges)
    assert graph.clusters.keys() == graph_plain.clusters.keys()


@settings(max_examples=30, deadline=None)
@given(namers())
def test_json_for_a_terminal_is_clean_and_parses(name: Namer) -> None:
    snap = renamed(BASE, name)
    for indent in (None, 2):
        text = json_terminal_safe(snapshot_to_json(snap, indent=indent))
        assert unclean(text) == []
        text.encode("utf-8")
        assert json.loads(text)["host"]["hostname"]


@given(hostile_text(max_size=30))
def test_the_cli_error_line_is_one_line(message: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        cli._say(f"no device {message} in namespace {message}")
    text = err.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.startswith("vnettop: ")
    assert_like(text, "vnettop: x\n")


@given(hostile_text(min_size=1, max_size=20), hostile_text(min_size=1, max_size=20))
def test_header_is_two_clean_lines(value: str, other: str) -> None:
    snap = renamed(BASE, lambda slot: value if slot in ("hostname", "message 0") else other)
    for source in (value, "live", "demo"):
        for filt in (Filter(), Filter.parse(other)):
            state = HeaderState(read_only=True, source=source, interval=1.0, paused=False, filter=filt)
            assert_like(header_text(snap, state).plain, "host\ncounts")
    assert_like(header_text(None, HeaderState(False, value, 1.0, False, Filter())).plain, "host\ncollecting")


class _PrintingMutator:
    """Says what it would do, as the real one does (the lab prints `result.ip_command`); changes nothing."""

    journal_error: str | None = None  # its journal always writes

    def check(self, plan: p.Plan) -> list[object]:
        return []

    def apply(self, plan: p.Plan, confirmed_warnings: object = ()) -> ApplyResult:
        return ApplyResult(True, plan.describe(), plan.ip_command())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile_text(min_size=1, max_size=20), other=hostile_text(min_size=1, max_size=20))
def test_lab_progress_lines_are_one_clean_line_each(
    value: str, other: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines: list[str] = []
    lab = lab_mod.Lab("vntprop", state_dir=str(tmp_path), out=lines.append, programs=False)
    # Every plan kind whose `ip` command the lab prints, with hostile device and namespace names.
    for plan in (p.CreateNamespace(value), p.SetLinkState(value, netns=other), p.CreateBridge(value, netns=other),
                 p.CreateTunTap(value, netns=other), p.SetMaster(value, netns=other, bridge=other),
                 p.AddAddress(value, netns=other, address="10.0.0.2/24"),
                 p.CreateVethPair(value, other, netns=other, peer_netns=value)):
        lab._apply(_PrintingMutator(), plan)  # type: ignore[arg-type]
    # `status` lists whatever exists under the prefix, whoever made it.
    monkeypatch.setattr(lab, "namespaces", lambda: [value, other])
    monkeypatch.setattr(lab, "processes", lambda: {4242: value, 4243: other})
    monkeypatch.setattr(lab_mod, "_describe_links", lambda netns: [f"{netns} bridge  master {value}"])
    lab.status()
    assert len(lines) == 7 + 2 * 2 + 2 + 1
    for line in lines:
        assert_like(line + "\n", "x\n")


def test_every_link_of_the_base_is_renamed() -> None:
    """The property tests above are only as good as the renaming: nothing of the base's names is left."""
    snap = renamed(BASE, lambda slot: "Z")
    assert {link.name for link in snap.links} == {"Z"}
    assert len(snap.links) == len(BASE.links)
    assert BASE.owners and {o.name for o in snap.owners or ()} == {"Z"}
    assert all(v == "Z" for o in snap.owners or () for _k, v in o.details)
    assert all(r is None or r.name in (None, "Z") for link in snap.links for r in (link.peer, link.master, link.lower))
    assert all(pr.comm == "Z" for ns in snap.namespaces for pr in ns.processes)
    assert all(set(ns.names) <= {"Z"} for ns in snap.namespaces)
    assert all(h.comm == "Z" for link in snap.links if link.tun for h in link.tun.known_holders)
    assert snap.host == Host("Z", "Z") and all(e.message == "Z" for e in snap.errors)
    assert all(isinstance(link, Link) for link in snap.links)
