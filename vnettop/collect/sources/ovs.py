"""Open vSwitch: what OVSDB says about bridges, ports and interfaces, joined to the kernel picture.

Read over ovsdb-server's unix socket with a kept RFC 7047 `monitor` (`vnettop.ovsdb.monitor`): its
socket is this source's `fileno()`, so an unchanged OVSDB costs nothing, and `ovs-vsctl add-port` makes
the socket readable and shows within the refresh. The client never writes. When the server goes away
(killed, restarted, the socket removed) the next read gives the picture without OVS plus one error
naming the socket, and every later read tries to connect again, so a restarted server is picked up.
Every wait on the socket has a deadline (`TIMEOUT`): a hung server costs at most that, never a hang.

Counters: Interface `statistics` arrive on a monitor of their own every few seconds (ovs-vswitchd's
stats-update-interval) and make the socket readable too, but such a read does not join again: the
section keeps the very same `bridges` (and the part its owners and errors), only `statistics` is new,
and it takes no part in the section's equality (see `OvsSection`), as a Link's counters take none in
the picture's structure.

The socket: `--ovsdb PATH` (the `db` setting), else, reading the live host (root "/"), `VNETTOP_OVSDB` or
/run/openvswitch/db.sock; under any other root (a fixture tree) `<root>/run/openvswitch/db.sock`.

The join (`join`): which kernel device IS an OVS interface. Patch, tunnel and DPDK interfaces have none
(their `link` is None, no error). For the others, every device of the interface's name, in any
namespace, is a candidate (an internal port moved into a namespace keeps its name), and the candidates
are narrowed by these rules in turn, each applied only when it leaves at least one:
1. held by ovs-vswitchd (the kernel picture's tun holders): the userspace datapath's internal ports and
   local ports are taps it holds open, and the fd was matched to the device by asking the kernel about
   the fd itself: proof, wherever the device has been moved since;
2. its MAC is OVSDB's `mac_in_use`: ovs-vswitchd read that MAC from the device it opened, and a
   same-name device made elsewhere has its own (random or chosen) MAC;
3. its ifindex is OVSDB's `ifindex` and it lives in the root namespace (where ovs-vswitchd runs and
   reads ifindexes): ifindexes repeat across namespaces, so this only counts in ovs-vswitchd's own;
4. it lives in the root namespace (where OVS makes and finds devices when nothing else tells).
Holding an fd wins because it is the kernel's own answer about the very device; a MAC can be copied
and an ifindex reused, and a namespace only says where OVS would look first. One candidate left: that
is the device, except a device outside the root namespace that neither rule 1 nor rule 2 vouches for
(OVS finds devices in its own namespace; one elsewhere is the interface only if moved there, and then
the held fd or the MAC shows it). None at all: `link` is None and an error names the interface; several
left (two devices alike in every way that counts): `link` is None and an error says it is ambiguous
rather than guess.

The datapath's own devices (`ovs-system`, `ovs-netdev`, the kernel datapath's `vxlan_sys_4789`-like
tunnel vports) are listed as such in the section, so views explain them instead of showing noise.

Owners: `external_ids` of an Interface (iface-id, attached-mac, vm-uuid / vm-id, iface-status,
ovn-installed) and its Port's `other_config` (net_uuid, segmentation_id) name the Neutron port, the VM
and the network EXACTLY (`source: "ovsdb external_ids"`); they merge with the name-pattern owners of
`neutron_names` (`enrich.merge_owners`: the exact one wins, the other is named in `details.also`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vnettop.collect.sources import Enrichment, scope
from vnettop.model import (
    CollectError,
    Link,
    LinkKey,
    OvsBridgeEntry,
    OvsDatapathDevice,
    OvsIfaceEntry,
    OvsPeer,
    OvsPortEntry,
    OvsSection,
    Owner,
    Snapshot,
)
from vnettop.ovsdb.jsonrpc import OvsdbError, default_socket

if TYPE_CHECKING:
    from vnettop.ovsdb.monitor import Monitor
    from vnettop.ovsdb.view import OvsInterface, OvsView

NAME = "ovs"
OWNER_SOURCE = "ovsdb external_ids"
#: Longest one OVSDB exchange may take before the source gives up on it (connect, schema, monitor).
TIMEOUT = 1.0
#: Interface types that ARE a kernel device: an existing one added ("", "system"), or one OVS makes.
KERNEL_TYPES = frozenset({"", "system", "internal", "tap"})
#: Kernel devices the OVS datapath makes for itself, by name: what each one is.
_DATAPATH = (
    (re.compile(r"^ovs-system$"), "the kernel datapath (openvswitch module): every port's master"),
    (re.compile(r"^ovs-netdev$"), "the userspace (netdev) datapath's own tap, held by ovs-vswitchd"),
    (re.compile(r"^(vxlan_sys|genev_sys|stt_sys)_\d+$"),
     "the kernel datapath's tunnel vport (one per UDP port)"),
    (re.compile(r"^(gre_sys|erspan_sys|ip6gre_sys|ip6erspan_sys)$"), "the kernel datapath's tunnel vport"),
)


def _vswitchd_holds(link: Link) -> bool:
    return link.tun is not None and any(h.comm.startswith("ovs-vswitchd") for h in link.tun.known_holders)


def _pick(iface: OvsInterface, candidates: list[Link], root: int | None) -> list[Link]:
    """The candidates left by the module docstring's rules, in order."""
    mac = (iface.mac_in_use or "").lower()
    rules = (
        _vswitchd_holds,
        lambda link: bool(mac) and (link.mac or "").lower() == mac,
        lambda link: iface.ifindex is not None and link.netns == root and link.ifindex == iface.ifindex,
        lambda link: link.netns == root,
    )
    left = candidates
    for rule in rules:
        if len(left) <= 1:
            break
        narrowed = [link for link in left if rule(link)]
        if narrowed:
            left = narrowed
    if len(left) == 1 and left[0].netns != root and not (rules[0](left[0]) or rules[1](left[0])):
        return []  # elsewhere, and nothing proves it was moved there: a same-name stranger
    return left


