"""Joins and paths over a Snapshot: the questions an operator asks, answered without the kernel.

Every function here is pure: it reads a `Snapshot` and returns model objects or small frozen records.
References between devices are followed by key (`(netns inode, ifindex)`), never by name or by a bare
ifindex, because ifindexes collide across namespaces (a veth whose peer is ifindex 2 in another
namespace has nothing to do with this namespace's ifindex 2).

`trace` walks the whole path from one device, hop by hop, the way the article does it by hand with
`ip`, `brctl`, `ethtool -S` and `lsof`: VM process -> tap -> bridge -> veth -> namespace -> veth ->
the process listening there. The walk is deterministic (every choice follows the snapshot's sorted
order), cycle-safe (each device, namespace and process appears once) and bounded (`limit` hops).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace

from vnettop import ovsgraph
from vnettop import owners as own
from vnettop.errors import NotFoundError, VnettopError
from vnettop.model import (
    Link,
    LinkKey,
    LinkRef,
    Namespace,
    OvsBridgeEntry,
    OvsIfaceEntry,
    OvsPortEntry,
    Owner,
    Process,
    Snapshot,
    TunHolder,
)

#: Default bound of a trace: far more hops than any real path, small enough to render at once.
TRACE_LIMIT = 500


class AmbiguousNameError(VnettopError):
    """A device name exists in several namespaces and the user did not say which one.

    `namespaces` holds the labels of the namespaces that have it, so a caller can list them.
    """

    def __init__(self, message: str, namespaces: tuple[str, ...]) -> None:
        super().__init__(message)
        self.namespaces = namespaces


# -- one-step joins ---------------------------------------------------------------------------


def _deref(snap: Snapshot, ref: LinkRef | None) -> Link | None:
    return None if ref is None else snap.link(ref.netns, ref.ifindex)


def peer(snap: Snapshot, link: Link) -> Link | None:
    """The other end of a veth, in whatever namespace it is; None if unknown or unreadable."""
    return _deref(snap, link.peer)


def lower(snap: Snapshot, link: Link) -> Link | None:
    """The device a vlan/macvlan/vxlan... sits on (IFLA_LINK), possibly in another namespace."""
    return _deref(snap, link.lower)


def uppers(snap: Snapshot, link: Link) -> tuple[Link, ...]:
    """The stacked devices whose lower device is `link` (em2 -> em2.100), in snapshot order."""
    return tuple(other for other in snap.links if other.lower is not None and other.lower.key == link.key)


def bridge_of(snap: Snapshot, link: Link) -> Link | None:
    """The bridge (or other master) `link` is a port of, or None."""
    return _deref(snap, link.master)


def ports(snap: Snapshot, bridge: Link) -> tuple[Link, ...]:
    """The ports of a bridge, by ifindex.

    Taken from the devices whose master is this bridge (always the same namespace), which is what the
    kernel says per port; the bridge's own `ports` list is used too, so a port whose master field was
    lost still shows.
    """
    found: dict[int, Link] = {}
    for link in snap.links_in(bridge.netns):
        if link.master is not None and link.master.key == bridge.key and link.key != bridge.key:
            found[link.ifindex] = link
    if bridge.bridge is not None:
        for ifindex in bridge.bridge.ports:
            port = snap.link(bridge.netns, ifindex)
            if port is not None and port.key != bridge.key:
                found.setdefault(ifindex, port)
    return tuple(found[i] for i in sorted(found))


def holders(snap: Snapshot, link: Link) -> tuple[tuple[Process | None, TunHolder], ...]:
    """Who holds a tun/tap: each holder with its full Process record when the snapshot has one."""
    if link.tun is None:
        return ()
    out = []
    for holder in link.tun.known_holders:
        found = process(snap, holder.pid)
        out.append((found[1] if found else None, holder))
    return tuple(out)


def held_by(snap: Snapshot, pid: int) -> tuple[Link, ...]:
    """The tun/tap devices a process holds fds of (the reverse of `holders`)."""
    return tuple(
        link for link in snap.links
        if link.tun is not None and any(h.pid == pid for h in link.tun.known_holders)
    )


def namespace_of(snap: Snapshot, link: Link) -> Namespace:
    """The namespace a device is in (a placeholder Namespace if the snapshot lacks it)."""
    ns = snap.namespace(link.netns)
    return ns if ns is not None else Namespace(inode=link.netns, names=(), root=False, pids=())


def process(snap: Snapshot, pid: int) -> tuple[Namespace, Process] | None:
    """A process the snapshot describes, with the namespace it is in; None if not described."""
    for ns in snap.namespaces:
        for proc in ns.processes:
            if proc.pid == pid:
                return ns, proc
    return None


def _qemu_name_value(value: str) -> str | None:
    """The guest name in a qemu `-name` value: `guest=P2,debug-threads=on`, `P2`, `P2,process=x`.

    qemu's option syntax doubles a comma to put one in a value (`a,,b` is `a,b`).
    """
    parts = [p.replace("\0", ",") for p in value.replace(",,", "\0").split(",")]
    if not parts or not parts[0]:
        return None
    first = parts[0]
    if "=" not in first:  # the implied first key is the guest name
        return first
    for part in parts:
        key, _, val = part.partition("=")
        if key == "guest" and val:
            return val
    return None


def vm_name(proc: Process) -> str | None:
    """The VM's name from a qemu command line (`-name guest=P2,...` or `-name P2`), else None.

    Answers the operator's "which VM owns this tap?". The collector joins arguments with spaces, so a
    name containing a space is cut at it unless the command line carries shell quotes.
    """
    argv0 = proc.cmdline.split(" ", 1)[0].rsplit("/", 1)[-1]
    if "qemu" not in proc.comm and "qemu" not in argv0:
        return None
    try:
        tokens = shlex.split(proc.cmdline)
    except ValueError:  # an unbalanced quote inside some argument
        tokens = proc.cmdline.split()
    for i, tok in enumerate(tokens):
        value: str | None = None
        if tok in ("-name", "--name") and i + 1 < len(tokens):
            value = tokens[i + 1]
        elif tok.startswith(("-name=", "--name=")):
            value = tok.split("=", 1)[1]
        if value is not None:
            name = _qemu_name_value(value)
            if name:
                return name
    return None


def listeners(ns: Namespace) -> tuple[Process, ...]:
    """The processes of a namespace that listen on (or are bound to) a socket: its services."""
    return tuple(proc for proc in ns.processes if proc.listening)


class Joins:
    """The reverse joins of one snapshot, built in one pass, for callers that ask them of every device.

    `ports`, `process`, `held_by` and `holders` above each scan the snapshot (or one namespace of it) to
    answer once; asked for every device, as a renderer does, they are quadratic (a namespace of 20k
    devices: 20k scans of 20k). Build one `Joins` per render or walk and ask it instead: its answers
    are the same as the functions', in the same order.
    """

    __slots__ = ("_held", "_procs", "_slaves", "snap")

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        # Ports by their master's key: only same-namespace devices, as `ports` reads `links_in`.
        self._slaves: dict[LinkKey, list[Link]] = {}
        self._held: dict[int, list[Link]] = {}
        for link in snap.links:
            m = link.master
            if m is not None and m.netns == link.netns and m.key != link.key:
                self._slaves.setdefault(m.key, []).append(link)
            for holder in link.tun.known_holders if link.tun is not None else ():
                held = self._held.setdefault(holder.pid, [])
                if not held or held[-1] is not link:  # a device once per process, however many holders
                    held.append(link)
        self._procs: dict[int, tuple[Namespace, Process]] = {}
        for ns in snap.namespaces:
            for proc in ns.processes:
                self._procs.setdefault(proc.pid, (ns, proc))  # the first, as `process` finds it

    def ports(self, bridge: Link) -> tuple[Link, ...]:
        """`ports(snap, bridge)`, from the index."""
        found = {link.ifindex: link for link in self._slaves.get(bridge.key, ())}
        if bridge.bridge is not None:
            for ifindex in bridge.bridge.ports:
                if ifindex not in found:
                    port = self.snap.link(bridge.netns, ifindex)
                    if port is not None and port.key != bridge.key:
                        found[ifindex] = port
        return tuple(found[i] for i in sorted(found))

    def process(self, pid: int) -> tuple[Namespace, Process] | None:
        """`process(snap, pid)`, from the index."""
        return self._procs.get(pid)

    def held_by(self, pid: int) -> tuple[Link, ...]:
        """`held_by(snap, pid)`, from the index."""
        return tuple(self._held.get(pid, ()))

    def holders(self, link: Link) -> tuple[tuple[Process | None, TunHolder], ...]:
        """`holders(snap, link)`, from the index."""
        if link.tun is None:
            return ()
        out = []
        for holder in link.tun.known_holders:
            found = self._procs.get(holder.pid)
            out.append((found[1] if found else None, holder))
        return tuple(out)


# -- whole-snapshot views -------------------------------------------------------------------


def veth_pairs(snap: Snapshot) -> list[tuple[Link, Link | None]]:
    """Every veth pair once, as (end, other end or None if unresolved), in snapshot order."""
    seen: set[LinkKey] = set()
    pairs: list[tuple[Link, Link | None]] = []
    for link in snap.links:
        if link.kind != "veth" or link.key in seen:
            continue
        other = peer(snap, link)
        seen.add(link.key)
        if other is not None:
            seen.add(other.key)
        pairs.append((link, other))
    return pairs


def bridges(snap: Snapshot) -> tuple[Link, ...]:
    """Every bridge on the host, in snapshot order."""
    return tuple(link for link in snap.links if link.kind == "bridge" or link.bridge is not None)


def tuntaps(snap: Snapshot) -> tuple[Link, ...]:
    """Every tun and tap device on the host, in snapshot order."""
    return tuple(link for link in snap.links if link.tun is not None or link.kind in ("tun", "tap"))


# -- finding things by name -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """Something found by name: a device, a namespace or a process.

    `ref` is the link key for a device, the pid for a process, the inode for a namespace; `netns` is
    the namespace it lives in (for a namespace, itself). `why` says what matched when it was not the
    object's own name: "mac", "ip", or the owner (`owner web-1 (vm)`).
    """

    kind: str  # "link" | "namespace" | "process"
    label: str
    ref: LinkKey | int
    netns: int
    exact: bool
    why: str = ""


_KIND_ORDER = {"link": 0, "namespace": 1, "process": 2}


def find(snap: Snapshot, query: str) -> list[Match]:
    """Devices, namespaces and processes whose name contains `query` (case-insensitive), and those a
    MAC, an IP address or an owner's name or id (a Neutron port uuid or its prefix, a container id)
    leads to.

    Exact matches come first, then by kind (devices, namespaces, processes), then in snapshot order.
    A query of digits also matches a process by pid and a namespace by inode.
    """
    q = query.strip().lower()
    if not q:
        return []
    found: list[tuple[int, int, int, Match]] = []

    def consider(names: list[str], match_kind: str, label: str, ref: LinkKey | int, netns: int,
                 more: list[tuple[str, str]] | None = None) -> None:
        lowered = [n.lower() for n in names]
        why = ""
        if q in lowered:
            exact = True
        elif any(q in n for n in lowered):
            exact = False
        else:
            hit = _more_match(q, more or [])
            if hit is None:
                return
            exact, why = hit
        found.append((0 if exact else 1, _KIND_ORDER[match_kind], len(found),
                      Match(match_kind, label, ref, netns, exact, why)))

    for link in snap.links:
        consider([link.name], "link", f"{link.name} @ {snap.ns_label(link.netns)}", link.key, link.netns,
                 _link_words(snap, link))
    for ns in snap.namespaces:
        consider([*ns.names, ns.label, str(ns.inode)], "namespace", ns.label, ns.inode, ns.inode,
                 _owner_words(own.of_namespace(snap, ns.inode)))
    for ns in snap.namespaces:
        for proc in ns.processes:
            consider([proc.comm, str(proc.pid)], "process", f"{proc.comm}[{proc.pid}]", proc.pid, ns.inode,
                     _owner_words(own.of_pid(snap, proc.pid)))
    return [m for *_, m in sorted(found, key=lambda t: t[:3])]


def _owner_words(owners: tuple[Owner, ...]) -> list[tuple[str, str]]:
    """(word, why) for an owner's name, id and MAC (a Neutron port's): what `find` matches them by."""
    out = []
    for owner in owners:
        why = "owner " + own.owner_text(owner)
        mac = own.detail(owner, "mac")
        out += [(word, why) for word in (owner.name, owner.id, mac) if word]
    return out


def _link_words(snap: Snapshot, link: Link) -> list[tuple[str, str]]:
    """What else finds a device: its MAC, its IP addresses (without the prefix length), its owners'
    names and ids, and the owners of the namespace a veth end leads into."""
    out = [(link.mac, "mac")] if link.mac else []
    out += [(address.split("/", 1)[0], "ip") for address in link.addresses]
    return out + _owner_words(own.of_link(snap, link)) + _owner_words(own.reached(snap, link))


def _more_match(q: str, words: list[tuple[str, str]]) -> tuple[bool, str] | None:
    """(exact, why) of the first word equal to the query, else of the first that contains it (a MAC or
    an address must be whole: `10.0.0.2` must not find `10.0.0.20`), else None."""
    for word, why in words:
        if word.lower() == q:
            return True, why
    for word, why in words:
        if why not in ("mac", "ip") and q in word.lower():
            return False, why
    return None


def find_namespace(snap: Snapshot, name: str) -> Namespace:
    """A namespace by name, "root", inode, or label ("pid 4242"); NotFoundError if none."""
    ns = snap.find_namespace(name)
    if ns is None:
        ns = next((n for n in snap.namespaces if n.label == name), None)
    if ns is None:
        raise NotFoundError(f"no network namespace {name!r} (known: {_known_namespaces(snap)})")
    return ns


def _known_namespaces(snap: Snapshot) -> str:
    return _some([ns.label for ns in snap.namespaces])


def _some(labels: list[str] | tuple[str, ...], most: int = 8) -> str:
    """A list for a one-line message: the first few, then how many more (hosts have 1000s)."""
    shown = ", ".join(labels[:most])
    return shown + (f", ... {len(labels) - most} more" if len(labels) > most else "")


def resolve_link(snap: Snapshot, name: str, netns: str | None = None) -> Link:
    """The one device called `name` (in namespace `netns` if given).

    Raises NotFoundError when there is none, AmbiguousNameError when several namespaces have one and
    no namespace was given. The messages are fit to show as they are.
    """
    if netns is not None:
        ns = find_namespace(snap, netns)
        found = snap.find_links(name, ns.inode)
        if not found:
            raise NotFoundError(f"no device {name!r} in namespace {ns.label}")
        return found[0]
    found = snap.find_links(name)
    if not found:
        raise NotFoundError(f"no device {name!r} in any namespace")
    if len(found) > 1:
        labels = tuple(snap.ns_label(link.netns) for link in found)
        raise AmbiguousNameError(
            f"device {name!r} exists in {len(found)} namespaces ({_some(labels)}): "
            "choose one with --netns",
            labels,
        )
    return found[0]


# -- the path from a device -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a traced path.

    `ref` identifies what the hop is: a link key for "link", a pid for "process" and "service", an
    inode for "namespace", the OVSDB row uuid for "ovs-bridge" and "ovs-port" (an OVS bridge, and an
    OVS interface with no kernel device: patch, tunnel). `depth` makes the list a tree: a hop's parent
    is the nearest earlier hop with depth one less (a bridge fans out to each of its ports).
    """

    kind: str  # "process" | "link" | "namespace" | "service" | "ovs-bridge" | "ovs-port"
    label: str
    ref: LinkKey | int | str
    note: str = ""
    depth: int = 0
    owner: str = ""  # whose it is, in `owners.owner_text`'s words (`web-1 (vm)`); "" when unknown


