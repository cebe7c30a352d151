"""A Snapshot as a readable tree: `ip -br link`, `brctl show` and `lsof /dev/net/tun` in one place.

Per namespace: its label, inode and names, the processes worth knowing (tun holders, listeners), then
its devices with kind, state, MAC and addresses. Bridge ports are nested under their bridge with their
port state; a veth says where its other end is (`⇄ peer @ namespace`); a tun/tap says its flags and who
holds it on which fds. Errors met while collecting come last. `ascii=True` swaps the few non-ASCII
symbols for ASCII ones, for terminals and logs that cannot show them.

Every value from the system (names, command lines, hostnames, error messages) goes through
`textsafe.printable_line` where it is placed, so none can add a line or drive the terminal; columns are
aligned by display width (a CJK name takes two columns a character). The reverse joins (a bridge's
ports, a holder's process) come from one `topology.Joins` per render, so the cost is linear in the
snapshot's size.
"""

from __future__ import annotations

from vnettop import owners
from vnettop import topology as topo
from vnettop.model import (
    Link,
    LinkRef,
    Namespace,
    OvsIfaceEntry,
    OvsPortEntry,
    OvsSection,
    Owner,
    Process,
    Snapshot,
)
from vnettop.owners import owner_text
from vnettop.textsafe import display_width, ljust
from vnettop.textsafe import printable_line as _one

_UNICODE = {"tee": "├─ ", "last": "└─ ", "bar": "│  ", "gap": "   ", "veth": "⇄", "dot": "·", "into": "→"}
_ASCII = {"tee": "|- ", "last": "`- ", "bar": "|  ", "gap": "   ", "veth": "<->", "dot": "-", "into": "->"}

#: Bridge facts the bridge note already states (`stp on|off`, `vlan_filtering`).
_BRIDGE_SAID = frozenset({"stp", "stp_state", "vlan_filtering"})

#: Widest a column may grow before it stops pushing the others right (long names still show whole).
_MAX_COL = 24


def render_text(snap: Snapshot, ascii: bool = False) -> str:
    """The whole snapshot as text, ending with a newline."""
    sym = _ASCII if ascii else _UNICODE
    joins = topo.Joins(snap)
    out = [_header(snap, sym)]
    for ns in snap.namespaces:
        out.append("")
        out.extend(_namespace(snap, ns, sym, joins))
    orphans = [link for link in snap.links if snap.namespace(link.netns) is None]
    if orphans:  # a malformed snapshot: show the devices anyway rather than drop them
        out.append("")
        out.append("devices in namespaces the snapshot does not describe")
        out.extend(_devices(snap, orphans, sym, joins))
    if snap.ovs is not None:
        out.append("")
        out.extend(_ovs(snap, snap.ovs, sym))
    if snap.errors:
        out.append("")
        out.append(f"errors ({len(snap.errors)})")
        out.extend(f"  {_one(err.scope)}: {_one(err.message)}" for err in snap.errors)
    return "\n".join(out) + "\n"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _header(snap: Snapshot, sym: dict[str, str]) -> str:
    when = snap.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    first = f"vnettop  {_one(snap.host.hostname)}  kernel {_one(snap.host.kernel)}  {when}"
    counts = [
        _plural(len(snap.namespaces), "namespace"),
        _plural(len(snap.links), "link"),
        _plural(len(topo.bridges(snap)), "bridge"),
        _plural(len(topo.veth_pairs(snap)), "veth pair"),
        f"{len(topo.tuntaps(snap))} tun/tap",
        _plural(len(snap.errors), "error"),
    ]
    return first + "\n" + f" {sym['dot']} ".join(counts)


def _namespace(snap: Snapshot, ns: Namespace, sym: dict[str, str], joins: topo.Joins) -> list[str]:
    head = [_one(ns.label), f"net:[{ns.inode}]"]
    extra_names = ns.names[1:] if ns.names else ()
    if extra_names:
        head.append("also " + ", ".join(_one(n) for n in extra_names))
    if not ns.root and not ns.names:
        head.append("(no name)")
    head.append(_plural(len(ns.pids), "process", "processes")
                + ("" if ns.pids_complete else " seen (others' not readable)"))
    head.extend(_owner_note(o) for o in snap.owners_of_namespace(ns.inode))
    lines = ["  ".join(head)]
    procs = ns.processes
    if procs:
        labels = [_proc_label(p) for p in procs]
        width = min(_MAX_COL, max(display_width(label) for label in labels))
        for proc, label in zip(procs, labels, strict=True):
            note = _proc_note(snap, ns, proc, joins.held_by(proc.pid))
            lines.append(f"  {ljust(label, width)}  {note}".rstrip())
    links = snap.links_in(ns.inode)
    if links:
        lines.extend(_devices(snap, list(links), sym, joins))
    elif not ns.readable:
        lines.append(f"  devices unknown (cannot enter: {_one(ns.unreadable_reason or 'see errors')})")
    else:
        lines.append("  (no devices)")
    return lines