def _peers(view: OvsView) -> dict[str, tuple[str, str, str]]:
    """Interface name -> (bridge, port, interface) for every patch interface."""
    out = {}
    for bridge in view.bridges:
        for port in bridge.ports:
            for iface in port.interfaces:
                if iface.type == "patch":
                    out[iface.name] = (bridge.name, port.name, iface.name)
    return out


def join(view: OvsView, base: Snapshot) -> tuple[OvsSection, tuple[Owner, ...], tuple[CollectError, ...]]:
    """The `ovs` section, the owners OVSDB names and the join's errors (see the module docstring)."""
    root_ns = base.root
    root = root_ns.inode if root_ns is not None else None
    by_name: dict[str, list[Link]] = {}
    for link in base.links:
        by_name.setdefault(link.name, []).append(link)
    patch = _peers(view)
    errors: list[CollectError] = []
    owner_parts = _OwnerParts()
    bridges = []
    for bridge in view.bridges:
        ports = []
        for port in bridge.ports:
            ifaces = []
            for iface in port.interfaces:
                link_ref = None
                if iface.type in KERNEL_TYPES:
                    left = _pick(iface, by_name.get(iface.name, []), root)
                    if len(left) == 1:
                        link_ref = left[0].ref
                    elif not left:
                        errors.append(CollectError(scope(NAME), f"OVS interface {iface.name} (bridge "
                                                   f"{bridge.name}): no kernel device of that name (none "
                                                   "in the root namespace, none proven moved elsewhere)"))
                    else:
                        where = ", ".join(base.ns_label(link.netns) for link in left)
                        errors.append(CollectError(scope(NAME), f"OVS interface {iface.name} (bridge "
                                                   f"{bridge.name}): {len(left)} kernel devices match "
                                                   f"equally ({where}); none is shown as it"))
                peer = None
                if iface.type == "patch":
                    other = patch.get(iface.option("peer") or "")
                    peer = OvsPeer(*other) if other is not None else None
                entry = OvsIfaceEntry(name=iface.name, uuid=iface.uuid, type=iface.type, ofport=iface.ofport,
                                      admin_state=iface.admin_state, link_state=iface.link_state,
                                      mac_in_use=iface.mac_in_use, options=iface.options,
                                      external_ids=iface.external_ids, link=link_ref, peer=peer)
                ifaces.append(entry)
                owner_parts.add(bridge.name, port.name, entry, dict(port.other_config))
            ports.append(OvsPortEntry(name=port.name, uuid=port.uuid, tag=port.tag, trunks=port.trunks,
                                      interfaces=tuple(ifaces), external_ids=port.external_ids,
                                      other_config=port.other_config))
        bridges.append(OvsBridgeEntry(name=bridge.name, uuid=bridge.uuid, datapath_type=bridge.datapath_type,
                                      fail_mode=bridge.fail_mode, ports=tuple(ports),
                                      external_ids=bridge.external_ids))
    devices = datapath_devices(base.links)
    for dev in devices:
        device = base.link(*dev.link.key)
        tun = device.tun if device is not None else None
        if dev.link.name == "ovs-netdev" and tun is not None and tun.unheld:
            # The userspace datapath's tap outlives ovs-vswitchd: held by nobody, the switch is not running,
            # and OVSDB's states (ofport, link_state) are only what it last wrote.
            errors.append(CollectError(scope(NAME), "ovs-vswitchd is not running (ovs-netdev is held by no "
                                       "process): OVSDB's ofport and link states are what it last wrote"))
    section = OvsSection(db=view.db, ovs_version=view.ovs_version, system_id=view.system_id,
                         bridges=tuple(bridges), datapath_devices=devices)
    return section, owner_parts.owners(), tuple(errors)