def _listening_note(proc: Process) -> str:
    return ", ".join(f"{s.proto} {s.endpoint}" for s in proc.listening)


def fds_text(holder: TunHolder) -> str:
    """"fd 26 vhost 28", "fd 29,30": a holder's fds on the device, as `lsof` users read them, and its
    /dev/vhost-net fds (how a guest's traffic actually moves; per process, the kernel does not say
    which tap a vhost fd serves)."""
    text = "fd " + ",".join(str(fd) for fd in holder.fds)
    if holder.vhost_fds:
        text += " vhost " + ",".join(str(fd) for fd in holder.vhost_fds)
    return text


def _link_note(snap: Snapshot, link: Link, how: str) -> str:
    parts = [link.kind, f"@ {snap.ns_label(link.netns)}"]
    if link.bridge_port is not None and how == "port":
        parts.append(f"port {link.bridge_port.state}")
    if how:
        parts.append(f"({how})")
    return " ".join(parts)


def _unresolved_hop(snap: Snapshot, ref: LinkRef, how: str, depth: int) -> Hop:
    label = ref.name or f"ifindex {ref.ifindex}"
    return Hop("link", f"{label} @ {snap.ns_label(ref.netns)}", ref.key,
               f"{how}: not in the snapshot (namespace not readable?)", depth)


