"""One-line labels for namespaces, devices and processes, shared by the tree, tables and palette (pure).

Colours are ANSI names (red, green, yellow, cyan, magenta) and bold/dim, so a 16-colour terminal over
SSH shows the same meaning as a true-colour one.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from vnettop import owners
from vnettop.model import Link, LinkRef, Namespace, Process, Snapshot, TunHolder
from vnettop.textsafe import printable_line
from vnettop.topology import fds_text, vm_name
from vnettop.ui.drawn_alike import FactGrid

#: How an owner's name stands out in a line (bold yellow reads on 16-colour terminals too).
OWNER_STYLE = "bold yellow"


def safe(text: str) -> str:
    """A system-provided string for one line on screen: control characters shown as `\\xNN`.

    Any process can name itself `"\\x1b[31mEVIL"` and a device name may hold ESC; raw, they would drive
    the terminal. Every name, comm, command line and kernel message the UI shows goes through here.
    """
    return printable_line(text)


def plain(text: str, style: str = "") -> Text:
    """`text` as a Rich Text (never parsed as markup: a device named `[b]x` shows as `[b]x`), made safe."""
    return Text(printable_line(text), style=style)


def short(name: str, width: int = 16) -> str:
    """Ellipsize long names (OpenStack namespaces carry a whole UUID); control characters escaped."""
    name = printable_line(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def ref_where(snap: Snapshot, ref: LinkRef, here: int) -> str:
    """"veth-b @ qdhcp-ba48a3fc…" or just "veth-b" when in the same namespace."""
    name = printable_line(ref.name) if ref.name is not None else f"if{ref.ifindex} (unreadable)"
    if ref.netns == here:
        return name
    return f"{name} @ {short(snap.ns_label(ref.netns))}"


def holder_text(holder: TunHolder, snap: Snapshot | None = None) -> str:
    """"qemu-kvm[7748] P2 fd 26 vhost 28": comm, pid, the VM's name if qemu says it, the fds."""
    vm = None
    if snap is not None:
        found = _find_process(snap, holder.pid)
        vm = vm_name(found) if found is not None else None
    fds = ",".join(str(fd) for fd in holder.fds)
    text = f"{safe(holder.comm)}[{holder.pid}]"
    if vm:
        text += f" {safe(vm)}"
    text += f" fd{'s' if len(holder.fds) > 1 else ''} {fds}"
    if holder.vhost_fds:
        text += f" vhost {','.join(str(fd) for fd in holder.vhost_fds)}"
    return text + ("" if holder.exact else "?")


def _find_process(snap: Snapshot, pid: int) -> Process | None:
    for ns in snap.namespaces:
        for proc in ns.processes:
            if proc.pid == pid:
                return proc
    return None


#: What a tun/tap says when its holders could not be checked (model.TunInfo: holders None).
HOLDER_UNKNOWN = "holder unknown (needs root)"


def holders_text(link: Link, snap: Snapshot | None = None) -> str:
    """"qemu-kvm[7748] P2 fd 26 vhost 28" for each holder; "no holder" only when every process was
    checked; "holder unknown (needs root)" when they could not be; "..., maybe more" when some were."""
    tun = link.tun
    if tun is None:
        return ""
    if tun.holders is None:
        return HOLDER_UNKNOWN + (", persist" if tun.persist else "")
    if not tun.holders:
        return "no holder" + (", persist" if tun.persist else "")
    more = "" if tun.holders_complete else ", maybe more (needs root)"
    return ", ".join(holder_text(h, snap) for h in tun.holders) + more


def state_style(link: Link) -> tuple[str, str]:
    """A short state word and its style: DOWN (red), NO-CARRIER (yellow), or nothing."""
    if not link.admin_up:
        return "DOWN", "red"
    if link.carrier is False or link.oper_state in ("down", "lowerlayerdown"):
        return "NO-CARRIER", "yellow"
    return "", ""


