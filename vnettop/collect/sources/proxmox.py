"""Proxmox VE guests: which VM or container a `tap100i0`, `veth101i0` or firewall device is for.

Proxmox names every device it makes after the guest's numeric VMID and the guest's `netN` index
(pve-network, PVE/Network.pm): a VM's tap `tap<vmid>i<n>`, a container's host veth end `veth<vmid>i<n>`,
and, when the guest's firewall is on, the per-NIC firewall bridge `fwbr<vmid>i<n>` with its veth pair
`fwpr<vmid>p<n>` (on the main bridge) / `fwln<vmid>i<n>` (on the firewall bridge), or `fwln<vmid>o<n>`
(the OVS internal port). The guest's configuration (pmxcfs, the cluster file system mounted at
/etc/pve; `qemu-server` and `lxc` there are this node's own) says what the guest is called and which
`netN` it has: `/etc/pve/qemu-server/<vmid>.conf` (`name: web-1`, `net0: virtio=BC:24:11:..,bridge=vmbr0,
firewall=1,tag=10`) and `/etc/pve/lxc/<vmid>.conf` (`hostname: ct-1`, `net0: name=eth0,bridge=vmbr0,
hwaddr=BC:24:11:..,type=veth`), `key: value` lines up to the first `[snapshot]` or `[PENDING]`
section (those describe other states of the guest, not the running one).

A device whose guest's configuration exists and names its `netN` belongs to that guest exactly
(`source` the configuration file). One named only by pattern (no configuration, or not that `netN`)
still gets an owner, inexact (`source: "name pattern"`), so a guest whose configuration cannot be
read is still shown as "VMID 100". A container's host veth end brings its peer (the container's
`eth0`) and that peer's namespace; a tap brings the processes holding it (the guest's qemu).

A configuration that cannot be read costs that guest's exact owner and one error naming the file; its
devices fall back to the name pattern. An inotify watch on the two directories is the `fileno`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vnettop.collect.sources import Enrichment, scope
from vnettop.linux.inotify import LazyDirWatch
from vnettop.model import CollectError, Link, Owner, Snapshot

NAME = "proxmox"
PATTERN = "name pattern"
#: Directory (under /etc/pve) -> the kind of guest its configurations describe.
DIRS = (("qemu-server", "vm"), ("lxc", "container"))
#: A guest configuration is a few kB; snapshots' sections can make it longer, not this long.
MAX_BYTES = 1 << 20
#: Device name -> (role, VMID, netN). VMIDs are 100 and up (9 digits at most).
DEVICE = re.compile(r"^(tap|veth|fwbr|fwln)([1-9][0-9]{2,8})i([0-9]+)$|^(fwpr)([1-9][0-9]{2,8})p([0-9]+)$"
                    r"|^(fwln)([1-9][0-9]{2,8})o([0-9]+)$")
ROLES = {"tap": "tap", "veth": "container veth (host end)", "fwbr": "firewall bridge",
         "fwln": "firewall veth (firewall bridge side)", "fwpr": "firewall veth (main bridge side)",
         "fwln-o": "firewall OVS internal port"}
#: qm.conf's NIC models: `net0: virtio=MAC,...` is the short form of `model=virtio,macaddr=MAC`.
MODELS = frozenset({"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b",
                    "i82559er", "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3"})
_STARTS = ("tap", "veth", "fw")
NET_KEY = re.compile(r"^net([0-9]+)$")


class BadConf(Exception):
    """A guest configuration this reader cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class Guest:
    """What one configuration file says."""

    vmid: int
    kind: str  # "vm" or "container"
    name: str | None
    nets: dict[int, dict[str, str]]  # netN -> its options


