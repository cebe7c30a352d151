"""The demo snapshot with hostile names: markup-looking device names, escape sequences in comm and cmdline.

A device may be named anything but '/', ':' and whitespace (`[b]vq2`, `vntr{[b]}<`, or with ESC in it),
and any process may call itself `"\\x1b[31mEVIL"`. The UI must show each exactly, and drive no terminal.
"""

from __future__ import annotations

from dataclasses import replace

from vnettop.demo import QDHCP, ROOT, demo_snapshot
from vnettop.model import CollectError, Link, LinkRef, Snapshot

#: (netns, ifindex) -> hostile name.
RENAMES: dict[tuple[int, int], str] = {
    (ROOT, 6): "[b]vq2",           # tap0, held by qemu (VM P2)
    (ROOT, 5): "vntr{[b]}<",        # br0
    (ROOT, 7): "e\x1b[31mvil",      # tun0
    (ROOT, 12): "d$;'*x",           # docker0: shell-special but legal
}
TAP = (ROOT, 6)
BRIDGE = (ROOT, 5)
ESC_DEV = (ROOT, 7)
SHELLY = (ROOT, 12)
EVIL_COMM = "\x1b[31mEVIL"
MARKUP_COMM = "[red]ngx"
NS_NAME = "[i]ns\x1b]0;t\x07"
ERROR_MESSAGE = "[b]cannot\x1b[2J read"
#: A container's name and image are whatever its user chose.
OWNER_NAME = "[b]db\x1b[2J"
OWNER_IMAGE = "[red]img\x1b]0;t\x07"

#: What each hostile string must look like on screen.
SHOWN = {
    "tap": "[b]vq2",
    "bridge": "vntr{[b]}<",
    "esc_dev": "e\\x1b[31mvil",
    "evil_comm": "\\x1b[31mEVIL",
    "markup_comm": "[red]ngx",
    "ns": "[i]ns\\x1b]0;t\\x07",
    "owner": "[b]db\\x1b[2J (container)",
    "owner_image": "[red]img\\x1b]0;t\\x07",
}


def _ref(ref: LinkRef | None) -> LinkRef | None:
    if ref is None or (ref.netns, ref.ifindex) not in RENAMES:
        return ref
    return replace(ref, name=RENAMES[(ref.netns, ref.ifindex)])


def _link(link: Link) -> Link:
    return replace(link, name=RENAMES.get(link.key, link.name), peer=_ref(link.peer), master=_ref(link.master),
                   lower=_ref(link.lower))


def hostile_snapshot() -> Snapshot:
    snap = demo_snapshot()
    namespaces = []
    for ns in snap.namespaces:
        procs = []
        for proc in ns.processes:
            if proc.comm == "openvpn":
                proc = replace(proc, comm=EVIL_COMM, cmdline=f"{EVIL_COMM} --config \x1b]0;pwned\x07")
            elif proc.comm == "nginx":
                proc = replace(proc, comm=MARKUP_COMM, cmdline="[red]ngx -g [b]daemon")
            procs.append(proc)
        names = (NS_NAME,) if ns.inode == QDHCP else ns.names
        namespaces.append(replace(ns, names=names, processes=tuple(procs)))
    links = tuple(_link(link) for link in snap.links)
    errors = (*snap.errors, CollectError("netns 4026532999", ERROR_MESSAGE))
    owners = tuple(replace(o, name=OWNER_NAME, details=(("image", OWNER_IMAGE),)) if o.kind == "container" else o
                   for o in snap.owners or ())
    return replace(snap, links=links, namespaces=tuple(namespaces), errors=errors, owners=owners)