def datapath_devices(links: Iterable[Link]) -> tuple[OvsDatapathDevice, ...]:
    """The kernel devices that are the OVS datapath's own (module docstring), by key."""
    out = []
    for link in links:
        if not (link.name.startswith("ovs-") or "_sys" in link.name):
            continue  # most devices: no regex at all
        for pattern, role in _DATAPATH:
            if pattern.match(link.name):
                out.append(OvsDatapathDevice(link.ref, role))
                break
    return tuple(sorted(out, key=lambda d: d.link.key))


@dataclass
class _Named:
    """One owner being gathered: the devices it is seen on, its details, its parent's id."""

    links: set[LinkKey] = field(default_factory=set)
    details: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    ovn: bool = False


class _OwnerParts:
    """The owners OVSDB names exactly: Neutron ports, their VMs and networks (module docstring)."""

    def __init__(self) -> None:
        self.ports: dict[str, _Named] = {}
        self.vms: dict[str, _Named] = {}
        self.networks: dict[str, _Named] = {}

    def add(self, bridge: str, port: str, iface: OvsIfaceEntry, port_config: dict[str, str]) -> None:
        ids = dict(iface.external_ids)
        keys: set[LinkKey] = {iface.link.key} if iface.link is not None else set()
        vm = ids.get("vm-uuid") or ids.get("vm-id")
        net = port_config.get("net_uuid")
        if vm:
            self.vms.setdefault(vm, _Named()).links.update(keys)
        if net:
            network = self.networks.setdefault(net, _Named())
            network.links.update(keys)
            if port_config.get("segmentation_id"):
                network.details["segmentation_id"] = port_config["segmentation_id"]
        iface_id = ids.get("iface-id")
        if not iface_id:
            return
        details = {"ovs_bridge": bridge, "ovs_port": port}
        for key in ("attached-mac", "iface-status", "ovn-installed"):
            if key in ids:
                details[key] = ids[key]
        for key in ("net_uuid", "segmentation_id"):
            if key in port_config:
                details[key] = port_config[key]
        if vm:
            details["vm"] = vm
        self.ports[iface_id] = _Named(keys, details, vm or net, "ovn-installed" in ids)

    def owners(self) -> tuple[Owner, ...]:
        """Sorted as the section is (kind, name, id); a port's parent is its VM, else its network."""
        gathered = [("vm", ident, "nova", named) for ident, named in self.vms.items()]
        gathered += [("neutron-network", ident, "neutron", named) for ident, named in self.networks.items()]
        gathered += [("neutron-port", ident, "ovn" if named.ovn else "neutron", named)
                     for ident, named in self.ports.items()]
        gathered.sort(key=lambda g: (g[0], g[1]))
        index = {(kind, ident): i for i, (kind, ident, _r, _n) in enumerate(gathered)}
        out = []
        for kind, ident, runtime, named in gathered:
            parent = None
            if named.parent is not None:
                parent = index.get(("vm", named.parent), index.get(("neutron-network", named.parent)))
            details = tuple(sorted(named.details.items()))
            out.append(Owner(kind, ident, ident, runtime, OWNER_SOURCE, True, details,
                             tuple(sorted(named.links)), (), (), parent))
        return tuple(out)