def parse_conf(text: str, vmid: int, kind: str) -> Guest:
    """A guest's current configuration (raises BadConf on a line that is not `key: value`)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):  # `#` lines are the guest's description
            continue
        if line.startswith("["):  # a snapshot or [PENDING]: not the running configuration
            break
        key, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[a-z][a-z0-9_-]*", key.strip()):
            raise BadConf(f"line {number} is not `key: value`")
        values[key.strip()] = value.strip()
    nets: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        m = NET_KEY.match(key)
        if m:
            opts: dict[str, str] = {}
            for item in value.split(","):
                k, eq, v = item.strip().partition("=")
                if kind == "vm" and k in MODELS:  # `virtio=BC:24:11:..`: the model, = its MAC
                    opts["model"] = k
                    if v:
                        opts["mac"] = v
                elif eq:
                    opts[k] = v
            if "macaddr" in opts:
                opts["mac"] = opts.pop("macaddr")
            if "hwaddr" in opts:
                opts["mac"] = opts.pop("hwaddr")
            nets[int(m.group(1))] = opts
    name = values.get("name" if kind == "vm" else "hostname") or None
    return Guest(vmid, kind, name, nets)


def device(name: str) -> tuple[str, int, int] | None:
    """(role, VMID, netN) of a Proxmox device name, or None."""
    m = DEVICE.match(name)
    if not m:
        return None
    g = m.groups()
    if g[0]:
        return g[0], int(g[1]), int(g[2])
    if g[3]:
        return g[3], int(g[4]), int(g[5])
    return "fwln-o", int(g[7]), int(g[8])


class ProxmoxSource:
    """The `proxmox` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self.pve = os.path.join(root, "etc/pve")
        self._watch = LazyDirWatch(lambda: [os.path.join(self.pve, d) for d, _kind in DIRS])

    def available(self) -> bool:
        return True  # the device names alone say something; the configurations make it exact

    def fileno(self) -> int | None:
        return self._watch.fileno()

    def close(self) -> None:
        self._watch.close()

    def _guest(self, vmid: int) -> tuple[Guest | None, str | None, str | None]:
        """(the guest, its file as shown, why it could not be used) for a VMID; (None, None, None): none."""
        for sub, kind in DIRS:
            shown = f"/etc/pve/{sub}/{vmid}.conf"
            path = os.path.join(self.pve, sub, f"{vmid}.conf")
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_BYTES + 1)
            except FileNotFoundError:
                continue
            except OSError as e:
                return None, shown, f"cannot read: {e.strerror or e}"
            if len(data) > MAX_BYTES:
                return None, shown, f"larger than {MAX_BYTES >> 20} MiB, not read"
            try:
                return parse_conf(data.decode("utf-8"), vmid, kind), shown, None
            except UnicodeDecodeError:
                return None, shown, "not UTF-8 text"
            except BadConf as e:
                return None, shown, str(e)
        return None, None, None

    def read(self, base: Snapshot) -> Enrichment:
        self._watch.drain()
        by_vmid: dict[int, list[tuple[str, int, Link]]] = {}
        for link in base.links:
            if not link.name.startswith(_STARTS):  # most devices: skipped before the pattern
                continue
            found = device(link.name)
            if found is not None:
                role, vmid, net = found
                by_vmid.setdefault(vmid, []).append((role, net, link))
        if not by_vmid:
            return Enrichment(owners=())
        pids_of = {pid for ns in base.namespaces for pid in ns.pids}
        owners: list[Owner] = []
        errors: list[CollectError] = []
        for vmid in sorted(by_vmid):
            devices = by_vmid[vmid]
            guest, shown, why = self._guest(vmid)
            if why is not None:
                errors.append(CollectError(scope(NAME), f"{shown}: {why}; guest {vmid} is shown by its "
                                           "device names only"))
            exact = [d for d in devices if guest is not None and d[1] in guest.nets]
            loose = [d for d in devices if guest is None or d[1] not in guest.nets]
            if guest is not None and exact:
                owners.append(_owner(base, vmid, guest.kind, guest, str(shown), exact, pids_of))
            if loose:
                roles = {role for role, _n, _l in devices}
                kind = (guest.kind if guest is not None else
                        "container" if "veth" in roles and "tap" not in roles else "vm")
                owners.append(_owner(base, vmid, kind, guest, PATTERN, loose, pids_of))
        return Enrichment(owners=tuple(owners), errors=tuple(errors))


def _owner(base: Snapshot, vmid: int, kind: str, guest: Guest | None, source: str,
           devices: list[tuple[str, int, Link]], pids_of: set[int]) -> Owner:
    """One guest's owner over `devices`: exact when `source` is its configuration (it names them all)."""
    exact = source != PATTERN
    links = set()
    namespaces = set()
    pids = set()
    for role, _net, link in devices:
        links.add(link.key)
        peer = base.link(*link.peer.key) if role == "veth" and link.peer is not None else None
        if peer is not None:
            links.add(peer.key)  # the container's own end, and its namespace
            ns = base.namespace(peer.netns)
            if ns is not None and not ns.root:
                namespaces.add(ns.inode)
        if link.tun is not None:
            pids |= {h.pid for h in link.tun.known_holders if h.pid in pids_of}
    details = {"vmid": str(vmid), "roles": ", ".join(sorted({ROLES[role] for role, _n, _l in devices}))}
    if guest is not None and exact:
        for net in sorted({net for _r, net, _l in devices}):
            details[f"net{net}"] = ",".join(f"{k}={v}" for k, v in sorted(guest.nets[net].items()))
    name = guest.name if guest is not None and guest.name else f"VMID {vmid}"
    return Owner(kind=kind, name=name, id=str(vmid), runtime=NAME, source=source, exact=exact,
                 details=tuple(sorted(details.items())), links=tuple(sorted(links)),
                 namespaces=tuple(sorted(namespaces)), pids=tuple(sorted(pids)))
