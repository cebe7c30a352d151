"""What the details pane says about a selection: every known field, rates, holders, commands (pure).

Returns a Rich renderable so it can be unit-tested and reused (the trace screen shows hop details with
it too); the widget only swaps it in when the selection or the snapshot changed.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from vnettop import ovsgraph, owners
from vnettop.model import CollectError, Link, Namespace, Owner, Process, Snapshot
from vnettop.topology import fds_text, vm_name
from vnettop.ui import ovs_details
from vnettop.ui.drawn_alike import KeyedDrawing
from vnettop.ui.inspect_commands import commands_for, wrap_command
from vnettop.ui.labels import (
    OWNER_STYLE,
    fact_grid,
    fact_row,
    holder_text,
    holders_text,
    plain,
    proc_name,
    ref_where,
    safe,
)
from vnettop.ui.rates import RateTracker, human_bytes, human_rate, sparkline
from vnettop.ui.targets import Target, find_process, resolve

#: How many devices, processes and FDB entries a namespace's or bridge's details list before "+N more".
#: The root namespace of a busy host has hundreds of each: rendering them all made every cursor move
#: onto it (and every view switch while it is selected) cost 100-400 ms. `f` shows the whole lists.
LIST_CAP = 24
#: Processes are several lines each, so fewer of them.
PROC_CAP = 12
#: Process ids on a namespace's `pids` row before "+N more".
PID_CAP = 12
#: Facts the bridge rows show, left out of a bridge's kind-specific facts (`stp` came twice).
BRIDGE_ROWS = frozenset({"stp"})


def _more(shown: int, total: int, what: str) -> Text | None:
    """The "+N more" line under a capped list, or None when nothing was left out."""
    if total <= shown:
        return None
    return Text(f"+{total - shown} more {what} (f shows all)", style="dim italic")


class CommandBlock(KeyedDrawing):
    """The "inspect with" commands, wrapped whole at whatever width they are drawn: each starts its own
    line and breaks only between words, its continuation lines indented deeper (Rich's own wrapping
    started continuations at column 0, so half a command read like another command)."""

    def __init__(self, commands: list[str]) -> None:
        self.commands = commands

    def drawing_key(self) -> tuple[str, ...]:
        """What it draws (`drawn_alike`): the same commands draw the same lines at any width."""
        return tuple(self.commands)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for command in self.commands:
            for line in wrap_command(command, options.max_width):
                yield Text(line, style="dim", no_wrap=True, overflow="crop")




def relevant_errors(snap: Snapshot, target: Target) -> list[CollectError]:
    """Soft errors whose scope names this object (its namespace inode, name, pid or device name)."""
    obj = resolve(snap, target)
    if isinstance(obj, ovsgraph.OvsHit):  # an OVS row: errors name it as "OVS interface NAME (bridge B)"
        return [e for e in snap.errors if f"OVS interface {obj.name} " in e.message
                or (obj.kind == "bridge" and f"(bridge {obj.name})" in e.message)]
    words = {f"netns {target.netns}", str(target.netns)}
    if isinstance(obj, Link):
        words.add(obj.name)
        for ref in (obj.peer, obj.lower, obj.master):
            if ref is not None and ref.netns != obj.netns:  # why the other end may be unreadable
                words.add(f"netns {ref.netns}")
    elif isinstance(obj, Process):
        words.add(f"pid {obj.pid}")
    elif isinstance(obj, Namespace):
        words.update(obj.names)
    return [e for e in snap.errors if any(w in e.scope or w in e.message for w in words)]


def _link_grid(snap: Snapshot, link: Link) -> Table:
    g = fact_grid()
    state = Text("UP" if link.admin_up else "DOWN", style="green" if link.admin_up else "red")
    state.append(f", oper {link.oper_state}",
                 style="" if link.oper_state in ("up", "unknown") else "yellow")
    if link.carrier is not None:
        state.append(", carrier" if link.carrier else ", no carrier", style="" if link.carrier else "yellow")
    fact_row(g, "kind", link.kind)
    fact_row(g, "state", state)
    fact_row(g, "netns", f"{snap.ns_label(link.netns)} (net:[{link.netns}])  ifindex {link.ifindex}")
    fact_row(g, "mac", f"{link.mac or '-'}   mtu {link.mtu}")
    if link.master is not None:
        port = link.bridge_port
        extra = f" (port {port.state}, cost {port.cost}, prio {port.priority})" if port else ""
        fact_row(g, "master", ref_where(snap, link.master, link.netns) + extra)
    if link.peer is not None:
        fact_row(g, "peer", f"{ref_where(snap, link.peer, -1)} (ifindex {link.peer.ifindex})")
    if link.lower is not None:
        fact_row(g, "lower", ref_where(snap, link.lower, link.netns))
    fact_row(g, "addresses", " ".join(link.addresses) or "-")
    shown_below = BRIDGE_ROWS if link.bridge is not None else frozenset()
    for key, value in link.info:
        if key not in shown_below:  # the bridge's own rows say it (once)
            fact_row(g, key, value)
    return g


def _bridge_parts(snap: Snapshot, link: Link, full: bool) -> list[RenderableType]:
    assert link.bridge is not None
    br = link.bridge
    names = {p.ifindex: p.name for p in snap.links_in(link.netns)}
    g = fact_grid()
    fact_row(g, "stp", "on" if br.stp else "off")
    fact_row(g, "vlan filter", "on" if br.vlan_filtering else "off")
    fact_row(g, "ports", " ".join(names.get(i, f"if{i}") for i in br.ports) or "-")
    parts: list[RenderableType] = [g]
    if br.fdb:
        entries = br.fdb if full else br.fdb[:LIST_CAP]
        fdb = Table("mac", "port", "state", "vlan", box=None, padding=(0, 1), header_style="bold")
        for e in entries:
            fdb.add_row(plain(e.mac), plain(names.get(e.port, "-") if e.port is not None else "-"),
                        plain(e.state), "" if e.vlan is None else str(e.vlan))
        parts += [Text("forwarding database", style="bold"), fdb]
        more = _more(len(entries), len(br.fdb), "entries")
        if more is not None:
            parts.append(more)
    return parts


def _tun_parts(snap: Snapshot, link: Link) -> list[RenderableType]:
    assert link.tun is not None
    tun = link.tun
    g = fact_grid()
    flags = [f"{name}={'on' if on else 'off'}" for name, on in
             (("vnet_hdr", tun.vnet_hdr), ("pi", tun.pi), ("persist", tun.persist),
              ("multi_queue", tun.multi_queue))]
    fact_row(g, "tun type", tun.type)
    fact_row(g, "flags", " ".join(flags))
    if tun.num_queues is not None:
        fact_row(g, "queues", str(tun.num_queues))
    # TUNSETOWNER/TUNSETGROUP: who may attach, not whose the device is (that is the Owner block)
    fact_row(g, "tun uid", "-" if tun.owner is None else str(tun.owner))
    fact_row(g, "tun gid", "-" if tun.group is None else str(tun.group))
    fact_row(g, "holders", Text(holders_text(link, snap), style="magenta"))
    parts: list[RenderableType] = [g]
    for h in tun.known_holders:
        found = find_process(snap, h.pid)
        cmd = safe(found[1].cmdline) if found else "(command line unknown)"
        where = f" in {safe(found[0].label)}" if found else ""
        exact = "  (matched by name only)" if not h.exact else ""
        parts.append(Text.assemble((holder_text(h, snap).rstrip("?"), "bold magenta"),
                                   f"{where}{exact}\n  ", (cmd, "dim")))
    return parts


#: Owners' facts worth their own row, in this order; the others follow as the source gave them.
_OWNER_FACTS = ("also",)


def _owner_parts(snap: Snapshot, found: tuple[Owner, ...], title: str) -> list[RenderableType]:
    """An Owner block per owner: what it is, how it is known (exact, or inferred from what), which other
    sources saw it, its facts, and what it belongs to (a Neutron port's VM)."""
    parts: list[RenderableType] = []
    for owner in found:
        parts.append(Text.assemble((f"{title} ", "bold"), (owners.owner_text(owner), OWNER_STYLE)))
        g = fact_grid()
        fact_row(g, "kind", owner.kind)
        fact_row(g, "name", owner.name)
        fact_row(g, "id", owner.id or "-")
        fact_row(g, "runtime", owner.runtime)
        fact_row(g, "source", owner.source)
        fact_row(g, "known", Text(owners.how_known(owner), style="green" if owner.exact else "yellow"))
        also = owners.detail(owner, "also")
        if also:
            fact_row(g, "also seen by", also)
        for key, value in owner.details:
            if key not in _OWNER_FACTS:
                fact_row(g, key, value)
        up = owners.parent(snap, owner)
        if up is not None:
            fact_row(g, "part of", Text(owners.owner_text(up), style=OWNER_STYLE))
        if owner.pids:
            fact_row(g, "pids", " ".join(str(p) for p in owner.pids[:PID_CAP])
                 + (f" … +{len(owner.pids) - PID_CAP} more" if len(owner.pids) > PID_CAP else ""))
        parts.append(g)
    return parts


def _link_owner_parts(snap: Snapshot, link: Link) -> list[RenderableType]:
    """The device's own owners; else whose namespace it leads into (a container's host veth); else whose
    namespace it is in (the container's eth0)."""
    own = owners.of_link(snap, link)
    if own:
        return _owner_parts(snap, own, "Owner")
    far = owners.reached(snap, link)
    if far:
        return _owner_parts(snap, far, "Leads into")
    return _owner_parts(snap, owners.of_namespace(snap, link.netns), "In")


def _rates(snap: Snapshot, link: Link, rates: RateTracker | None) -> RenderableType:
    g = fact_grid()
    series = rates.get(link.key) if rates is not None else None
    s = link.stats
    for label, total, pkts, history in (
        ("rx", s.rx_bytes, s.rx_packets, series.rx if series else None),
        ("tx", s.tx_bytes, s.tx_packets, series.tx if series else None),
    ):
        fact_row(g, label, f"{human_bytes(total)} ({pkts} pkts)")
        if history:
            line = Text(f"{human_rate(history[-1]):>11} ")
            line.append(sparkline(history), style="green")
            fact_row(g, f"{label}/s", line)
    if s.rx_errors or s.tx_errors or s.rx_dropped or s.tx_dropped:
        fact_row(g, "errors",
                 f"rx {s.rx_errors} tx {s.tx_errors}  dropped rx {s.rx_dropped} tx {s.tx_dropped}")
    read = snap.counters_behind.get(link.netns)
    if read is not None:  # (read on a slower cadence until selected: current from the next refresh)
        age = max(0.0, (snap.taken_at - read).total_seconds())
        fact_row(g, "counters", Text(f"as read {age:.0f} s before this refresh", style="dim"))
    return g


def _ns_parts(snap: Snapshot, ns: Namespace, full: bool) -> list[RenderableType]:
    g = fact_grid()
    fact_row(g, "names", " ".join(ns.names) or ("(root)" if ns.root else "(no name)"))
    fact_row(g, "inode", f"net:[{ns.inode}]")
    if ns.mounts:
        fact_row(g, "mounted at", "\n".join(safe(m) for m in ns.mounts))
    if ns.fds:
        fact_row(g, "held open by", ", ".join(h.label for h in ns.fds))
    links = snap.links_in(ns.inode)
    shown = links if full else links[:LIST_CAP]
    hidden = len(links) - len(shown)
    if ns.readable:
        fact_row(g, "devices", f"{len(links)}: " + " ".join(link.name for link in shown)
             + (f" … +{hidden} more" if hidden else ""))
    else:
        why = ns.unreadable_reason or "see errors"
        fact_row(g, "devices", Text(f"unknown (cannot enter: {why})", style="yellow"))
    pids = ns.pids if full else ns.pids[:PID_CAP]
    hidden_pids = len(ns.pids) - len(pids)
    seen = "" if ns.pids_complete else (" seen (some processes could not be read: without root, "
                                        "or hidden from root too)")
    fact_row(g, "pids", f"{len(ns.pids)}{seen}: " + " ".join(map(str, pids))
         + (f" … +{hidden_pids} more" if hidden_pids else ""))
    parts: list[RenderableType] = [g]
    procs = ns.processes if full else ns.processes[:PROC_CAP]
    for proc in procs:
        parts.append(_proc_text(proc))
    more = _more(len(procs), len(ns.processes), "processes")
    if more is not None:
        parts.append(more)
    return parts


def _proc_text(proc: Process) -> Text:
    vm = vm_name(proc)
    text = Text.assemble((proc_name(proc), "bold magenta"), (f" VM {safe(vm)}" if vm else "", "bold"),
                         f" user {safe(proc.user or '?')}\n  ", (safe(proc.cmdline), "dim"))
    for sock in proc.listening:
        text.append(f"\n  listening {sock.proto} {safe(sock.endpoint)}")
    return text


def _proc_parts(snap: Snapshot, netns: int, proc: Process) -> list[RenderableType]:
    parts: list[RenderableType] = [_proc_text(proc)]
    g = fact_grid()
    fact_row(g, "netns", f"{snap.ns_label(netns)} (net:[{netns}])")
    held = [f"{link.name} @ {snap.ns_label(link.netns)} {fds_text(h)}"
            for link in snap.links if link.tun is not None
            for h in link.tun.known_holders if h.pid == proc.pid]
    fact_row(g, "holds", "\n".join(held) or "-")
    parts.append(g)
    return parts


def render_details(snap: Snapshot, target: Target | None, rates: RateTracker | None = None,
                   full: bool = False) -> RenderableType:
    """Everything known about the target, or a hint when nothing is selected. Long lists (a namespace's
    devices and processes, a bridge's FDB) stop after the first few unless `full`."""
    if target is None:
        return Text("Nothing selected. Move with the arrow keys; ? shows every key.", style="dim")
    obj = resolve(snap, target)
    parts: list[RenderableType] = []
    if isinstance(obj, Link):
        parts.append(_link_grid(snap, obj))
        if obj.bridge is not None:
            parts += _bridge_parts(snap, obj, full)
        parts += _link_owner_parts(snap, obj)
        if obj.tun is not None:
            parts += _tun_parts(snap, obj)
        parts += ovs_details.link_parts(snap, obj)
        parts.append(_rates(snap, obj, rates))
    elif isinstance(obj, Namespace):
        parts += _owner_parts(snap, owners.of_namespace(snap, obj.inode), "Owner")
        parts += _ns_parts(snap, obj, full)
    elif isinstance(obj, Process):
        parts += _proc_parts(snap, target.netns, obj)
        parts += _owner_parts(snap, owners.of_pid(snap, obj.pid), "Owner")
    elif isinstance(obj, ovsgraph.OvsHit):
        parts += ovs_details.hit_parts(snap, obj, rates)
    else:
        return Text("This object is gone.", style="yellow")
    errors = relevant_errors(snap, target)
    for err in errors:
        parts.append(plain(f"⚠ {err.scope}: {err.message}", style="yellow"))
    cmds = ovs_details.commands(obj) if isinstance(obj, ovsgraph.OvsHit) else commands_for(snap, target)
    if cmds:
        parts.append(Text("inspect with", style="bold"))
        parts.append(CommandBlock([safe(c) for c in cmds]))
    return Group(*parts)


def details_title(snap: Snapshot, target: Target | None) -> Text:
    """The pane's title, as Text: a border title given a str is parsed as markup."""
    obj = resolve(snap, target) if target is not None else None
    if isinstance(obj, Link):
        return plain(obj.name)
    if isinstance(obj, Namespace):
        return plain(f"namespace {obj.label}")
    if isinstance(obj, Process):
        return plain(proc_name(obj))
    if isinstance(obj, ovsgraph.OvsHit):
        return ovs_details.title(obj)
    return Text("details")
