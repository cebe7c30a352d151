"""A Snapshot as a Graphviz DOT graph: `vnettop dump --format dot | dot -Tsvg > net.svg`.

Namespaces are clusters; devices are boxes inside them; the processes that hold a tun/tap or listen
on a socket are ellipses in their namespace. Edges: bridge port -> bridge (labelled with the port
state), veth end <-> veth end (once per pair, across clusters), stacked device -> lower device, and
holding process -> tun/tap (labelled with the fds).

Node ids are synthetic (`l_<netns>_<ifindex>`, `p_<pid>`, `cluster_ns_<inode>`) because device names
repeat across namespaces and may hold any byte but '/' and whitespace; every label is quoted and
escaped, so any name yields valid DOT. Each value from the system is first made one line
(`textsafe.printable_line`: a newline in a name shows as the two characters `\\n`, never as a line
break in the drawing, and no control character reaches the file); only the label's own line breaks,
between its parts, are DOT's `\\n`. Reverse joins come from one `topology.Joins` per render, so the cost
is linear in the snapshot's size.
"""

from __future__ import annotations

from vnettop import owners
from vnettop import topology as topo
from vnettop.model import Link, LinkRef, Namespace, OvsSection, Process, Snapshot
from vnettop.owners import owner_text
from vnettop.textsafe import printable_line as _one

_KIND_STYLE = {
    "bridge": 'shape=box, style="rounded,filled", fillcolor="#dde8f6"',
    "veth": 'shape=box, style="filled", fillcolor="#e6f4e0"',
    "tap": 'shape=box, style="filled", fillcolor="#fbeed5"',
    "tun": 'shape=box, style="filled", fillcolor="#fbeed5"',
}


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as DOT's line break `\\n`.

    For text whose line breaks vnettop made; values from the system are `printable_line`d first.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{escaped}"'


def link_id(netns: int, ifindex: int) -> str:
    return quote(f"l_{netns}_{ifindex}")


def proc_id(pid: int) -> str:
    return quote(f"p_{pid}")


def render_dot(snap: Snapshot) -> str:
    """The whole snapshot as one `digraph`, ending with a newline."""
    out = [
        f"digraph {quote('vnettop ' + _one(snap.host.hostname))} {{",
        "  graph [rankdir=LR, compound=true, fontname=monospace, fontsize=10];",
        "  node [shape=box, fontname=monospace, fontsize=10];",
        "  edge [fontname=monospace, fontsize=9];",
    ]
    placed: set[int] = set()  # pids drawn inside a cluster
    joins = topo.Joins(snap)
    for ns in snap.namespaces:
        out.extend(_cluster(snap, ns, placed, joins))
    out.extend(_outside_nodes(snap, placed))
    out.extend(_edges(snap))
    if snap.ovs is not None:
        out.extend(_ovs(snap.ovs))
    out.append("}")
    return "\n".join(out) + "\n"


def _cluster(snap: Snapshot, ns: Namespace, placed: set[int], joins: topo.Joins) -> list[str]:
    label = f"{_one(ns.label)}\nnet:[{ns.inode}]"
    if len(ns.names) > 1:
        label += "\nalso " + ", ".join(_one(n) for n in ns.names[1:])
    label += "".join(f"\nowner {owner_text(o)}" for o in owners.of_namespace(snap, ns.inode))
    lines = [
        f"  subgraph {quote(f'cluster_ns_{ns.inode}')} {{",
        f"    label={quote(label)};",
        '    style="rounded"; color="#888888";',
    ]
    for link in snap.links_in(ns.inode):
        lines.append(f"    {_link_node(snap, link)}")
    for proc in _shown_processes(ns, joins):
        placed.add(proc.pid)
        lines.append(f"    {_proc_node(proc)}")
    if len(lines) == 3:  # an empty cluster is dropped by Graphviz: keep the namespace visible
        empty = "(no devices)" if ns.readable else "(devices unknown: cannot enter)"
        lines.append(f"    {quote(f'ns_{ns.inode}')} [label={quote(empty)}, shape=plaintext];")
    lines.append("  }")
    return lines


def _ovs_id(kind: str, bridge: str, name: str = "") -> str:
    return quote(f"ovs_{kind}_{bridge}_{name}")


