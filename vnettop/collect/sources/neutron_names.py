"""OpenStack Neutron's naming: which port, network or router a device or namespace is for, by its name.

Neutron's agents name what they make after the uuid of the Neutron object (neutron/agent/linux):
- devices: a 3-character prefix + the first 11 characters of the port uuid (`tap1ec9dbb7-e7`: IFNAMSIZ
  leaves 15), for the VM's tap (`tap`), the hybrid-plug veth pair and bridge (`qvo`, `qvb`, `qbr`), a
  router's internal, gateway, HA and DVR-SNAT ports (`qr-`, `qg-`, `ha-`, `sg-`), the DHCP port inside
  its namespace (`ns-`), and Octavia's health-manager port (`o-hm`, 4 characters); the Linux-bridge
  agent's bridge is `brq` + the *network* uuid's first 11 characters;
- namespaces: `qdhcp-<network uuid>`, `qrouter-<router uuid>`, `snat-<router uuid>` (DVR),
  `fip-<external network uuid>` (DVR) and `ovnmeta-<network uuid>` (OVN's metadata agent).

Every answer is a name pattern, so `exact` is False and `source` is "name pattern": a device someone
else called `tapdeadbeef-00` would be claimed too. An exact source (OVSDB's `external_ids:iface-id`) wins
over these when it names the same object (`enrich.merge_owners`). A port's `parent` is the router or
network whose namespace holds it; a `brq` bridge joins the network its namespace names in full. Reads
nothing but the base picture: `root` is kept for the seam's sake (every source takes one) and never
opened.
"""

from __future__ import annotations

import re

from vnettop.collect.sources import Enrichment
from vnettop.model import LinkKey, Owner, Snapshot

NAME = "neutron_names"
PATTERN = "name pattern"
_PREFIX_ID = r"([0-9a-f]{8}-[0-9a-f]{2})"
_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
#: Device name -> (role, kind of the object whose uuid prefix it carries).
DEVICE = re.compile(rf"^(tap|qvo|qvb|qbr|qr-|qg-|ha-|sg-|ns-|o-hm|brq){_PREFIX_ID}$")
ROLES = {"tap": "tap", "qvo": "hybrid veth (OVS side)", "qvb": "hybrid veth (bridge side)",
         "qbr": "hybrid bridge", "qr-": "router interface", "qg-": "router gateway", "ha-": "router HA port",
         "sg-": "DVR SNAT port", "ns-": "DHCP port", "o-hm": "Octavia health manager port",
         "brq": "network bridge"}
NAMESPACE = re.compile(rf"^(qdhcp|qrouter|snat|fip|ovnmeta)-{_UUID}$")
NS_KIND = {"qdhcp": "neutron-network", "qrouter": "neutron-router", "snat": "neutron-router",
           "fip": "neutron-network", "ovnmeta": "neutron-network"}
NS_ROLE = {"qdhcp": "DHCP namespace", "qrouter": "router namespace", "snat": "DVR SNAT namespace",
           "fip": "DVR floating IP namespace (external network)", "ovnmeta": "OVN metadata namespace"}
#: The names the patterns can match start so: most names of a host are skipped by one `startswith`
#: (this source reads the whole picture again on every change of structure; at 1000 namespaces the
#: patterns over every name took ~1.5 ms of it).
_DEVICE_STARTS = tuple(ROLES)
_NAMESPACE_STARTS = tuple(f"{kind}-" for kind in NS_KIND)


class NeutronNames:
    """The `neutron_names` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def available(self) -> bool:
        return True  # it only reads names already in the picture

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass

    def read(self, base: Snapshot) -> Enrichment:
        found: dict[tuple[str, str], dict[str, set[object]]] = {}

        def note(kind: str, ident: str, what: str, value: object, role: str) -> None:
            entry = found.setdefault((kind, ident), {"links": set(), "namespaces": set(), "roles": set()})
            entry[what].add(value)
            entry["roles"].add(role)

        ns_owner: dict[int, tuple[str, str]] = {}
        for ns in base.namespaces:
            for ns_name in ns.names:
                m = NAMESPACE.match(ns_name) if ns_name.startswith(_NAMESPACE_STARTS) else None
                if m:
                    kind = NS_KIND[m.group(1)]
                    note(kind, m.group(2), "namespaces", ns.inode, NS_ROLE[m.group(1)])
                    ns_owner.setdefault(ns.inode, (kind, m.group(2)))
        port_home: dict[str, set[int]] = {}
        for link in base.links:
            name = link.name
            m = DEVICE.match(name) if name.startswith(_DEVICE_STARTS) else None
            if not m:
                continue
            prefix, ident = m.groups()
            kind = "neutron-network" if prefix == "brq" else "neutron-port"
            note(kind, ident, "links", link.key, ROLES[prefix])
            if kind == "neutron-port":
                port_home.setdefault(ident, set()).add(link.netns)

        # A Linux-bridge `brq` names its network by prefix; the network's namespace by full uuid: one
        # network, under its full uuid.
        full = [key for key in found if key[0] == "neutron-network" and len(key[1]) > 11]
        for key in [k for k in found if k[0] == "neutron-network" and len(k[1]) == 11]:
            whole = [f for f in full if f[1].startswith(key[1])]
            if len(whole) == 1:
                for what, values in found.pop(key).items():
                    found[whole[0]][what] |= values
        roots = {ns.inode for ns in base.namespaces if ns.root}
        keys = sorted(found)
        owners: list[Owner] = []
        index = {key: i for i, key in enumerate(keys)}
        for kind, ident in keys:
            entry = found[(kind, ident)]
            parent = None
            homes = port_home.get(ident, set()) if kind == "neutron-port" else set()
            owned = {ns_owner[h] for h in homes - roots if h in ns_owner}
            if len(owned) == 1:  # the router or network whose namespace holds the port
                parent = index.get(owned.pop())
            links: list[LinkKey] = sorted(entry["links"])  # type: ignore[arg-type]
            inodes: list[int] = sorted(entry["namespaces"])  # type: ignore[arg-type]
            details = (("role", ", ".join(sorted(str(r) for r in entry["roles"]))),)
            owners.append(Owner(kind=kind, name=ident, id=ident, runtime="neutron", source=PATTERN,
                                exact=False, details=details, links=tuple(links), namespaces=tuple(inodes),
                                parent=parent))
        return Enrichment(owners=tuple(owners))
