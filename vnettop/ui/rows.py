"""Rows for the table views (bridges, veth pairs, tun/tap, namespaces, events), as plain data (pure).

Each row carries a stable key (so the table updates only the cells that changed and keeps its cursor)
and the Target to select and show in the details pane.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from vnettop import owners
from vnettop.model import Link, Snapshot
from vnettop.ui.changes import Change, ChangedSince
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import (
    OWNER_STYLE,
    holders_text,
    listening_text,
    plain,
    proc_name,
    ref_where,
    short,
    state_style,
)
from vnettop.ui.targets import Target

Cell = str | Text


@dataclass(frozen=True, slots=True)
class Row:
    """`cells` hold Text only once built: a str cell would be parsed as markup by Rich, so a
    device named `[b]vq2` would show as `vq2`."""

    key: str
    target: Target | None
    cells: tuple[Cell, ...]
    #: Cells from this index on are one free text that runs on past the columns and widens none of
    #: them (a failed host's reason, where its unknown counts would be); None: every cell in its column.
    spill: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(plain(c) if isinstance(c, str) else c for c in self.cells))


#: "ovs" is for OVS bridges' rows (ui/ovs_rows.py): tag, ofport, patch peer, tunnel remote. It comes before
#: the Linux bridges' own columns so it is on screen beside the details pane, and is narrow without OVS.
BRIDGE_COLUMNS = ("bridge", "port", "kind", "namespace", "state", "ovs", "cost", "prio", "MACs")
#: Owners come last: at 80 columns the kernel's facts stay in sight and the table scrolls to the rest.
VETH_COLUMNS = ("end A", "namespace A", "master A", "", "end B", "namespace B", "master B", "state", "owner")
TUN_COLUMNS = ("device", "namespace", "type", "flags", "holders", "uid/gid", "state", "owner")
NS_COLUMNS = ("namespace", "inode", "devs", "pids", "processes", "listening", "owner")
EVENT_COLUMNS = ("time", "what", "device", "namespace", "detail")


def _owner_cell(note: str) -> Text:
    """An owner column's cell (`owners` made the text safe)."""
    return Text(note, style=OWNER_STYLE)


def _state(link: Link) -> Text:
    word, style = state_style(link)
    if word:
        return Text(word, style=style)
    return Text("up", style="green")


#: Rows of an earlier build by key, and the namespaces changed since (see `changes.changed_namespaces`).
Reuse = tuple[dict[str, Row], frozenset[int]]
#: The same for the bridges view: each bridge's rows (its own and its ports') by the bridge's key.
GroupReuse = tuple[dict[str, list[Row]], frozenset[int]]
#: What builds a table view's rows from a snapshot and a filter.
RowBuilder = Callable[[Snapshot, Filter], list[Row]]


def bridge_rows(snap: Snapshot, flt: Filter, reuse: GroupReuse | None = None,
                groups: dict[str, list[Row]] | None = None) -> list[Row]:
    """Each bridge's row, then its ports'. With `reuse` (groups built with the same filter from an
    earlier snapshot), a bridge in a namespace that did not change keeps its rows: its ports and its
    learned MACs are that namespace's. `groups` receives each bridge's rows by the bridge's key."""
    rows: list[Row] = []
    for br in snap.links:
        if br.bridge is None:
            continue
        t = Target.link(*br.key)
        group = reuse[0].get(t.id) if reuse is not None and br.netns not in reuse[1] else None
        if group is None:
            group = _bridge_group(snap, br, t, flt)
        if groups is not None:
            groups[t.id] = group
        rows.extend(group)
    return rows


def _bridge_group(snap: Snapshot, br: Link, t: Target, flt: Filter) -> list[Row]:
    """A bridge's rows: its own and its ports' (none when the filter leaves out all of them)."""
    assert br.bridge is not None
    ports = [p for p in snap.links_in(br.netns)
             if p.master is not None and p.master.ifindex == br.ifindex]
    learned: dict[int | None, int] = {}
    for entry in br.bridge.fdb:
        if entry.state == "learned":
            learned[entry.port] = learned.get(entry.port, 0) + 1
    port_rows = []
    for p in ports:
        pt = Target.link(*p.key)
        if not flt.matches(snap, pt):
            continue
        bp = p.bridge_port
        port_rows.append(Row(pt.id, pt, (
            "", p.name, p.kind, "", bp.state if bp else "?", "", str(bp.cost) if bp else "",
            str(bp.priority) if bp else "", str(learned.get(p.ifindex, 0)))))
    if not port_rows and not flt.matches(snap, t):
        return []
    stp = "stp" if br.bridge.stp else "no stp"
    n = len(ports)
    return [Row(t.id, t, (
        plain(br.name, "bold"), f"{n} port{'s' if n != 1 else ''}", "bridge",
        short(snap.ns_label(br.netns)),
        stp, "", "", "", str(sum(learned.values())))), *port_rows]