@dataclass(frozen=True, slots=True)
class _OvsStep:
    """An OVS bridge entered through a port (`via`; None: the trace starts at the bridge), or an OVS
    interface with no kernel device (`iface`: a patch or a tunnel) to cross."""

    bridge: OvsBridgeEntry
    via: OvsPortEntry | None = None
    iface: OvsIfaceEntry | None = None


_Item = Link | LinkRef | Hop | _OvsStep  # what the walk's stack holds: something to expand, or a ready hop


class _Walk:
    """One trace in progress: the hops so far and what has been visited."""

    def __init__(self, snap: Snapshot, limit: int) -> None:
        self.snap = snap
        self.limit = limit
        self.hops: list[Hop] = []
        self.links: set[LinkKey] = set()
        self.namespaces: set[int] = set()
        self.pids: set[int] = set()
        self.truncated = False
        self.ovs_rows: set[str] = set()  # OVSDB uuids of the OVS bridges and interfaces crossed
        # Reverse joins, built once per walk so a long trace stays linear in the snapshot's size.
        self.uppers: dict[LinkKey, list[Link]] = {}
        self.slaves: dict[LinkKey, list[Link]] = {}
        for link in snap.links:
            if link.lower is not None:
                self.uppers.setdefault(link.lower.key, []).append(link)
            if link.master is not None and link.master.key != link.key:
                self.slaves.setdefault(link.master.key, []).append(link)
        self.joins = Joins(snap)

    def emit(self, hop: Hop) -> None:
        if len(self.hops) >= self.limit:
            self.truncated = True
        else:
            self.hops.append(hop)

    def run(self, start: list[tuple[_Item, str, int]]) -> None:
        """Depth-first, preorder, with an explicit stack (paths may be thousands of hops long)."""
        stack = list(reversed(start))
        while stack and not self.truncated:
            item, how, depth = stack.pop()
            if isinstance(item, Hop):
                if item.kind in ("process", "service"):
                    if item.ref in self.pids:
                        continue
                    self.pids.add(item.ref)  # type: ignore[arg-type]
                self.emit(item)
            elif isinstance(item, _OvsStep):
                stack.extend(reversed(_ovs_expand(self, item, depth)))
            elif isinstance(item, LinkRef):
                if item.key not in self.links:
                    self.links.add(item.key)
                    self.emit(_unresolved_hop(self.snap, item, how, depth))
            elif item.key not in self.links:
                self.links.add(item.key)
                self.emit(Hop("link", item.name, item.key, _link_note(self.snap, item, how), depth))
                stack.extend(reversed(self._children(item, depth + 1)))

    def _children(self, link: Link, depth: int) -> list[tuple[_Item, str, int]]:
        snap = self.snap
        out: list[tuple[_Item, str, int]] = []
        services: tuple[Process, ...] = ()
        # Crossing into a namespace not seen yet: the namespace itself is a hop, and everything
        # reached from here, then the services listening there, hang below it.
        if link.netns not in self.namespaces:
            self.namespaces.add(link.netns)
            ns = namespace_of(snap, link)
            services = listeners(ns)
            note = f"net:[{ns.inode}]" + (f" also {', '.join(ns.names[1:])}" if len(ns.names) > 1 else "")
            out.append((Hop("namespace", ns.label, ns.inode, note, depth), "", depth))
            depth += 1
        for proc, holder in self.joins.holders(link):
            out.append((_holder_hop(link, proc, holder, depth), "", depth))
        if link.peer is not None:
            out.append((peer(snap, link) or link.peer, "veth peer", depth))
        if link.lower is not None:
            out.append((lower(snap, link) or link.lower, "lower", depth))
        out.extend((up, "stacked on it", depth) for up in self.uppers.get(link.key, ()))
        on_ovs = ovsgraph.of_link(snap, link) if snap.ovs is not None else None
        if link.master is not None and not snap.ovs_datapath_role(link.master.key):
            out.append((bridge_of(snap, link) or link.master, "master", depth))
        if on_ovs is not None and on_ovs.port is not None:
            out.append((_OvsStep(on_ovs.bridge, on_ovs.port), "", depth))
        if snap.ovs is not None and snap.ovs_datapath_role(link.key):
            # The OVS datapath (`ovs-system`) is every OVS port's master: its bridges, not a flat list.
            out.extend((_OvsStep(bridge), "", depth) for bridge in snap.ovs.bridges)
        elif link.key in self.slaves or link.bridge is not None:
            out.extend((port, "port", depth) for port in self.joins.ports(link))
        out.extend(
            (Hop("service", f"{p.comm}[{p.pid}]", p.pid, _listening_note(p), depth), "", depth)
            for p in services
        )
        return out


