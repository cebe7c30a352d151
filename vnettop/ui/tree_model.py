"""The topology tree as plain data: namespaces -> devices (bridge ports nested) -> processes (pure).

The widget compares successive `NodeSpec` trees: when only labels changed it relabels those nodes; when
the shape changed it rebuilds, keeping expansion, cursor and scroll. Building the spec is cheap plain
Python, so it is done off the widget and unit-tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from vnettop import ovsgraph, owners
from vnettop.model import Link, Namespace, Snapshot
from vnettop.topology import vm_name

# ovs_rows builds this module's NodeSpecs and this module places its nodes: each imports the other as a
# module, and uses it only at call time.
from vnettop.ui import ovs_rows
from vnettop.ui.changes import ChangedSince, link_shape
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import held_index, holders_text, link_label, ns_label, proc_label
from vnettop.ui.targets import Target


class LabelCache:
    """Labels already made, keyed by everything they show (not counters): building Rich Text for a
    thousand devices is most of a rebuild's cost, and on a busy host almost all of them are unchanged."""

    def __init__(self) -> None:
        self._links: dict[object, Text] = {}
        self.hits = 0

    def link(self, snap: Snapshot, link: Link, port_count: int | None) -> Text:
        refs = tuple(snap.ns_label(ref.netns) for ref in (link.peer, link.lower) if ref is not None)
        holders = holders_text(link, snap) if link.tun is not None else ""  # VM names come from processes
        key = (link_shape(link), refs, port_count, holders, owners.link_note(snap, link))
        label = self._links.get(key)
        if label is None:
            label = self._links[key] = link_label(snap, link, port_count)
        else:
            self.hits += 1
        return label

    def trim(self, live: int) -> None:
        """Forget everything when the cache outgrows what is on screen (old devices, old states)."""
        if len(self._links) > 4 * live + 64:
            self._links.clear()


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One tree line and its children."""

    target: Target
    label: Text
    children: tuple[NodeSpec, ...] = ()


def shape(nodes: tuple[NodeSpec, ...]) -> tuple[object, ...]:
    """The structure without the labels: equal shapes can be updated in place."""
    return tuple((n.target, shape(n.children)) for n in nodes)


def flatten(nodes: tuple[NodeSpec, ...]) -> list[NodeSpec]:
    """Depth-first, in screen order."""
    out: list[NodeSpec] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def _keep(flt: Filter, snap: Snapshot, target: Target, children: tuple[NodeSpec, ...]) -> bool:
    return bool(children) or flt.matches(snap, target)


def _link_node(snap: Snapshot, link: Link, ports: dict[int, list[Link]], flt: Filter,
               show_all: bool, placed: set[int], cache: LabelCache) -> NodeSpec | None:
    """A device and (nested) its ports; `placed` makes master loops in a malformed snapshot finite."""
    placed.add(link.ifindex)
    target = Target.link(link.netns, link.ifindex)
    own = show_all or flt.matches(snap, target)
    inherit = own and flt.active and not flt.inverted
    kids: list[NodeSpec] = []
    for port in ports.get(link.ifindex, []):
        if port.ifindex in placed:
            continue
        node = _link_node(snap, port, ports, flt, show_all or inherit, placed, cache)
        if node is not None:
            kids.append(node)
    if not own and not kids:
        return None
    n_ports = len(ports.get(link.ifindex, [])) if link.bridge is not None else None
    return NodeSpec(target, cache.link(snap, link, n_ports), tuple(kids))


def build(snap: Snapshot, flt: Filter | None = None, cache: LabelCache | None = None) -> tuple[NodeSpec, ...]:
    """The whole tree for a snapshot, filtered (a matching container shows all it contains)."""
    return _build(snap, flt or Filter(), cache if cache is not None else LabelCache(), None)[0]


class TreeBuilder:
    """`build`, reusing the subtrees of namespaces that cannot have changed since the last build.

    Why: a device going up or down in one of 200 namespaces made every refresh rebuild all 200 subtrees
    (~8 ms of the main thread at 200 namespaces, in the moments a collection is being shown, which is
    when a keypress waits longest). The reused subtrees are the very same NodeSpec objects, which the
    tree widget skips without comparing.
    """

    def __init__(self) -> None:
        self.labels = LabelCache()
        self._since = ChangedSince()
        self._by_ns: dict[int, NodeSpec | None] = {}  # the last build's subtrees
        #: Subtrees reused by the last build (tests check that a one-namespace change reuses the rest).
        self.reused = 0

    def build(self, snap: Snapshot, flt: Filter) -> tuple[NodeSpec, ...]:
        changed = self._since.changed(snap, flt)
        before = self._since.before
        home = ovsgraph.home_namespace(snap)
        if (changed is not None and before is not None and home is not None and before.ovs is not snap.ovs
                and before.ovs != snap.ovs):
            changed |= {home}  # the OVS bridges hang in that namespace's subtree (ui/ovs_rows.py)
        specs, self._by_ns, self.reused = _build(snap, flt, self.labels,
                                                 None if changed is None else (self._by_ns, changed))
        return specs


def _build(snap: Snapshot, flt: Filter, cache: LabelCache,
           reuse: tuple[dict[int, NodeSpec | None], frozenset[int]] | None,
           ) -> tuple[tuple[NodeSpec, ...], dict[int, NodeSpec | None], int]:
    """The tree, each namespace's subtree (None: filtered out) and how many subtrees were reused."""
    cache.trim(len(snap.links))
    held: dict[int, list[str]] | None = None
    out: list[NodeSpec] = []
    by_ns: dict[int, NodeSpec | None] = {}
    reused = 0
    for ns in snap.namespaces:
        if reuse is not None and ns.inode not in reuse[1] and ns.inode in reuse[0]:
            spec = by_ns[ns.inode] = reuse[0][ns.inode]
            reused += 1
        else:
            if held is None:
                held = held_index(snap)
            spec = by_ns[ns.inode] = _ns_node(snap, ns, flt, cache, held)
        if spec is not None:
            out.append(spec)
    return tuple(out), by_ns, reused