def veth_rows(snap: Snapshot, flt: Filter, reuse: Reuse | None = None) -> list[Row]:
    """One row per pair. With `reuse` (rows built with the same filter from an earlier snapshot), a
    pair whose two ends are in namespaces that did not change keeps its row: at 800 pairs, rebuilding
    them all took 13-27 ms of each refresh that changed anything while this view was shown."""
    rows: list[Row] = []
    seen: set[tuple[int, int]] = set()
    for a in snap.links:
        if a.kind != "veth" or a.key in seen:
            continue
        if reuse is not None and a.netns not in reuse[1] and (a.peer is None or a.peer.netns not in reuse[1]):
            kept = reuse[0].get(Target.link(*a.key).id)
            if kept is not None:
                seen.add(a.key)
                if a.peer is not None:
                    seen.add(a.peer.key)
                rows.append(kept)
                continue
        b = snap.link(*a.peer.key) if a.peer is not None else None
        seen.add(a.key)
        if b is not None:
            seen.add(b.key)
        ta = Target.link(*a.key)
        tb = Target.link(*b.key) if b is not None else None
        if not (flt.matches(snap, ta) or (tb is not None and flt.matches(snap, tb))):
            continue
        if b is not None:
            b_cells: tuple[Cell, ...] = (b.name, short(snap.ns_label(b.netns)),
                                         b.master.name or "" if b.master else "")
        elif a.peer is not None:
            b_cells = (ref_where(snap, a.peer, a.netns), short(snap.ns_label(a.peer.netns)), "")
        else:
            b_cells = ("?", "", "")
        states = [s for s in (state_style(a)[0], state_style(b)[0] if b else "") if s]
        rows.append(Row(ta.id, ta, (
            plain(a.name, "bold"), short(snap.ns_label(a.netns)),
            a.master.name or "" if a.master else "", "⇄", *b_cells,
            Text(" ".join(states) or "up", style="red" if states else "green"),
            _owner_cell(owners.link_note(snap, a) or (owners.link_note(snap, b) if b is not None else "")))))
    return rows


class VethRowsBuilder:
    """`veth_rows`, reusing the rows of pairs in namespaces that did not change since the last build."""

    def __init__(self) -> None:
        self._since = ChangedSince()
        self._by_key: dict[str, Row] = {}
        #: Rows reused by the last build (tests check a one-namespace change reuses the rest).
        self.reused = 0

    def __call__(self, snap: Snapshot, flt: Filter) -> list[Row]:
        changed = self._since.changed(snap, flt)
        reuse = (self._by_key, changed) if changed is not None else None
        rows = veth_rows(snap, flt, reuse)
        self.reused = sum(1 for row in rows if reuse is not None and reuse[0].get(row.key) is row)
        self._by_key = {row.key: row for row in rows}
        return rows


def tun_rows(snap: Snapshot, flt: Filter) -> list[Row]:
    rows: list[Row] = []
    for link in snap.links:
        if link.tun is None:
            continue
        t = Target.link(*link.key)
        if not flt.matches(snap, t):
            continue
        tun = link.tun
        flags = [f for f, on in (("vnet_hdr", tun.vnet_hdr), ("pi", tun.pi), ("persist", tun.persist)) if on]
        if tun.multi_queue:
            flags.append(f"multi_queue({tun.num_queues})" if tun.num_queues else "multi_queue")
        owner = "" if tun.owner is None else f"uid {tun.owner}"
        if tun.group is not None:
            owner += f" gid {tun.group}"
        rows.append(Row(t.id, t, (
            plain(link.name, "bold"), short(snap.ns_label(link.netns)), tun.type, " ".join(flags),
            Text(holders_text(link, snap),
                 style="magenta" if tun.holders else "yellow" if tun.unheld else "dim"),
            owner.strip(),
            _state(link), _owner_cell(owners.link_note(snap, link)))))
    return rows


def ns_rows(snap: Snapshot, flt: Filter) -> list[Row]:
    rows: list[Row] = []
    for ns in snap.namespaces:
        t = Target.ns(ns.inode)
        if not flt.matches(snap, t):
            continue
        procs = " ".join(proc_name(p) for p in ns.processes[:3])
        if len(ns.processes) > 3:
            procs += f" +{len(ns.processes) - 3}"
        listening = " ".join(listening_text(p, 3) for p in ns.processes if p.listening)
        rows.append(Row(t.id, t, (
            Text(short(ns.label, 30), style="bold green"), str(ns.inode),
            str(len(snap.links_in(ns.inode))) if ns.readable else "?",
            f"{len(ns.pids)}{'' if ns.pids_complete else '+'}", procs, listening,
            _owner_cell(owners.namespace_note(snap, ns.inode)))))
    return rows


def event_rows(snap: Snapshot, changes: Sequence[Change], flt: Filter, total: int) -> list[Row]:
    """Newest first; `total` numbers the rows so keys stay stable as older events move down."""
    rows: list[Row] = []
    style = {"added": "green", "removed": "red", "moved": "yellow", "down": "red", "up": "green",
             "carrier off": "yellow", "carrier on": "green", "ns added": "green", "ns removed": "red"}
    for i, change in enumerate(changes):
        target = change.target if change.target is not None and _alive(snap, change.target) else None
        hay = f"{change.what} {change.subject} {change.where} {change.detail}".lower()
        if flt.active and ((flt.text in hay) == flt.inverted):
            continue
        rows.append(Row(f"ev:{total - i}", target, (
            change.at.strftime("%H:%M:%S"), Text(change.what, style=style.get(change.what, "")),
            change.subject, short(change.where), change.detail)))
    return rows


def _alive(snap: Snapshot, target: Target) -> bool:
    if target.kind == "ns":
        return snap.namespace(target.netns) is not None
    if target.kind == "link":
        return snap.link(target.netns, target.ident) is not None
    return snap.namespace(target.netns) is not None
