"""A Snapshot in the Prometheus text exposition format (version 0.0.4), for node_exporter's textfile
collector.

Operators already run Prometheus on every host; node_exporter reads `*.prom` files from a directory
and serves them with its own metrics, so vnettop needs no daemon and no port of its own (see
`vnettop export`). What node_exporter cannot say and vnettop can: devices in every namespace, veth
peers across namespaces, who holds a tap, what looks abandoned.

Rules that keep a time-series database healthy, and why:
- Facts are `_info` series with value 1 whose labels are stable for the object's life (names, kinds,
  masters, peers, the holder's command, the owner's name and kind; an owner's id and runtime). No pid,
  counter or timestamp is ever a label: each new value would be a new series (cardinality churn).
  Counters stay with node_exporter's netdev collector.
- Counts are plain gauges; every orphan reason is always emitted (0 included) so `sum by (reason)`
  has no gaps.
- What could not be read is absent, never 0: a tap whose holders are unknown has no
  `vnettop_tun_holders` sample.
- Every family has HELP and TYPE, names are snake_case with the `vnettop_` prefix, and the output
  passes `promtool check metrics` with no lint finding (a test runs promtool).

Label values from the system are made one-line and terminal-safe first (a name may hold control
characters, or bytes that are not UTF-8: those are written `\\xNN`, as in the JSON snapshot), then
escaped as the format requires (backslash, double quote, newline).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from vnettop import __version__, owners
from vnettop.model import Link, Owner, Snapshot
from vnettop.orphans import REASONS, bridge_port_counts, find_orphans
from vnettop.textsafe import printable_line

Labels = tuple[tuple[str, str], ...]


def _utf8(text: str) -> str:
    """`text` with the bytes a non-UTF-8 name carries (lone surrogates) written `\\xNN`."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape") if _only_escaped(text) else None
        if raw is not None:
            return raw.decode("utf-8", "backslashreplace")
        return text.encode("utf-8", "backslashreplace").decode("ascii")


def _only_escaped(text: str) -> bool:
    """True if every lone surrogate in `text` stands for a byte (U+DC80..U+DCFF, surrogateescape)."""
    return all(not ("\ud800" <= ch <= "\udfff") or "\udc80" <= ch <= "\udcff" for ch in text)