def _holding(link: Link, holder: TunHolder) -> str:
    return f"holds {link.name} {fds_text(holder)}"


def _holder_hop(link: Link, proc: Process | None, holder: TunHolder, depth: int) -> Hop:
    note = _holding(link, holder)
    if not holder.exact:
        note += " (matched by name)"
    if proc is not None and proc.listening:
        note += "; " + _listening_note(proc)
    return Hop("process", f"{holder.comm}[{holder.pid}]", holder.pid, note, depth)


def hop_to_dict(hop: Hop) -> dict[str, object]:
    """A hop as plain JSON-ready data, its reference spelled out by kind (for `vnettop trace`)."""
    out: dict[str, object] = {"kind": hop.kind, "label": hop.label, "depth": hop.depth, "note": hop.note,
                              "owner": hop.owner or None}
    if isinstance(hop.ref, tuple):
        out["netns"], out["ifindex"] = hop.ref
    elif isinstance(hop.ref, str):
        out["uuid"] = hop.ref
    elif hop.kind == "namespace":
        out["inode"] = hop.ref
    elif hop.kind == "owner":
        out["owner_index"] = hop.ref
    else:
        out["pid"] = hop.ref
    return out


def _finish(walk: _Walk) -> list[Hop]:
    hops = walk.hops
    if walk.truncated and hops:
        last = hops[-1]
        note = (last.note + "; " if last.note else "") + f"trace cut at {walk.limit} hops"
        hops[-1] = Hop(last.kind, last.label, last.ref, note, last.depth)
    return with_owners(walk.snap, hops)