def _ovs(ovs: OvsSection) -> list[str]:
    """OVS bridges as clusters of their ports: each port -> the kernel device it is (dashed), patch
    ports to their peers, tunnel ports to a node for the remote end."""
    lines: list[str] = []
    edges: list[str] = []
    remotes: dict[str, str] = {}
    drawn: set[tuple[str, str]] = set()
    for bridge in ovs.bridges:
        label = f"ovs bridge {_one(bridge.name)}\n{_one(bridge.datapath_type or 'system')}"
        lines += [f"  subgraph {quote(f'cluster_ovs_{bridge.name}')} {{",
                  f"    label={quote(label)};",
                  '    style="rounded,filled"; fillcolor="#eef0fa"; color="#5060a0";']
        for port in bridge.ports:
            text = _one(port.name) + (f"\ntag {port.tag}" if port.tag is not None else "")
            types = {i.type for i in port.interfaces if i.type}
            if types:
                text += "\n" + ",".join(_one(t) for t in sorted(types))
            lines.append(f"    {_ovs_id('port', bridge.name, port.name)} [label={quote(text)}, shape=box];")
            node = _ovs_id("port", bridge.name, port.name)
            for iface in port.interfaces:
                if iface.link is not None:
                    edges.append(f"  {node} -> {link_id(*iface.link.key)} [label={quote('is')}, "
                                 'style=dashed, arrowhead=none, color="#5060a0"];')
                if iface.peer is not None:
                    ends = sorted([f"{bridge.name}/{port.name}", f"{iface.peer.bridge}/{iface.peer.port}"])
                    if (ends[0], ends[1]) not in drawn:
                        drawn.add((ends[0], ends[1]))
                        edges.append(f"  {node} -> {_ovs_id('port', iface.peer.bridge, iface.peer.port)} "
                                     f'[dir=both, label={quote("patch")}, color="#5060a0", style=bold];')
                remote = iface.option("remote_ip")
                if remote is not None:
                    rid = remotes.setdefault(remote, quote(f"ovs_remote_{remote}"))
                    key = iface.option("key")
                    label = _one(iface.type or "tunnel") + (f" key {_one(key)}" if key else "")
                    edges.append(f'  {node} -> {rid} [label={quote(label)}, color="#805000", style=dashed];')
        lines.append("  }")
    for remote, rid in sorted(remotes.items()):
        lines.append(f"  {rid} [label={quote('remote ' + _one(remote))}, shape=ellipse, style=dashed];")
    return lines + edges


def _shown_processes(ns: Namespace, joins: topo.Joins) -> list[Process]:
    return [p for p in ns.processes if p.listening or joins.held_by(p.pid)]


def _link_node(snap: Snapshot, link: Link) -> str:
    label = f"{_one(link.name)}\n{_one(link.kind)}"
    if link.addresses:
        label += "\n" + "\n".join(_one(a) for a in link.addresses)
    label += _owner_lines(snap, link)
    attrs = [f"label={quote(label)}"]
    style = _KIND_STYLE.get(link.kind)
    if style:
        attrs.append(style)
    if not link.admin_up or link.oper_state in ("down", "lowerlayerdown"):
        attrs.append('color="#aa0000"')
    return f"{link_id(link.netns, link.ifindex)} [{', '.join(attrs)}];"


def _owner_lines(snap: Snapshot, link: Link) -> str:
    """`owner web-1 (vm)` per owner, worded as the text dump and the TUI word it; a veth end leading into
    an owned namespace: `-> proxy (container)`."""
    own = owners.of_link(snap, link)
    if own:
        return "".join(f"\nowner {owner_text(o)}" for o in own)
    far = owners.best(owners.reached(snap, link))
    return f"\n-> {owner_text(far)}" if far is not None else ""


def _proc_node(proc: Process) -> str:
    label = f"{_one(proc.comm)}[{proc.pid}]"
    if proc.listening:
        label += "\n" + "\n".join(_one(f"{s.proto} {s.endpoint}") for s in proc.listening)
    return f"{proc_id(proc.pid)} [label={quote(label)}, shape=ellipse];"


def _outside_nodes(snap: Snapshot, placed: set[int]) -> list[str]:
    """Holders the snapshot has no process record for, and veth peers it could not read."""
    lines = []
    for link in topo.tuntaps(snap):
        for holder in link.tun.known_holders if link.tun else ():
            if holder.pid not in placed:
                placed.add(holder.pid)
                lines.append(f"  {proc_id(holder.pid)} [label={quote(f'{_one(holder.comm)}[{holder.pid}]')}, "
                             "shape=ellipse];")
    for ref in _unresolved_refs(snap):
        name, where = _one(ref.name or "?"), _one(snap.ns_label(ref.netns))
        label = f"{name} (ifindex {ref.ifindex})\n{where}\nnot readable"
        lines.append(f"  {link_id(ref.netns, ref.ifindex)} [label={quote(label)}, style=dashed];")
    return lines


def _unresolved_refs(snap: Snapshot) -> list[LinkRef]:
    seen: dict[tuple[int, int], LinkRef] = {}
    for link in snap.links:
        for ref in (link.peer, link.lower, link.master):
            if ref is not None and snap.link(ref.netns, ref.ifindex) is None:
                seen.setdefault(ref.key, ref)
    return [seen[k] for k in sorted(seen)]


def _edges(snap: Snapshot) -> list[str]:
    lines = []
    for link in snap.links:
        src = link_id(link.netns, link.ifindex)
        if link.master is not None and link.master.key != link.key:
            state = _one(link.bridge_port.state) if link.bridge_port else "master"
            lines.append(f"  {src} -> {link_id(*link.master.key)} [label={quote(state)}];")
        if link.lower is not None and link.lower.key != link.key:
            lines.append(f"  {src} -> {link_id(*link.lower.key)} [label={quote('lower')}, style=dotted];")
        if link.tun is not None:
            for holder in link.tun.known_holders:
                fds = quote("fd " + ",".join(str(fd) for fd in holder.fds))
                lines.append(f'  {proc_id(holder.pid)} -> {src} [label={fds}, color="#b06000"];')
    for end, other in topo.veth_pairs(snap):
        if end.peer is None or end.peer.key == end.key:
            continue
        other_key = other.key if other is not None else end.peer.key
        lines.append(f"  {link_id(*end.key)} -> {link_id(*other_key)} "
                     f"[dir=both, label={quote('veth')}, color=\"#2f7d1f\", style=bold];")
    return lines
