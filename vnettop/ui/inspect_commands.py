"""The `ip` / `bridge` / `ss` commands that show the same facts as the details pane (pure).

Operators trust iproute2; showing its commands beside each object lets them check vnettop's answer and
learn the incantation. A namespace without a name is entered with `nsenter -t PID -n`.

Device and namespace names may hold `$`, `;`, `'`, `*`, `|`... (the kernel forbids only '/', ':' and
whitespace), so every name is shell-quoted: a copied command must not run something else.
"""

from __future__ import annotations

from shlex import quote as q

from rich.cells import cell_len

from vnettop.model import Link, Namespace, Process, Snapshot
from vnettop.ui.targets import Target, resolve


def ns_prefix(snap: Snapshot, inode: int, tool: str) -> str:
    """`ip`, `ip -n NAME`, or `nsenter -t PID -n ip` for the namespace `inode`."""
    ns = snap.namespace(inode)
    if ns is None or ns.root:
        return tool
    if ns.names:
        if tool in ("ip", "bridge"):
            return f"{tool} -n {q(ns.names[0])}"
        return f"ip netns exec {q(ns.names[0])} {tool}"
    if ns.pids:
        return f"nsenter -t {ns.pids[0]} -n {tool}"
    return tool


def link_commands(snap: Snapshot, link: Link) -> list[str]:
    ip = ns_prefix(snap, link.netns, "ip")
    bridge = ns_prefix(snap, link.netns, "bridge")
    name = q(link.name)
    out = [f"{ip} -d link show {name}", f"{ip} -s link show {name}", f"{ip} addr show dev {name}"]
    if link.bridge is not None:
        out += [f"{ip} link show master {name}", f"{bridge} fdb show br {name}"]
    if link.master is not None:
        out.append(f"{bridge} link show dev {name}")
    if link.peer is not None and link.peer.name is not None:
        out.append(f"{ns_prefix(snap, link.peer.netns, 'ip')} -d link show {q(link.peer.name)}")
        out.append(f"{ns_prefix(snap, link.netns, 'ethtool')} -S {name}   # peer_ifindex")
    if link.lower is not None and link.lower.name is not None:
        out.append(f"{ns_prefix(snap, link.lower.netns, 'ip')} -d link show {q(link.lower.name)}")
    if link.tun is not None:
        out.append(f"{ip} -d tuntap show")
        for holder in link.tun.known_holders:
            for fd in holder.fds:
                out.append(f"cat /proc/{holder.pid}/fdinfo/{fd}   # iff: {name}")
            if holder.vhost_fds:
                fds = ",".join(map(str, holder.vhost_fds))
                fds = f"{{{fds}}}" if len(holder.vhost_fds) > 1 else fds
                out.append(f"ls -l /proc/{holder.pid}/fd/{fds}   # /dev/vhost-net")
    return out


def ns_commands(snap: Snapshot, ns: Namespace) -> list[str]:
    ip = ns_prefix(snap, ns.inode, "ip")
    ss = ns_prefix(snap, ns.inode, "ss")
    out = [f"{ip} -d link show", f"{ip} addr show"]
    if ns.names:
        out.append(f"ip netns pids {q(ns.names[0])}")
    elif ns.pids:
        out.append(f"lsns -t net -p {ns.pids[0]}")
    out.append(f"{ss} -lntup")
    return out


def proc_commands(snap: Snapshot, netns: int, proc: Process) -> list[str]:
    return [f"ps -o pid,user,args -p {proc.pid}", f"ls -l /proc/{proc.pid}/fd",
            f"ip netns identify {proc.pid}", f"{ns_prefix(snap, netns, 'ss')} -lntup"]


def commands_for(snap: Snapshot, target: Target) -> list[str]:
    """The inspection commands for whatever the target is ([] if it is gone)."""
    obj = resolve(snap, target)
    if isinstance(obj, Link):
        return link_commands(snap, obj)
    if isinstance(obj, Namespace):
        return ns_commands(snap, obj)
    if isinstance(obj, Process):
        return proc_commands(snap, target.netns, obj)
    return []


def wrap_command(command: str, width: int, indent: str = "  ", hanging: str = "      ") -> list[str]:
    """One command as lines of at most `width` cells: it starts its own line (`indent`), breaks only
    between words, and its continuation lines are indented deeper (`hanging`) so they cannot be read as
    commands of their own. Only a single word wider than a whole line is cut (nothing else fits)."""
    lines: list[str] = []
    line = indent
    for word in _words(command):
        if line.strip() and cell_len(line) + 1 + cell_len(word) > width:
            lines.append(line)
            line = hanging
        if line.strip():
            line += " "
        room = max(1, width - cell_len(line))
        while cell_len(word) > room and not line.strip():
            cut = _cut(word, room)
            lines.append(line + word[:cut])
            word = word[cut:]
            line = hanging
            room = max(1, width - cell_len(line))
        line += word
    lines.append(line)
    return lines


def _words(command: str) -> list[str]:
    """The command's words; a comment marker stays with the word after it (`# peer_ifindex`)."""
    words: list[str] = []
    for word in command.split(" "):
        if not word:
            continue
        if words and words[-1] == "#":
            words[-1] += " " + word
        else:
            words.append(word)
    return words


def _cut(word: str, room: int) -> int:
    """How many characters of `word` fit in `room` cells (at least one)."""
    used = 0
    for i, char in enumerate(word):
        used += cell_len(char)
        if used > room:
            return max(1, i)
    return len(word)