def hop_owner(snap: Snapshot, hop: Hop) -> str:
    """Whose a hop is, in `owners.owner_text`'s words: a device's owner, a namespace's, a process's."""
    found = None
    if hop.kind == "link" and isinstance(hop.ref, tuple):
        found = own.best(snap.owners_of_link(hop.ref))
    elif hop.kind == "namespace" and isinstance(hop.ref, int):
        found = own.best(snap.owners_of_namespace(hop.ref))
    elif hop.kind in ("process", "service") and isinstance(hop.ref, int):
        found = own.best(own.of_pid(snap, hop.ref))
    return own.owner_text(found) if found is not None else ""


def with_owners(snap: Snapshot, hops: list[Hop]) -> list[Hop]:
    """The hops, each naming its owner (`web-1 (vm) -> tap… -> br0 -> veth… -> proxy (container)`)."""
    if not snap.owners:
        return hops
    return [hop if hop.kind == "owner" else replace(hop, owner=hop_owner(snap, hop)) for hop in hops]


def trace(snap: Snapshot, start: Link, limit: int = TRACE_LIMIT) -> list[Hop]:
    """The whole path from a device, hop by hop, as a preorder tree (see `Hop.depth`).

    A tun/tap's holders come first (the VM process feeding the tap), then the device, then what it
    leads to: its namespace, veth peer (across namespaces), lower device, stacked devices, its bridge
    and the bridge's other ports; entering another namespace adds that namespace and the services
    listening in it (dnsmasq on 53/67). Each device, namespace and process appears once.
    """
    walk = _Walk(snap, max(1, limit))
    hold = walk.joins.holders(start)
    walk.namespaces.add(start.netns)  # the start's own namespace is where we stand, not a hop
    walk.run([(_holder_hop(start, proc, holder, 0), "", 0) for proc, holder in hold]
             + [(start, "start", 1 if hold else 0)])
    return _finish(walk)