class OvsSource:
    """The `ovs` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/", db: str | None = None) -> None:
        self.root = root
        #: Given by the user (`--ovsdb`, `VNETTOP_OVSDB`): asked even when the socket is missing, so the
        #: error says so, instead of a silent picture without OVS.
        self.explicit = db is not None or (root == "/" and bool(os.environ.get("VNETTOP_OVSDB")))
        if db is None:
            db = default_socket() if root == "/" else os.path.join(root, "run/openvswitch/db.sock")
        self.db = db
        self._mon: Monitor | None = None
        self._connected_once = False
        self._last: tuple[OvsView, tuple[object, ...], Enrichment] | None = None

    def available(self) -> bool:
        # Once connected, a vanished socket is reported (one error naming it), not silently dropped.
        return self.explicit or self._connected_once or os.path.exists(self.db)

    def fileno(self) -> int | None:
        if self._mon is None:
            return None
        try:
            return self._mon.fileno()
        except OvsdbError:
            return None

    def close(self) -> None:
        if self._mon is not None:
            self._mon.close()
            self._mon = None

    def _error(self, message: str) -> Enrichment:
        return Enrichment(errors=(CollectError(scope(NAME), message),))

    def read(self, base: Snapshot) -> Enrichment:
        view = None
        if self._mon is not None:
            try:
                self._mon.poll()
                view = self._mon.view()
            except OvsdbError:
                self.close()  # lost: connect again below (a restarted server is picked up at once)
        if view is None:
            from vnettop.ovsdb.monitor import Monitor  # only with a server to ask (~3 ms to import)

            try:
                self._mon = Monitor(self.db, TIMEOUT)
                view = self._mon.view()
            except OvsdbError as e:
                self.close()
                self._last = None
                return self._error(f"OVSDB not read, Open vSwitch not shown: {e}")
            self._connected_once = True
        stats = self._mon.statistics() if self._mon is not None else None
        shape = (base.root.inode if base.root else None,
                 tuple((link.key, link.name, link.mac, link.tun) for link in base.links))
        if self._last is not None and self._last[0] is view and self._last[1] == shape:
            part = self._last[2]
            if part.ovs is None or part.ovs.statistics is stats:
                return part
            # Counters only: the same bridges, owners and errors (objects), new statistics beside them.
            part = replace(part, ovs=replace(part.ovs, statistics=stats))
            self._last = (view, shape, part)
            return part
        section, owners, errors = join(view, base)
        part = Enrichment(owners=owners, errors=errors, ovs=replace(section, statistics=stats))
        self._last = (view, shape, part)
        return part