def _ns_node(snap: Snapshot, ns: Namespace, flt: Filter, cache: LabelCache,
             held: dict[int, list[str]]) -> NodeSpec | None:
    """One namespace's subtree, or None when the filter hides it."""
    ns_target = Target.ns(ns.inode)
    show_all = flt.active and not flt.inverted and flt.matches(snap, ns_target)
    links = snap.links_in(ns.inode)
    present = {link.ifindex for link in links}
    ports: dict[int, list[Link]] = {}
    top: list[Link] = []
    for link in links:
        master = link.master
        if (master is not None and master.netns == ns.inode and master.ifindex in present
                and master.ifindex != link.ifindex):
            ports.setdefault(master.ifindex, []).append(link)
        else:
            top.append(link)
    kids: list[NodeSpec] = []
    # OVS bridges (with the devices that are their ports) beside Linux bridges (see ui/ovs_rows.py).
    ovs_nodes, placed = ovs_rows.tree_nodes(snap, ns.inode, flt, show_all,
                                            lambda link: cache.link(snap, link, None))
    # Devices whose masters form a loop are never reached from the top: show them at the top too.
    for link in [*top, *links]:
        if link.ifindex in placed:
            continue
        datapath = ovs_rows.datapath_node(snap, link, flt, show_all)
        if datapath is not None:
            placed.add(link.ifindex)
            if datapath.label:
                kids.append(datapath)
            continue
        node = _link_node(snap, link, ports, flt, show_all, placed, cache)
        if node is not None:
            kids.append(node)
    kids.extend(ovs_nodes)
    ns_owner = owners.best(owners.of_namespace(snap, ns.inode))
    for proc in ns.processes:
        target = Target.proc(ns.inode, proc.pid)
        if show_all or flt.matches(snap, target):
            own = owners.best(owners.of_pid(snap, proc.pid))
            # Not the namespace's owner (its line names it), nor an inference from the very command line
            # the label's VM name comes from.
            shown = own is not None and own != ns_owner and (own.exact or vm_name(proc) is None)
            note = owners.owner_text(own, owners.LABEL_NAME_WIDTH) if own is not None and shown else ""
            kids.append(NodeSpec(target, proc_label(proc, held.get(proc.pid, []), note)))
    children = tuple(kids)
    if show_all or _keep(flt, snap, ns_target, children):
        return NodeSpec(ns_target, ns_label(snap, ns), children)
    return None