def trace_process(snap: Snapshot, pid: int, limit: int = TRACE_LIMIT) -> list[Hop]:
    """The paths from a process: the process, then a trace from each tun/tap it holds."""
    walk = _Walk(snap, max(1, limit))
    found = walk.joins.process(pid)
    held = walk.joins.held_by(pid)
    if found is None and not held:
        raise NotFoundError(f"no process {pid} holding a device or listening in the snapshot")
    walk.namespaces.add(found[0].inode if found else held[0].netns)  # where the process stands
    holds = [(link, h) for link in held for h in (link.tun.known_holders if link.tun else ()) if h.pid == pid]
    label = f"{found[1].comm}[{pid}]" if found else f"{holds[0][1].comm}[{pid}]"
    notes = [_holding(link, h) for link, h in holds]
    if found and found[1].listening:
        notes.append(_listening_note(found[1]))
    note = "; ".join(notes)
    walk.run([(Hop("process", label, pid, note, 0), "", 0)] + [(link, "held", 1) for link in held])
    return _finish(walk)


# -- through Open vSwitch ----------------------------------------------------------------------
#
# vnettop reads OVSDB, not the OpenFlow tables: on a bridge with flows, where a packet goes is the
# flows' decision. So a trace crossing an OVS bridge says so in its note and lists, below the bridge,
# only the ports an L2 switch could forward to by VLAN (the same tag, or a trunk carrying it), each
# followed onward: a tap to its VM, a veth into its namespace, a patch port across to the bridge on its
# other end, a tunnel to its remote (and the device holding its local_ip).