def label_value(text: str) -> str:
    """A label value as the exposition format writes it inside double quotes."""
    safe = printable_line(_utf8(text))
    return safe.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Family:
    """One metric family: its HELP and TYPE lines, then its samples in the order added."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.samples: list[tuple[Labels, float]] = []

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((tuple(labels.items()), value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            inner = ",".join(f'{k}="{label_value(v)}"' for k, v in labels)
            yield f"{self.name}{{{inner}}} {_number(value)}" if inner else f"{self.name} {_number(value)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _ns(snap: Snapshot, inode: int) -> str:
    """A namespace's label that lives as long as the namespace: "root", its first name, else
    `net:[INODE]` (not "pid N": the lowest pid of a namespace changes while the namespace lives on)."""
    ns = snap.namespace(inode)
    if ns is not None and ns.root:
        return "root"
    if ns is not None and ns.names:
        return ns.names[0]
    return f"net:[{inode}]"


def _ns_kind(snap: Snapshot, inode: int) -> str:
    ns = snap.namespace(inode)
    if ns is None:
        return "unknown"
    return "root" if ns.root else ("named" if ns.names else "unnamed")


def _link_labels(snap: Snapshot, link: Link) -> dict[str, str]:
    master = link.master.name if link.master is not None and link.master.name is not None else ""
    peer = link.peer
    return {
        "netns": _ns(snap, link.netns),
        "device": link.name,
        "ifindex": str(link.ifindex),
        "kind": link.kind,
        "mac": link.mac or "",
        "master": master,
        "peer": (peer.name or "") if peer is not None else "",
        "peer_netns": _ns(snap, peer.netns) if peer is not None else "",
        **_owner_labels(owners.best(owners.of_link(snap, link))),
    }


def _owner_labels(owner: Owner | None) -> dict[str, str]:
    """`owner` (its name) and `owner_kind` of a device or namespace: the one `owners.best` chooses, so
    the TUI, the dump and the metrics name the same one; empty when none is known."""
    return {"owner": owner.name if owner else "", "owner_kind": owner.kind if owner else ""}


def render_prom(snap: Snapshot) -> str:
    """The snapshot's metrics, newline-terminated, families in a fixed order."""
    fams: list[_Family] = []

    def family(name: str, kind: str, help_text: str) -> _Family:
        fam = _Family(name, kind, help_text)
        fams.append(fam)
        return fam

    build = family("vnettop_build_info", "gauge", "vnettop's version; always 1.")
    build.add(1, version=__version__)
    family("vnettop_collect_duration_seconds", "gauge",
           "How long the collection of this snapshot took.").add(snap.duration_ms / 1000.0)
    family("vnettop_collect_errors", "gauge",
           "Soft errors met while collecting (something could not be read; see vnettop dump).").add(
        len(snap.errors))
    taken = round(snap.taken_at.timestamp(), 3)
    family("vnettop_snapshot_timestamp_seconds", "gauge",
           "When the snapshot was taken, in seconds since the epoch.").add(taken)

    family("vnettop_namespaces", "gauge", "Network namespaces on the host.").add(len(snap.namespaces))
    ns_info = family("vnettop_namespace_info", "gauge",
                     "A network namespace: its label, nsfs inode, all its names, how it is known; always 1.")
    for ns in snap.namespaces:
        ns_info.add(1, netns=_ns(snap, ns.inode), inode=str(ns.inode), names=",".join(ns.names),
                    kind=_ns_kind(snap, ns.inode),
                    **_owner_labels(owners.best(owners.of_namespace(snap, ns.inode))))

    by_kind = Counter(link.kind for link in snap.links)
    links = family("vnettop_links", "gauge", "Network devices on the host, by kind, in every namespace.")
    for kind in sorted(by_kind):
        links.add(by_kind[kind], kind=kind)
    link_info = family("vnettop_link_info", "gauge",
                       "A network device with its namespace, kind, MAC, bridge and veth peer; always 1.")
    for link in snap.links:
        link_info.add(1, **_link_labels(snap, link))

    if snap.owners is not None:  # no family at all when no source was asked (unknown is not "none")
        owner_info = family("vnettop_owner_info", "gauge",
                            "Who devices and namespaces belong to (a VM, container, pod, Neutron port...): "
                            "its kind, name, id, runtime, whether the answer is exact, and what it is part "
                            "of; always 1.")
        for owner in snap.owners:
            up = owners.parent(snap, owner)
            owner_info.add(1, kind=owner.kind, name=owner.name, id=owner.id or "", runtime=owner.runtime,
                           exact="true" if owner.exact else "false",
                           parent=up.name if up is not None else "",
                           parent_kind=up.kind if up is not None else "")

    ports = bridge_port_counts(snap)
    bridge_ports = family("vnettop_bridge_ports", "gauge",
                          "Ports of a Linux bridge (the kernel allows 1024).")
    for link in snap.links:
        if link.key in ports:
            bridge_ports.add(ports[link.key], netns=_ns(snap, link.netns), bridge=link.name)

    tun_holders = family("vnettop_tun_holders", "gauge",
                         "Processes holding a tun/tap device; absent when they could not be read.")
    holder_info = family("vnettop_tun_holder_info", "gauge",
                         "A process holding a tun/tap device, by command name; always 1.")
    for link in snap.links:
        tun = link.tun
        if tun is None:
            continue
        where = _ns(snap, link.netns)
        for comm in sorted({h.comm for h in tun.known_holders}):
            holder_info.add(1, netns=where, device=link.name, comm=comm)
        if tun.holders is None or not tun.holders_complete:
            continue  # how many is unknown: no sample rather than a wrong one
        tun_holders.add(len(tun.holders), netns=where, device=link.name, type=tun.type)

    orphans = find_orphans(snap)
    per_reason = Counter(o.reason for o in orphans)
    count = family("vnettop_orphans", "gauge",
                   "Devices and namespaces that look abandoned, by reason (see vnettop fleet orphans).")
    for reason in REASONS:
        count.add(per_reason.get(reason, 0), reason=reason)
    orphan_info = family("vnettop_orphan_info", "gauge",
                         "One abandoned-looking device or namespace; always 1.")
    for o in orphans:
        device = "" if o.is_namespace else o.name
        orphan_info.add(1, reason=o.reason, netns=_ns(snap, o.netns), device=device)

    out: list[str] = []
    for fam in fams:
        out.extend(fam.lines())
    return "\n".join(out) + "\n"