def _proc_label(proc: Process) -> str:
    return f"{_one(proc.comm)}[{proc.pid}]"


def _proc_note(snap: Snapshot, ns: Namespace, proc: Process, held: tuple[Link, ...]) -> str:
    parts = []
    if proc.user:
        parts.append(_one(proc.user))
    if held:
        names = [_one(link.name) if link.netns == ns.inode
                 else f"{_one(link.name)} @ {_one(snap.ns_label(link.netns))}" for link in held]
        parts.append("holds " + ", ".join(names))
    if proc.listening:
        parts.append("listening " + ", ".join(_one(f"{s.proto} {s.endpoint}") for s in proc.listening))
    return "  ".join(parts)


# -- devices ------------------------------------------------------------------------------------


def _devices(snap: Snapshot, links: list[Link], sym: dict[str, str], joins: topo.Joins) -> list[str]:
    """Rows for a namespace's devices, bridge ports nested under their bridge, columns aligned."""
    keys = {link.key for link in links}
    rows: list[tuple[str, Link, bool]] = []  # (tree prefix, link, shown nested under its master)
    seen: set[tuple[int, int]] = set()

    def add(top: Link) -> None:
        """`top` and, depth first, the ports under it (an explicit stack: chains may be long)."""
        stack: list[tuple[Link, str, str, bool]] = [(top, "", "", False)]
        while stack:
            link, prefix, child_prefix, nested = stack.pop()
            if link.key in seen:
                continue
            seen.add(link.key)
            rows.append((prefix, link, nested))
            kids = [p for p in joins.ports(link) if p.key not in seen]
            for i in range(len(kids) - 1, -1, -1):
                last = i == len(kids) - 1
                stack.append((kids[i], child_prefix + (sym["last"] if last else sym["tee"]),
                              child_prefix + (sym["gap"] if last else sym["bar"]), True))

    for link in links:
        master_here = link.master is not None and link.master.key in keys and link.master.key != link.key
        if not master_here:
            add(link)
    for link in links:  # ports whose master chain loops back on itself: still show them
        add(link)

    cells = [
        (prefix + _one(link.name), _one(link.kind), _state(link), _one(link.mac or "-"),
         _one(" ".join(link.addresses) or "-"), _notes(snap, link, nested, sym, joins))
        for prefix, link, nested in rows
    ]
    sizes = [[display_width(c[i]) for i in range(5)] for c in cells]  # terminal columns, not characters
    widths = [min(_MAX_COL + 8 * (i == 4), max(size[i] for size in sizes)) for i in range(5)]
    return [
        ("  " + "  ".join(c[i] + " " * (widths[i] - size[i]) for i in range(5)) + "  " + c[5]).rstrip()
        for c, size in zip(cells, sizes, strict=True)
    ]


def _state(link: Link) -> str:
    """Like `ip -br`: the operational state in capitals; an administratively down device says so."""
    if not link.admin_up:
        return "DOWN(admin)"
    state = _one(link.oper_state.upper())
    if link.carrier is False and state not in ("DOWN", "LOWERLAYERDOWN"):
        state += ",NO-CARRIER"
    return state