def _ovs_bridge_note(bridge: OvsBridgeEntry, via: OvsPortEntry | None) -> str:
    head = f"OVS bridge, {bridge.datapath_type or 'system'} datapath"
    if bridge.fail_mode:
        head += f", fail_mode {bridge.fail_mode}"
    names = _some([p.name for p in ovsgraph.candidates(bridge, via)]) or "none"
    if via is None:
        return f"{head}: OpenFlow rules decide here; its ports: {names}"
    if via.tag is not None:
        what = "with the same tag"
    else:
        what = f"sharing a VLAN with {via.name} ({ovsgraph.vlans_text(via)})"
    return f"{head}, from {via.name}: OpenFlow rules decide here; L2 candidates {what}: {names}"


def _ovs_port_how(bridge: OvsBridgeEntry, port: OvsPortEntry, iface: OvsIfaceEntry) -> str:
    """The `(how)` of a kernel device reached as a port of an OVS bridge."""
    parts = [f"OVS port of {bridge.name}", ovsgraph.vlans_text(port)]
    if iface.ofport is not None:
        parts.append(f"ofport {iface.ofport}")
    return ", ".join(parts)


def _ovs_port_item(snap: Snapshot, bridge: OvsBridgeEntry, port: OvsPortEntry, iface: OvsIfaceEntry,
                   depth: int) -> tuple[_Item, str, int]:
    if iface.link is not None:
        return (snap.link(*iface.link.key) or iface.link, _ovs_port_how(bridge, port, iface), depth)
    return (_OvsStep(bridge, port, iface), "", depth)


def _ovs_expand(walk: _Walk, step: _OvsStep, depth: int) -> list[tuple[_Item, str, int]]:
    """Emit the hop of an OVS bridge (or of a port with no kernel device) and return what it leads to."""
    if step.iface is not None:
        return _ovs_cross(walk, step.bridge, step.via, step.iface, depth)
    bridge, via = step.bridge, step.via
    if bridge.uuid in walk.ovs_rows:
        return []
    walk.ovs_rows.add(bridge.uuid)
    label = bridge.name + (f" (tag {via.tag})" if via is not None and via.tag is not None else "")
    walk.emit(Hop("ovs-bridge", label, bridge.uuid, _ovs_bridge_note(bridge, via), depth))
    return [_ovs_port_item(walk.snap, bridge, port, iface, depth + 1)
            for port in ovsgraph.candidates(bridge, via) for iface in port.interfaces]


