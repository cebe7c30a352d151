"""What the details pane says about a selection: every known field, rates, holders, commands (pure).

Returns a Rich renderable so it can be unit-tested and reused (the trace screen shows hop details with
it too); the widget only swaps it in when the selection or the snapshot changed.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vnettop.model import CollectError, Link, Namespace, Process, Snapshot
from vnettop.ui.inspect_commands import commands_for
from vnettop.ui.labels import holders_text, ref_where
from vnettop.ui.rates import RateTracker, human_bytes, human_rate, sparkline
from vnettop.ui.targets import Target, find_process, resolve


def _grid() -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    return grid


def relevant_errors(snap: Snapshot, target: Target) -> list[CollectError]:
    """Soft errors whose scope names this object (its namespace inode, name, pid or device name)."""
    words = {f"netns {target.netns}", str(target.netns)}
    obj = resolve(snap, target)
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
    g = _grid()
    state = Text("UP" if link.admin_up else "DOWN", style="green" if link.admin_up else "red")
    state.append(f", oper {link.oper_state}",
                 style="" if link.oper_state in ("up", "unknown") else "yellow")
    if link.carrier is not None:
        state.append(", carrier" if link.carrier else ", no carrier", style="" if link.carrier else "yellow")
    g.add_row("kind", link.kind)
    g.add_row("state", state)
    g.add_row("netns", f"{snap.ns_label(link.netns)} (net:[{link.netns}])  ifindex {link.ifindex}")
    g.add_row("mac", f"{link.mac or '-'}   mtu {link.mtu}")
    if link.master is not None:
        port = link.bridge_port
        extra = f" (port {port.state}, cost {port.cost}, prio {port.priority})" if port else ""
        g.add_row("master", ref_where(snap, link.master, link.netns) + extra)
    if link.peer is not None:
        g.add_row("peer", f"{ref_where(snap, link.peer, -1)} (ifindex {link.peer.ifindex})")
    if link.lower is not None:
        g.add_row("lower", ref_where(snap, link.lower, link.netns))
    g.add_row("addresses", " ".join(link.addresses) or "-")
    for key, value in link.info:
        g.add_row(key, value)
    return g


def _bridge_parts(snap: Snapshot, link: Link) -> list[RenderableType]:
    assert link.bridge is not None
    br = link.bridge
    names = {p.ifindex: p.name for p in snap.links_in(link.netns)}
    g = _grid()
    g.add_row("stp", "on" if br.stp else "off")
    g.add_row("vlan filter", "on" if br.vlan_filtering else "off")
    g.add_row("ports", " ".join(names.get(i, f"if{i}") for i in br.ports) or "-")
    parts: list[RenderableType] = [g]
    if br.fdb:
        fdb = Table("mac", "port", "state", "vlan", box=None, padding=(0, 1), header_style="bold")
        for e in br.fdb:
            fdb.add_row(e.mac, names.get(e.port, "-") if e.port is not None else "-", e.state,
                        "" if e.vlan is None else str(e.vlan))
        parts += [Text("forwarding database", style="bold"), fdb]
    return parts


def _tun_parts(snap: Snapshot, link: Link) -> list[RenderableType]:
    assert link.tun is not None
    tun = link.tun
    g = _grid()
    flags = [f"{name}={'on' if on else 'off'}" for name, on in
             (("vnet_hdr", tun.vnet_hdr), ("pi", tun.pi), ("persist", tun.persist),
              ("multi_queue", tun.multi_queue))]
    g.add_row("tun type", tun.type)
    g.add_row("flags", " ".join(flags))
    if tun.num_queues is not None:
        g.add_row("queues", str(tun.num_queues))
    g.add_row("owner", "-" if tun.owner is None else f"uid {tun.owner}")
    g.add_row("group", "-" if tun.group is None else f"gid {tun.group}")
    g.add_row("holders", Text(holders_text(link), style="magenta"))
    parts: list[RenderableType] = [g]
    for h in tun.holders:
        found = find_process(snap, h.pid)
        cmd = found[1].cmdline if found else "(command line unknown)"
        where = f" in {found[0].label}" if found else ""
        exact = "" if h.exact else "  (matched by name only)"
        parts.append(Text.assemble((f"{h.comm}[{h.pid}]", "bold magenta"),
                                   f" fds {','.join(map(str, h.fds))}{where}{exact}\n  ", (cmd, "dim")))
    return parts


def _rates(snap: Snapshot, link: Link, rates: RateTracker | None) -> RenderableType:
    g = _grid()
    series = rates.get(link.key) if rates is not None else None
    s = link.stats
    for label, total, pkts, history in (
        ("rx", s.rx_bytes, s.rx_packets, series.rx if series else None),
        ("tx", s.tx_bytes, s.tx_packets, series.tx if series else None),
    ):
        g.add_row(label, f"{human_bytes(total)} ({pkts} pkts)")
        if history:
            line = Text(f"{human_rate(history[-1]):>11} ")
            line.append(sparkline(history), style="green")
            g.add_row(f"{label}/s", line)
    if s.rx_errors or s.tx_errors or s.rx_dropped or s.tx_dropped:
        g.add_row("errors", f"rx {s.rx_errors} tx {s.tx_errors}  dropped rx {s.rx_dropped} tx {s.tx_dropped}")
    return g


def _ns_parts(snap: Snapshot, ns: Namespace) -> list[RenderableType]:
    g = _grid()
    g.add_row("names", " ".join(ns.names) or ("(root)" if ns.root else "(no name)"))
    g.add_row("inode", f"net:[{ns.inode}]")
    links = snap.links_in(ns.inode)
    g.add_row("devices", f"{len(links)}: " + " ".join(link.name for link in links))
    pids = " ".join(str(p) for p in ns.pids[:12]) + (" …" if len(ns.pids) > 12 else "")
    g.add_row("pids", f"{len(ns.pids)}: {pids}")
    parts: list[RenderableType] = [g]
    for proc in ns.processes:
        parts.append(_proc_text(proc))
    return parts


def _proc_text(proc: Process) -> Text:
    text = Text.assemble((f"{proc.comm}[{proc.pid}]", "bold magenta"), f" user {proc.user or '?'}\n  ",
                         (proc.cmdline, "dim"))
    for sock in proc.listening:
        text.append(f"\n  listening {sock.proto} {sock.address}:{sock.port}")
    return text


def _proc_parts(snap: Snapshot, netns: int, proc: Process) -> list[RenderableType]:
    parts: list[RenderableType] = [_proc_text(proc)]
    g = _grid()
    g.add_row("netns", f"{snap.ns_label(netns)} (net:[{netns}])")
    held = [f"{link.name} @ {snap.ns_label(link.netns)} fds {','.join(map(str, h.fds))}"
            for link in snap.links if link.tun is not None for h in link.tun.holders if h.pid == proc.pid]
    g.add_row("holds", "\n".join(held) or "-")
    parts.append(g)
    return parts


def render_details(snap: Snapshot, target: Target | None, rates: RateTracker | None = None) -> RenderableType:
    """Everything known about the target, or a hint when nothing is selected."""
    if target is None:
        return Text("Nothing selected. Move with the arrow keys; ? shows every key.", style="dim")
    obj = resolve(snap, target)
    parts: list[RenderableType] = []
    if isinstance(obj, Link):
        parts.append(_link_grid(snap, obj))
        if obj.bridge is not None:
            parts += _bridge_parts(snap, obj)
        if obj.tun is not None:
            parts += _tun_parts(snap, obj)
        parts.append(_rates(snap, obj, rates))
    elif isinstance(obj, Namespace):
        parts += _ns_parts(snap, obj)
    elif isinstance(obj, Process):
        parts += _proc_parts(snap, target.netns, obj)
    else:
        return Text("This object is gone.", style="yellow")
    errors = relevant_errors(snap, target)
    for err in errors:
        parts.append(Text(f"⚠ {err.scope}: {err.message}", style="yellow"))
    cmds = commands_for(snap, target)
    if cmds:
        parts.append(Text("inspect with", style="bold"))
        parts.append(Text("\n".join(f"  {c}" for c in cmds), style="dim"))
    return Group(*parts)


def details_title(snap: Snapshot, target: Target | None) -> str:
    obj = resolve(snap, target) if target is not None else None
    if isinstance(obj, Link):
        return obj.name
    if isinstance(obj, Namespace):
        return f"namespace {obj.label}"
    if isinstance(obj, Process):
        return f"{obj.comm}[{obj.pid}]"
    return "details"