def _notes(snap: Snapshot, link: Link, nested: bool, sym: dict[str, str], joins: topo.Joins) -> str:
    notes: list[str] = []
    if link.bridge_port is not None:
        bp = link.bridge_port
        notes.append(f"port {_one(bp.state)} cost {bp.cost}")
    if link.master is not None and not nested:
        notes.append(f"master {_ref_text(snap, link, link.master)}")
    if link.peer is not None:
        notes.append(f"{sym['veth']} {_ref_text(snap, link, link.peer, always_ns=True)}")
    if link.lower is not None:
        notes.append(f"on {_ref_text(snap, link, link.lower)}")
    if link.bridge is not None:
        br = link.bridge
        flags = [f"stp {'on' if br.stp else 'off'}"]
        if br.vlan_filtering:
            flags.append("vlan_filtering")
        flags.append(_plural(len(joins.ports(link)), "port"))
        if br.fdb:
            flags.append(_plural(len(br.fdb), "fdb entry", "fdb entries"))
        notes.append(", ".join(flags))
    if link.tun is not None:
        notes.append(_tun_note(snap, link, joins))
    # A bridge's stp and vlan_filtering are said above with its ports; its facts must not say them again.
    info = [(k, v) for k, v in link.info if link.bridge is None or k not in _BRIDGE_SAID]
    if info:
        notes.append(" ".join(f"{_one(k)} {_one(v)}" for k, v in info))
    if link.mtu != 1500 and link.kind != "loopback":
        notes.append(f"mtu {link.mtu}")
    found = snap.ovs_port_of(link.key)
    if found is not None:
        notes.append(f"ovs {_one(found[0].name)}/{_one(found[1].name)}")
    role = snap.ovs_datapath_role(link.key)
    if role is not None:
        notes.append(f"ovs datapath's own: {_one(role)}")
    own = owners.of_link(snap, link)
    notes.extend(_owner_note(o) for o in own)
    far = owners.best(owners.reached(snap, link)) if not own else None
    if far is not None:  # the host end of a container's veth: whose namespace it leads into
        notes.append(f"{sym['into']} {owner_text(far)}")
    return "  ".join(notes)


def _ovs(snap: Snapshot, ovs: OvsSection, sym: dict[str, str]) -> list[str]:
    """Open vSwitch as `ovs-vsctl show` would put it, each interface with the kernel device it is."""
    head = f"Open vSwitch {_one(ovs.ovs_version or '(version unknown)')}  db {_one(ovs.db)}"
    if ovs.system_id:
        head += f"  system-id {_one(ovs.system_id)}"
    out = [head]
    for bridge in ovs.bridges:
        facts = [f"datapath {_one(bridge.datapath_type or 'system')}"]
        if bridge.fail_mode:
            facts.append(f"fail_mode {_one(bridge.fail_mode)}")
        facts.append(_plural(len(bridge.ports), "port"))
        out.append(f"  ovs bridge {_one(bridge.name)}  {', '.join(facts)}")
        for i, port in enumerate(bridge.ports):
            last = i == len(bridge.ports) - 1
            out.append(f"  {sym['last' if last else 'tee']}{_ovs_port(snap, bridge.name, port)}")
            if len(port.interfaces) > 1:  # a bond: its members below it
                for j, iface in enumerate(port.interfaces):
                    branch = sym["last"] if j == len(port.interfaces) - 1 else sym["tee"]
                    out.append(f"  {sym['gap' if last else 'bar']}{branch}{_ovs_iface(snap, iface, True)}")
    for dev in ovs.datapath_devices:
        where = _one(snap.ns_label(dev.link.netns))
        out.append(f"  {_one(dev.link.name or '?')} @ {where}: {_one(dev.role)}")
    return out


def _ovs_port(snap: Snapshot, bridge: str, port: OvsPortEntry) -> str:
    notes = [_one(port.name)]
    if port.name == bridge:
        notes.append("(local port)")
    if port.tag is not None:
        notes.append(f"tag {port.tag}")
    if port.trunks:
        notes.append("trunks " + ",".join(str(t) for t in port.trunks))
    if len(port.interfaces) == 1:
        notes.append(_ovs_iface(snap, port.interfaces[0], False))
    elif not port.interfaces:
        notes.append("(no interface)")
    return "  ".join(n for n in notes if n)


def _ovs_iface(snap: Snapshot, iface: OvsIfaceEntry, named: bool) -> str:
    notes = [_one(iface.name)] if named else []
    if iface.type:
        notes.append(_one(iface.type))
    if iface.ofport is not None:
        notes.append(f"ofport {iface.ofport}")
    if iface.link_state is not None and iface.link_state != "up":
        notes.append(f"link {_one(iface.link_state)}")
    if iface.admin_state is not None and iface.admin_state != "up":
        notes.append(f"admin {_one(iface.admin_state)}")
    if iface.peer is not None:
        notes.append(f"peer {_one(iface.peer.bridge)}/{_one(iface.peer.port)}")
    elif iface.type == "patch":
        notes.append(f"peer {_one(iface.option('peer') or '?')} (not found)")
    for key, word in (("remote_ip", "remote"), ("local_ip", "local"), ("key", "key")):
        value = iface.option(key)
        if value is not None:
            notes.append(f"{word} {_one(value)}")
    if iface.link is not None:
        notes.append(f"= {_one(iface.link.name or '?')} @ {_one(snap.ns_label(iface.link.netns))}")
    ids = dict(iface.external_ids)
    if "iface-id" in ids:
        notes.append(f"iface-id {_one(ids['iface-id'])}")
    return "  ".join(notes)


