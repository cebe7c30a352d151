"""Questions over a fleet file, offline: where is this port / MAC / IP / VM / container now, and what is
abandoned. `find` also matches owners (SNAPSHOT-SCHEMA.md "Owners") by name or id, and says each
match's owner.

`find` reads each host's snapshot as the plain JSON objects it already is and only builds the full
Snapshot of a host that matched (to say what the match is attached to), so a question over 1000 hosts
costs one pass over the data, not 1000 model builds. `orphans` needs every snapshot whole.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from vnettop import owners
from vnettop import topology as topo
from vnettop.fleet.fleetfile import HostEntry
from vnettop.model import Link, Snapshot
from vnettop.orphans import Orphan, find_orphans

_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
#: A Neutron port uuid, or a prefix of one (at least 8 hex digits).
_UUIDISH = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{0,4}){0,3}(-[0-9a-f]{0,12})?$")


@dataclass(frozen=True, slots=True)
class Found:
    """One answer to `fleet find`."""

    host: str
    netns: str  # the namespace's label on that host
    device: str | None  # None when a namespace itself matched
    kind: str  # the device's kind, or "namespace"
    matched: str  # "name", "mac", "ip", "fdb", "namespace", "port-id", "owner"
    path: str  # what it is attached to: holder -> device -> bridge / peer @ namespace
    owner: str = ""  # whose it is (`owners.owner_text`: `web-1 (vm)`), "" when no source said


def classify(query: str) -> tuple[str, str]:
    """What a query is ("mac", "ip", "port-id", "name") and its normal form."""
    q = query.strip()
    low = q.lower()
    if _MAC.match(low):
        return "mac", low.replace("-", ":")
    try:
        return "ip", str(ipaddress.ip_address(q.split("/", 1)[0]))
    except ValueError:
        pass
    if _UUIDISH.match(low):
        return "port-id", low
    return "name", q


def _ip_of(address: str) -> str | None:
    try:
        return str(ipaddress.ip_interface(address).ip)
    except ValueError:
        return None


def _device_matches(kind: str, value: str, link: dict[str, Any]) -> str | None:
    name = link.get("name") or ""
    if kind == "name":
        return "name" if value.lower() in name.lower() else None
    if kind == "port-id":
        # Neutron names devices by the port uuid's first 11 characters (tap1ec9dbb7-e7, qvo…, qr-…).
        prefix = value[:11]
        return "port-id" if prefix in name.lower() else None
    if kind == "mac":
        if (link.get("mac") or "").lower() == value:
            return "mac"
        bridge = link.get("bridge") or {}
        if any((e.get("mac") or "").lower() == value for e in bridge.get("fdb") or ()):
            return "fdb"
        return None
    if kind == "ip":
        return "ip" if any(_ip_of(a) == value for a in link.get("addresses") or ()) else None
    return None


def _fdb_path(snap: Snapshot, bridge: Link, mac: str) -> str:
    """Where a bridge learned a MAC: `brq… port tap796091c0-07 (learned)`."""
    for entry in bridge.bridge.fdb if bridge.bridge is not None else ():
        if entry.mac.lower() == mac:
            port = snap.link(bridge.netns, entry.port) if entry.port is not None else None
            where = port.name if port is not None else f"ifindex {entry.port}"
            return f"{bridge.name} port {where} ({entry.state})"
    return bridge.name


def _path(snap: Snapshot, link: Link) -> str:
    parts: list[str] = []
    for proc, holder in topo.holders(snap, link):
        vm = topo.vm_name(proc) if proc is not None else None
        parts.append(f"{holder.comm}[{holder.pid}]" + (f" (vm {vm})" if vm else ""))
    parts.append(link.name)
    if link.master is not None and link.master.name:
        parts.append(link.master.name)
    if link.peer is not None:
        parts.append(f"{link.peer.name or f'ifindex {link.peer.ifindex}'} @ {snap.ns_label(link.peer.netns)}")
    return " -> ".join(parts)


def _needle(kind: str, value: str) -> str:
    """Text every matching host's line must contain (lower-case), to skip the others unparsed.

    An IPv6 query is normalised and may be written differently in the file: no needle then ("")."""
    if kind == "port-id":
        return value[:11]
    if kind == "ip" and ":" in value:
        return ""
    return value.lower()


def find(entries: list[HostEntry], query: str) -> list[Found]:
    """Every device or namespace on every answering host that the query names."""
    kind, value = classify(query)
    needle = _needle(kind, value)
    out: list[Found] = []
    for entry in entries:
        if not entry.ok or not entry.may_contain(needle):
            continue
        raw = entry.raw
        if raw is None:
            continue
        hits: list[tuple[int, int, str]] = []  # (netns inode, ifindex, how)
        for link in raw.get("links") or ():
            how = _device_matches(kind, value, link)
            if how is not None:
                hits.append((link.get("netns"), link.get("ifindex"), how))
        ns_hits: list[tuple[int, str]] = []
        if kind in ("name", "port-id"):
            needle = value.lower()
            for ns in raw.get("namespaces") or ():
                if any(needle in (n or "").lower() for n in ns.get("names") or ()):
                    ns_hits.append((ns.get("inode"), "namespace"))
            _owner_hits(raw, needle, hits, ns_hits)
        if not hits and not ns_hits:
            continue
        snap = entry.snapshot()
        for inode, how in ns_hits:
            out.append(Found(entry.host, snap.ns_label(inode), None, "namespace", how,
                             f"{len(snap.links_in(inode))} devices", owners.namespace_text(snap, inode)))
        for netns, ifindex, how in hits:
            found = snap.link(netns, ifindex)
            if found is not None:
                path = _fdb_path(snap, found, value) if how == "fdb" else _path(snap, found)
                out.append(Found(entry.host, snap.ns_label(netns), found.name, found.kind, how, path,
                                 owners.link_text(snap, found)))
    return out


def _owner_matches(owner: dict[str, Any], needle: str) -> bool:
    """An owner's name containing the query, or its id starting with it (a container's short id, a
    Neutron uuid prefix); or the query starting with its id when that is itself a prefix (a Neutron
    port named by a device carries only the uuid's first 11 characters)."""
    name = str(owner.get("name") or "").lower()
    ident = str(owner.get("id") or "").lower()
    return needle in name or (bool(ident) and (ident.startswith(needle) or (len(ident) >= 11
                                               and needle.startswith(ident))))


def _owner_hits(raw: dict[str, Any], needle: str, hits: list[tuple[int, int, str]],
                ns_hits: list[tuple[int, str]]) -> None:
    """Add the devices and namespaces of every owner the query names (once each) to the hits."""
    seen_links = {(h[0], h[1]) for h in hits}
    seen_ns = {h[0] for h in ns_hits}
    for owner in raw.get("owners") or ():
        if not isinstance(owner, dict) or not _owner_matches(owner, needle):
            continue
        for key in owner.get("links") or ():
            if isinstance(key, list) and len(key) == 2 and tuple(key) not in seen_links:
                seen_links.add((key[0], key[1]))
                hits.append((key[0], key[1], "owner"))
        for inode in owner.get("namespaces") or ():
            if inode not in seen_ns:
                seen_ns.add(inode)
                ns_hits.append((inode, "owner"))


def orphans(entries: list[HostEntry]) -> list[tuple[str, Orphan, str]]:
    """(host, orphan, namespace label) for every answering host, in host order."""
    out: list[tuple[str, Orphan, str]] = []
    for entry in entries:
        if not entry.ok:
            continue
        snap = entry.snapshot()
        out.extend((entry.host, o, snap.ns_label(o.netns)) for o in find_orphans(snap))
    return out