def link_label(snap: Snapshot, link: Link, port_count: int | None = None) -> Text:
    """The tree/palette line for a device."""
    text = Text()
    text.append(safe(link.name), style="bold")
    text.append(f"  {link.kind}", style="cyan")
    owner = owners.link_note(snap, link)
    if owner:
        text.append(f"  {owner}", style=OWNER_STYLE)
    extra = ""
    if link.bridge is not None:
        n = port_count if port_count is not None else len(link.bridge.ports)
        extra = f"{n} port{'s' if n != 1 else ''}"
    elif link.peer is not None:
        extra = f"⇄ {ref_where(snap, link.peer, link.netns)}"
    elif link.tun is not None:  # the VM's name from qemu's command line only when no owner says more
        extra = holders_text(link, None if owner else snap)
    elif link.lower is not None:
        extra = f"on {ref_where(snap, link.lower, link.netns)}"
    if extra:
        text.append(f"  {extra}", style="magenta" if link.tun is not None else "")
    word, style = state_style(link)
    if word:
        text.append(f"  {word}", style=style)
    if link.addresses and link.kind != "loopback":
        text.append(f"  {safe(link.addresses[0])}", style="dim")
    return text


def ns_label(snap: Snapshot, ns: Namespace) -> Text:
    """The tree line for a namespace: name, device count, the processes of interest."""
    text = Text()
    text.append(short(ns.label, 40), style="bold green")
    owner = owners.namespace_note(snap, ns.inode)
    if owner:
        text.append(f"  {owner}", style=OWNER_STYLE)
    if not ns.names and not ns.root:
        text.append("  no name", style="dim")
    if ns.readable:
        text.append(f"  {len(snap.links_in(ns.inode))} dev", style="dim")
    else:
        text.append(f"  devices unknown ({ns.unreadable_reason or 'cannot enter'})", style="yellow")
    procs = " ".join(proc_name(p) for p in ns.processes[:3])
    if len(ns.processes) > 3:
        procs += f" +{len(ns.processes) - 3}"
    if procs:
        text.append(f"  {procs}", style="magenta")
    return text


def proc_name(proc: Process) -> str:
    """"qemu-kvm[7748]", comm made safe."""
    return f"{safe(proc.comm)}[{proc.pid}]"


def listening_text(proc: Process, limit: int = 4) -> str:
    parts = [f"{sock.proto}/{sock.port}" for sock in proc.listening[:limit]]
    if len(proc.listening) > limit:
        parts.append(f"+{len(proc.listening) - limit}")
    return " ".join(parts)


def held_index(snap: Snapshot) -> dict[int, list[str]]:
    """pid -> ["tap0 fd 26", ...]: what each process holds, built once per snapshot."""
    out: dict[int, list[str]] = {}
    for link in snap.links:
        if link.tun is None:
            continue
        for h in link.tun.known_holders:
            out.setdefault(h.pid, []).append(f"{safe(link.name)} {fds_text(h)}")
    return out


def proc_label(proc: Process, held: list[str], owner: str = "") -> Text:
    """The tree line for a process: name, pid, its owner (when not its namespace's), what it holds and
    listens on."""
    text = Text()
    text.append("◆ ", style="magenta")
    text.append(proc_name(proc), style="bold magenta")
    vm = None if owner else vm_name(proc)  # qemu's own word for the VM only when no owner says more
    if vm:
        text.append(f" {safe(vm)}", style="bold")
    if owner:
        text.append(f"  {owner}", style=OWNER_STYLE)
    if held:
        text.append("  holds " + ", ".join(held))
    listening = listening_text(proc)
    if listening:
        text.append(f"  {listening}", style="dim")
    return text


def kind_counts(snap: Snapshot) -> dict[str, int]:
    """Devices by the kinds the header and the hosts view count: bridge, veth, tun/tap."""
    kinds = {"bridge": 0, "veth": 0, "tun/tap": 0}
    for link in snap.links:
        if link.bridge is not None or link.kind == "bridge":
            kinds["bridge"] += 1
        elif link.kind == "veth":
            kinds["veth"] += 1
        elif link.tun is not None or link.kind in ("tun", "tap"):
            kinds["tun/tap"] += 1
    return kinds


def fact_grid() -> Table:
    """The details pane's two-column grid of facts: labels in bold cyan, values as given. It keeps the key
    of what it draws (`drawn_alike.FactGrid`): the pane lays it out again only when that changed."""
    grid = FactGrid.grid(padding=(0, 1))
    assert isinstance(grid, FactGrid)
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    return grid.made()


def fact_row(grid: Table, label: str, value: str | Text) -> None:
    """A grid row whose strings are shown as they are: Rich would read `[b]` in a device name as markup."""
    grid.add_row(plain(label, "bold cyan"), plain(value) if isinstance(value, str) else value)