def _owner_note(owner: Owner) -> str:
    """`owner web-1 (vm)`; an inferred answer says how it was inferred: `(neutron-port, name pattern)`.
    Worded by `owners.owner_text`, as the TUI, the trace and DOT word it."""
    return f"owner {owner_text(owner)}"


def _ref_text(snap: Snapshot, link: Link, ref: LinkRef, always_ns: bool = False) -> str:
    """A reference to another device, naming its namespace when it is elsewhere."""
    if ref.name is None or snap.link(ref.netns, ref.ifindex) is None:
        return f"ifindex {ref.ifindex} @ {_one(snap.ns_label(ref.netns))} (not readable)"
    if ref.netns == link.netns:
        return _one(ref.name)
    text = f"{_one(ref.name)} @ {_one(snap.ns_label(ref.netns))}"
    return text + (f" (ifindex {ref.ifindex})" if always_ns else "")


def _tun_note(snap: Snapshot, link: Link, joins: topo.Joins) -> str:
    tun = link.tun
    assert tun is not None
    flags = [f for f, on in (("vnet_hdr", tun.vnet_hdr), ("pi", tun.pi), ("persist", tun.persist),
                             ("multi_queue", tun.multi_queue)) if on]
    if tun.num_queues is not None:
        flags.append(f"queues {tun.num_queues}")
    if tun.owner is not None:
        flags.append(f"uid {tun.owner}")  # TUNSETOWNER; "owner" names whose it is
    if tun.group is not None:
        flags.append(f"gid {tun.group}")
    if tun.holders:
        held = ", ".join(
            f"{_one(h.comm)}[{h.pid}]{_vm(joins, h.pid)} {topo.fds_text(h)}"
            + ("" if h.exact else " (by name)")
            for h in tun.holders
        )
        flags.append(f"held by {held}" + ("" if tun.holders_complete else ", maybe more (needs root)"))
    elif tun.holders is None:
        flags.append("holder unknown (needs root)")
    else:
        flags.append("not held")
    return " ".join(flags)


def _vm(joins: topo.Joins, pid: int) -> str:
    """" P2" when the holder is a qemu whose command line names the VM (`-name guest=P2`), else ""."""
    found = joins.process(pid)
    vm = topo.vm_name(found[1]) if found is not None else None
    return f" {_one(vm)}" if vm else ""


# -- a trace ------------------------------------------------------------------------------------


def render_trace(title: str, hops: list[topo.Hop], ascii: bool = False) -> str:
    """A trace (see `topology.trace`) as a tree under a title line, one hop a line, ending with a newline."""
    sym = _ASCII if ascii else _UNICODE
    lines = [_one(title)]
    # A hop is the last of its siblings when no later hop at its depth comes before a shallower one.
    last = [True] * len(hops)
    following: dict[int, bool] = {}
    for i in range(len(hops) - 1, -1, -1):
        d = hops[i].depth
        last[i] = not following.get(d, False)
        following = {k: v for k, v in following.items() if k < d}
        following[d] = True
    open_levels: dict[int, bool] = {}  # depth -> more siblings still to come below it
    for hop, is_last in zip(hops, last, strict=True):
        d = hop.depth
        prefix = "".join(sym["bar"] if open_levels.get(k) else sym["gap"] for k in range(1, d))
        if d > 0:
            prefix += sym["last"] if is_last else sym["tee"]
        open_levels[d] = not is_last
        lines.append(f"{prefix}{_hop_text(hop, sym)}".rstrip())
    return "\n".join(lines) + "\n"


def _hop_text(hop: topo.Hop, sym: dict[str, str]) -> str:
    """One hop's line. Its label and note are built from names, so each is escaped whole (escaping is
    per character: the same as escaping each name in it)."""
    note = _one(hop.note).replace("veth peer", f"{sym['veth']} veth peer")
    label = _one(hop.label) + (f"  [{_one(hop.owner)}]" if hop.owner else "")
    if hop.kind == "namespace":
        return f"namespace {label}  {note}"
    if hop.kind == "owner":
        return f"{_one(hop.owner or hop.label)}  {note}"
    if hop.kind == "service":
        return f"{label}  listening {note}"
    return f"{label}  {note}"