def _ovs_cross(walk: _Walk, bridge: OvsBridgeEntry, port: OvsPortEntry | None, iface: OvsIfaceEntry,
               depth: int) -> list[tuple[_Item, str, int]]:
    """A patch, tunnel or other interface with no kernel device: its hop, and where it leads."""
    if iface.uuid in walk.ovs_rows:
        return []
    walk.ovs_rows.add(iface.uuid)
    snap = walk.snap
    parts = [ovsgraph.iface_type(iface)]
    if iface.ofport is not None:
        parts.append(f"ofport {iface.ofport}")
    if port is not None:
        parts.append(ovsgraph.vlans_text(port))
    out: list[tuple[_Item, str, int]] = []
    if iface.type == "patch":
        other = ovsgraph.peer(snap, iface)
        if other is None:
            parts.append(f"peer {iface.option('peer') or '?'} not in OVSDB")
        else:
            parts.append(f"peer {other.name} on {other.bridge.name}")
            walk.ovs_rows.add(other.uuid)
            out.append((_OvsStep(other.bridge, other.port), "", depth + 1))
    elif iface.type in ovsgraph.TUNNEL_TYPES:
        parts[0] = ovsgraph.tunnel_text(iface)
        local = iface.option("local_ip")
        carrier = ovsgraph.carrying(snap, local) if local else None
        if carrier is not None:
            out.append((carrier, f"has {local}: the tunnel's packets leave from it", depth + 1))
    elif iface.type in ovsgraph.KERNEL_TYPES:
        parts.append("no kernel device found for it (see errors)")
    else:
        parts.append("no kernel device (by design)")
    walk.emit(Hop("ovs-port", iface.name, iface.uuid, ", ".join(parts), depth))
    return out


def trace_ovs(snap: Snapshot, uuid: str, limit: int = TRACE_LIMIT) -> list[Hop]:
    """The path from an OVS bridge, port or interface (by OVSDB uuid), hop by hop as `trace` gives it.

    An interface that is a kernel device is traced from that device. A bridge fans out to all its ports;
    a patch interface leads to its peer's bridge and back into its own; a tunnel to its remote."""
    hit = ovsgraph.find_uuid(snap, uuid)
    if hit is None:
        raise NotFoundError(f"no OVS bridge, port or interface {uuid} in the snapshot")
    if hit.iface is not None and hit.iface.link is not None:
        link = snap.link(*hit.iface.link.key)
        if link is not None:
            return trace(snap, link, limit)
    walk = _Walk(snap, max(1, limit))
    start: list[tuple[_Item, str, int]]
    if hit.iface is None:
        start = [(_OvsStep(hit.bridge), "", 0)]
    else:
        start = [(_OvsStep(hit.bridge, hit.port, hit.iface), "", 0), (_OvsStep(hit.bridge, hit.port), "", 1)]
    walk.run(start)
    return _finish(walk)


def resolve_ovs(snap: Snapshot, name: str) -> ovsgraph.OvsHit:
    """The OVS bridge (else interface) called `name`, for what has no kernel device (`trace patch-tun`).

    NotFoundError when there is none; AmbiguousNameError when several bridges have an interface so named."""
    found = ovsgraph.bridges_by_name(snap, name)
    if not found:
        raise NotFoundError(f"no device {name!r} in any namespace, and no OVS bridge or interface so named")
    bridges = [hit for hit in found if hit.kind == "bridge"]
    if bridges:
        return bridges[0]
    if len(found) > 1:
        raise AmbiguousNameError(f"OVS interface {name!r} is on {len(found)} bridges",
                                 tuple(h.bridge.name for h in found))
    return found[0]


def trace_owner(snap: Snapshot, owner: Owner, limit: int = TRACE_LIMIT) -> list[Hop]:
    """The paths from an owner (a VM, a container, a pod): the owner, then a trace from each of its
    devices (`owners.devices`: its taps, its namespace's devices and the veths into it, its ports')."""
    devs = own.devices(snap, owner)
    if not devs:
        raise NotFoundError(f"owner {own.owner_text(owner)} has no device in the snapshot")
    walk = _Walk(snap, max(1, limit))
    root = snap.root
    if root is not None:
        walk.namespaces.add(root.inode)  # where we stand, as for a trace from a device
    index = next((i for i, o in enumerate(snap.owners or ()) if o == owner), -1)
    facts = [own.how_known(owner), owner.runtime] + ([f"id {owner.id}"] if owner.id else [])
    head = Hop("owner", owner.name, index, ", ".join(facts), 0, own.owner_text(owner))
    walk.run([(head, "", 0)] + [(link, "owner's", 1) for link in devs])
    return _finish(walk)
