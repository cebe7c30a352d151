"""The Snapshot: one immutable picture of the host's virtual networking.

Everything vnettop shows, dumps or acts on is read from a `Snapshot`. It is plain data (frozen,
slotted dataclasses, stdlib only) so that the collector, the renderers, the UI and the tests can share
it without sharing any I/O. Cross-namespace references are keys (`(netns inode, ifindex)`), never object
pointers: ifindexes are only unique inside one namespace, and a snapshot must survive a JSON round trip.

Equality ignores the moment and the cost of the collection (`taken_at`, `duration_ms`), so two
snapshots of an unchanged system compare equal except for their counters and the UI can skip redraws.

Beside the kernel picture (namespaces, links, processes), a Snapshot carries optional *sections*: what
other sources on the host say about it (`owners`; OVSDB's `ovs`). A section points at kernel
objects only by key (`LinkKey`, namespace inode, pid) and never copies or changes them, so
`snap.kernel_picture()` (the snapshot with every section dropped) is exactly what the kernel readers
built. `SECTIONS` names them all; code that must treat every section alike (equality for redraws, the
JSON writer's order) goes through it, so a new section is one field plus one name there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from vnettop import names

#: Key of a device anywhere on the host: (nsfs inode of its namespace, its ifindex there).
LinkKey = tuple[int, int]

#: How a namespace that could not be identified is named (a `LinkRef` with netns 0).
UNKNOWN_NS = "a namespace vnettop cannot read"


@dataclass(frozen=True, slots=True)
class LinkRef:
    """A pointer to a device, possibly in another namespace.

    `name` is None when the device's namespace could not be read; the reason is then in
    `Snapshot.errors`. `netns` is 0 when even the namespace could not be identified (an nsid that
    matches no namespace vnettop found): `Snapshot.ns_label(0)` says so.
    """

    netns: int
    ifindex: int
    name: str | None

    @property
    def key(self) -> LinkKey:
        return (self.netns, self.ifindex)


@dataclass(frozen=True, slots=True)
class Listening:
    """A socket a process listens on (tcp) or is bound to (udp), as read in its namespace."""

    proto: str  # "tcp", "udp", "tcp6", "udp6"
    address: str
    port: int

    @property
    def endpoint(self) -> str:
        """`address:port`, with an IPv6 address in brackets as `ss` writes it (`[fe80::1]:53`)."""
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Process:
    """A process worth showing: it holds a tun/tap fd or listens on a socket (or both)."""

    pid: int
    comm: str
    cmdline: str
    user: str | None
    listening: tuple[Listening, ...] = ()


@dataclass(frozen=True, slots=True)
class NsFd:
    """An open fd a process holds on a namespace's nsfs file (`/proc/PID/fd/N -> net:[INODE]`, as `lsfd`
    shows it). Such an fd keeps the namespace alive with no name and no process inside."""

    pid: int
    fd: int

    @property
    def label(self) -> str:
        return f"fd {self.fd} of pid {self.pid}"


@dataclass(frozen=True, slots=True)
class Namespace:
    """A network namespace, identified by its nsfs inode (names are only aliases).

    What keeps it alive, each a way vnettop found it: a name (`names`: a bind mount in /run/netns or
    /run/docker/netns), another bind mount of its nsfs file anywhere else (`mounts`: rootless Podman's
    /run/user/UID/netns/..., any tool's own), a process inside it (`pids`), or only a process's open fd on
    it (`fds`). One namespace found several ways is one record listing them all.

    `readable` is False when vnettop could not enter it (no root, say): its devices are then unknown,
    not absent (`links_in` is empty only for that reason), and `unreadable_reason` says why in a few
    words ("permission denied").
    """

    inode: int
    names: tuple[str, ...]  # /run/netns and /run/docker/netns names, sorted; () if none
    root: bool  # the namespace vnettop itself runs in
    pids: tuple[int, ...]  # every process whose /proc/PID/ns/net is this namespace, sorted
    processes: tuple[Process, ...] = ()  # the interesting ones (tun holders, listeners), by pid
    readable: bool = True
    unreadable_reason: str | None = None
    #: nsfs bind mounts of it outside /run/netns and /run/docker/netns (vnettop's mount table), sorted.
    mounts: tuple[str, ...] = ()
    #: Processes holding an fd on it (not counting vnettop itself), by (pid, fd).
    fds: tuple[NsFd, ...] = ()
    #: False when some processes' namespaces could not be read (not root): `pids` (and `fds`) are those
    #: seen, and there may be more.
    pids_complete: bool = True

    @property
    def label(self) -> str:
        """What a human calls this namespace: "root", its first name, its mount path, "pid N" or
        "fd N of pid P" (what keeps it alive, most lasting first)."""
        if self.root:
            return "root"
        if self.names:
            return self.names[0]
        if self.mounts:
            return self.mounts[0]
        if self.pids:
            return f"pid {self.pids[0]}"
        if self.fds:
            return self.fds[0].label
        return f"net:[{self.inode}]"


@dataclass(frozen=True, slots=True)
class Stats:
    """The 64-bit counters of a device (IFLA_STATS64)."""

    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """One entry of a bridge's forwarding table."""

    mac: str
    port: int | None  # ifindex of the port (same namespace as the bridge)
    state: str  # "learned", "static", "permanent" (or "nud:N" for anything else)
    vlan: int | None = None


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """What a bridge device knows of itself."""

    stp: bool
    vlan_filtering: bool
    ports: tuple[int, ...]  # ifindexes of its ports, sorted
    fdb: tuple[FdbEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class BridgePort:
    """What a bridge knows of one of its ports (IFLA_BRPORT_*)."""

    state: str  # "disabled", "listening", "learning", "forwarding", "blocking"
    cost: int
    priority: int


@dataclass(frozen=True, slots=True)
class TunHolder:
    """A process holding a tun/tap device through fds on /dev/net/tun.

    `exact` is True when the fd was matched to the device by asking the kernel about the fd itself
    (pidfd_getfd + TUNGETIFF + TUNGETDEVNETNS); False when it was matched by name only
    (`iff:` in fdinfo), which is ambiguous if two namespaces have a device of that name.
    """

    pid: int
    comm: str
    fds: tuple[int, ...]
    exact: bool = True
    #: The process's fds on /dev/vhost-net (qemu `vhost=on`): per process, since the kernel does not
    #: say which tap a vhost fd serves.
    vhost_fds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TunInfo:
    """tun/tap specifics (IFLA_TUN_*) and who holds the device.

    Who holds it is only known when every process's fds could be read (root). Three cases:
    - `holders` is a tuple and `holders_complete` is True: every process was checked; `()` means
      nobody holds the device.
    - `holders` is None: not every process could be checked (others' /proc/PID/fd is EACCES without
      root) and none of those checked holds it: unknown, never "not held".
    - `holders` is a non-empty tuple and `holders_complete` is False: these hold it, and more may
      (some processes could not be checked).
    `known_holders` is the tuple to iterate in every case.
    """

    type: str  # "tun" or "tap"
    persist: bool
    multi_queue: bool
    vnet_hdr: bool
    pi: bool
    owner: int | None = None
    group: int | None = None
    num_queues: int | None = None
    holders: tuple[TunHolder, ...] | None = ()
    holders_complete: bool = True

    @property
    def known_holders(self) -> tuple[TunHolder, ...]:
        """The holders found (`()` when none were found or none could be checked)."""
        return self.holders or ()

    @property
    def unheld(self) -> bool:
        """True only when it is known that no process holds the device."""
        return self.holders == () and self.holders_complete


@dataclass(frozen=True, slots=True)
class Link:
    """A network device in one namespace, with everything vnettop shows about it."""

    netns: int
    ifindex: int
    name: str
    kind: str  # IFLA_INFO_KIND, but "tun"/"tap" told apart, "loopback", "device" for a kindless NIC
    mac: str | None
    mtu: int
    admin_up: bool
    oper_state: str  # lower-case IFLA_OPERSTATE: "up", "down", "unknown", "lowerlayerdown"...
    master: LinkRef | None = None
    lower: LinkRef | None = None  # IFLA_LINK of stacked devices (vlan, macvlan, vxlan...)
    peer: LinkRef | None = None  # veth only
    addresses: tuple[str, ...] = ()  # "10.0.0.2/24", "fe80::1/64"
    stats: Stats = field(default_factory=Stats)
    bridge: BridgeInfo | None = None
    bridge_port: BridgePort | None = None
    tun: TunInfo | None = None
    carrier: bool | None = None
    #: Kind-specific facts worth showing, as sorted (key, value) pairs: vlan id, vxlan vni, macvlan mode...
    info: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> LinkKey:
        return (self.netns, self.ifindex)

    @property
    def ref(self) -> LinkRef:
        return LinkRef(self.netns, self.ifindex, self.name)


@dataclass(frozen=True, slots=True)
class CollectError:
    """Something the collector could not see; a soft error, shown to the user, never raised."""

    scope: str  # "netns 4026532999", "pid 1234", "netlink", ...
    message: str


@dataclass(frozen=True, slots=True)
class Host:
    hostname: str
    kernel: str


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a set of devices, namespaces and processes belongs to: a VM, a container, a pod, a Neutron
    port... (SNAPSHOT-SCHEMA.md "Owners"). What the operator calls it, read on the host itself.

    `exact` is False when the answer is inferred (a name pattern, a command line alone); `source` says
    where it came from. Kernel objects are referred to by key only.
    """

    kind: str  # "vm", "container", "pod", "neutron-port", "neutron-network", "neutron-router", ...
    name: str  # the name the operator uses
    id: str | None  # uuid / container id / pod uid / Neutron uuid (or the prefix a name carries)
    runtime: str  # "libvirt", "qemu", "docker", "neutron", ...
    source: str  # a file, a socket, "name pattern", ...
    exact: bool
    details: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs
    links: tuple[LinkKey, ...] = ()  # sorted
    namespaces: tuple[int, ...] = ()  # sorted nsfs inodes
    pids: tuple[int, ...] = ()  # sorted
    parent: int | None = None  # index into the snapshot's owners (e.g. a Neutron port's router)

    @property
    def label(self) -> str:
        """`web-1 (vm)`: how a line names it."""
        return f"{self.name} ({self.kind})"


Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class OvsPeer:
    """A patch interface's other end, by names (SNAPSHOT-SCHEMA.md "Open vSwitch")."""

    bridge: str
    port: str
    interface: str


@dataclass(frozen=True, slots=True)
class OvsIfaceEntry:
    """One OVS Interface row, joined to the kernel: `link` is the device that IS it (None for patch and
    tunnel interfaces, which have none, and when none matched: an error then says so)."""

    name: str
    uuid: str
    type: str  # "" (a system device), "internal", "patch", "vxlan", "geneve", "gre", "tap", "dpdk", ...
    ofport: int | None
    admin_state: str | None
    link_state: str | None
    mac_in_use: str | None
    options: Pairs = ()
    external_ids: Pairs = ()
    link: LinkRef | None = None
    peer: OvsPeer | None = None

    def option(self, key: str) -> str | None:
        return dict(self.options).get(key)


@dataclass(frozen=True, slots=True)
class OvsPortEntry:
    name: str
    uuid: str
    tag: int | None
    trunks: tuple[int, ...]
    interfaces: tuple[OvsIfaceEntry, ...]
    external_ids: Pairs = ()
    other_config: Pairs = ()


@dataclass(frozen=True, slots=True)
class OvsBridgeEntry:
    name: str
    uuid: str
    datapath_type: str  # "system" (or "": the kernel datapath), "netdev" (userspace)
    fail_mode: str | None
    ports: tuple[OvsPortEntry, ...]
    external_ids: Pairs = ()


@dataclass(frozen=True, slots=True)
class OvsDatapathDevice:
    """A kernel device that is the OVS datapath's own, not a port anyone added: `ovs-system` (the kernel
    datapath), `ovs-netdev` (the userspace one's tap), `vxlan_sys_4789`-like tunnel vports. Named so that
    views explain them instead of listing them as stray devices."""

    link: LinkRef
    role: str


@dataclass(frozen=True, slots=True)
class OvsCounters:
    """One OVS interface's `statistics` column as ovs-vswitchd last wrote it (rx_bytes, tx_packets, ...).

    `at` is when the OVSDB update carrying these values arrived (epoch seconds): ovsdb-server sends it as
    ovs-vswitchd commits, so it is when they were written, give or take vnettop's read. None: the values
    were there before vnettop connected (the monitor's initial reply), written at an unknown moment.
    """

    values: tuple[tuple[str, int], ...]  # sorted (name, count)
    at: float | None = None

    def get(self, key: str) -> int | None:
        for name, count in self.values:
            if name == key:
                return count
        return None


@dataclass(frozen=True, slots=True)
class OvsStatistics:
    """Every OVS interface's counters, by Interface uuid: the only source of traffic figures for the
    interfaces that are no kernel device (patch, tunnel, dpdk).

    ovs-vswitchd rewrites the column every stats-update-interval (5 s by default) in one pass over all
    interfaces, and OVSDB only sends the rows whose values changed. So at `seen_at` (the latest such
    update vnettop saw) every interface's counters were current, whether its row came with it or not; a
    rate over an idle spell is then 0 rather than a long average. A mapping, not a tuple: read by uuid.
    """

    by_iface: Mapping[str, OvsCounters]
    seen_at: float | None = None


@dataclass(frozen=True, slots=True)
class OvsSection:
    """Section "ovs": what OVSDB says, joined to the kernel picture (SNAPSHOT-SCHEMA.md "Open vSwitch").

    `statistics` are counters, not structure: like a Link's `stats` they change every few seconds on a
    busy switch and take no part in equality, so an update of them is not a change of the picture (the
    views are not rebuilt, `bridges` stays the very same object). None: not read (an older file).
    """

    db: str
    ovs_version: str | None
    system_id: str | None
    bridges: tuple[OvsBridgeEntry, ...]
    datapath_devices: tuple[OvsDatapathDevice, ...] = ()
    statistics: OvsStatistics | None = field(default=None, compare=False)

    def counters(self, uuid: str) -> OvsCounters | None:
        """The counters of the OVS interface `uuid` (None: unknown: not read, or not written yet)."""
        return None if self.statistics is None else self.statistics.by_iface.get(uuid)


#: The optional sections of a Snapshot, in the order they are written. Each is None when no source of
#: it was asked (an older file, `--load`, a source not available), which is not the same as "none found".
SECTIONS: tuple[str, ...] = ("owners", "ovs")
#: How the scope of an error met by a source starts ("source neutron_names").
SOURCE_SCOPE = "source "


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole picture at one moment. Lists are sorted as SNAPSHOT-SCHEMA.md says.

    Namespaces: root first, then by inode. Links: by (netns, ifindex).
    """

    host: Host
    namespaces: tuple[Namespace, ...]
    links: tuple[Link, ...]
    errors: tuple[CollectError, ...] = ()
    taken_at: datetime = field(default_factory=_now, compare=False)
    duration_ms: float = field(default=0.0, compare=False)
    #: Section "owners": who the plumbing belongs to, sorted by (kind, name, id); None: not asked.
    owners: tuple[Owner, ...] | None = None
    #: Section "ovs": Open vSwitch as OVSDB describes it, joined to the kernel; None: no OVSDB read.
    ovs: OvsSection | None = None
    #: Namespaces whose devices' counters here were read before this snapshot was taken, and when: a
    #: live view reads the counters of what it does not show on a slower cadence
    #: (`LiveCollector.pace_counters`). Empty (always, in a file or a one-shot dump): every counter was
    #: read for this snapshot. Not part of the JSON: rates are the live view's business.
    counters_behind: Mapping[int, datetime] = field(default_factory=dict, compare=False, repr=False)
    #: Namespaces whose counters were read that many seconds late (5 ms or more), after what delays the
    #: reads of one collect and not those of the next: a live collect that gave way to the UI (a key
    #: being drawn, up to 0.25 s), or dumped a namespace in full, read the ones after it that much later
    #: than usual. Empty on most ticks of a live view. A rate divides by the time between two reads of the
    #: counters, not between two snapshots. Not part of the JSON, as `counters_behind` (a file has none).
    counters_late: Mapping[int, float] = field(default_factory=dict, compare=False, repr=False)
    _index: _Index | None = field(default=None, init=False, compare=False, repr=False)

    # -- sections ------------------------------------------------------------------------------

    def sections(self) -> tuple[object, ...]:
        """Every section's value, in `SECTIONS` order (what a redraw test compares, whatever they are)."""
        return tuple(getattr(self, name) for name in SECTIONS)

    def kernel_picture(self) -> Snapshot:
        """This snapshot with every section, and the sources' errors, dropped: what the kernel readers
        alone made of the host."""
        kernel_errors = tuple(e for e in self.errors if not e.scope.startswith(SOURCE_SCOPE))
        if all(value is None for value in self.sections()) and len(kernel_errors) == len(self.errors):
            return self
        cleared: dict[str, Any] = dict.fromkeys(SECTIONS)
        return replace(self, errors=kernel_errors, **cleared)

    def owners_of_link(self, key: LinkKey) -> tuple[Owner, ...]:
        """The owners naming the device `key`."""
        return self._idx().owners(self)[0].get(key, ())

    def owners_of_namespace(self, inode: int) -> tuple[Owner, ...]:
        """The owners naming the namespace `inode`."""
        return self._idx().owners(self)[1].get(inode, ())

    def ovs_port_of(self, key: LinkKey) -> tuple[OvsBridgeEntry, OvsPortEntry, OvsIfaceEntry] | None:
        """The OVS bridge, port and interface the device `key` is (None: not an OVS interface)."""
        return self._idx().ovs(self)[0].get(key)

    def ovs_datapath_role(self, key: LinkKey) -> str | None:
        """Why the device `key` is the OVS datapath's own (`ovs-system`...), or None."""
        return self._idx().ovs(self)[1].get(key)

    # -- lookups (built once, lazily; the snapshot is immutable so the index never goes stale) --

    def _idx(self) -> _Index:
        idx = self._index
        if idx is None:
            idx = _Index()
            object.__setattr__(self, "_index", idx)
        return idx

    def reuse_index(self, earlier: Snapshot, alike: bool = False) -> bool:
        """Take over `earlier`'s lookups, built or not yet, if this snapshot is laid out as it is: its
        namespaces by inode and its devices by key in the same order (e.g. the next tick of a live view
        where only counters and processes changed). The lookups hold positions, so they give this
        snapshot's own devices and namespaces, and are built at most once for a run of such snapshots;
        those of the sections (owners, OVS) are taken over only if the sections are the very same objects
        (a collector hands them back so while its sources read nothing new), else built anew: a lookup
        always answers with this snapshot's own objects. True if it took the lookups over.

        `alike`: the caller has compared every device and namespace already (the UI's `same_structure`);
        only the sizes and the first and last keys are checked again. Otherwise the whole order is
        compared here (~0.5 ms at 5000 devices; a mismatch stops it early)."""
        if earlier is self:
            return True
        links, before = self.links, earlier.links
        if (len(before) != len(links) or len(earlier.namespaces) != len(self.namespaces)
                or (links and (before[0].key != links[0].key or before[-1].key != links[-1].key))):
            return False
        if not alike and not (
                (earlier.namespaces is self.namespaces
                 or all(a is b or a.inode == b.inode
                        for a, b in zip(earlier.namespaces, self.namespaces, strict=True)))
                and (before is links
                     or all(a is b or (a.netns == b.netns and a.ifindex == b.ifindex)
                            for a, b in zip(before, links, strict=True)))):
            return False
        index = earlier._idx()
        if earlier.owners is not self.owners or earlier.ovs is not self.ovs:
            index = index.positions_only()
        object.__setattr__(self, "_index", index)
        return True

    def warm_index(self) -> None:
        """Build every lookup now (a caller on another thread than the one that will look things up)."""
        self._idx().build_all(self)

    def link(self, netns: int, ifindex: int) -> Link | None:
        """The device with this key, or None."""
        return self._idx().link(self, (netns, ifindex))

    def namespace(self, inode: int) -> Namespace | None:
        """The namespace with this nsfs inode, or None."""
        return self._idx().namespace(self, inode)

    def links_in(self, inode: int) -> tuple[Link, ...]:
        """Devices of one namespace, by ifindex."""
        return self._idx().links_in(self, inode)

    @property
    def root(self) -> Namespace | None:
        """The namespace vnettop runs in (None only in a malformed snapshot)."""
        for ns in self.namespaces:
            if ns.root:
                return ns
        return None

    def ns_label(self, inode: int) -> str:
        """A human name for a namespace inode, even one not in the snapshot.

        Inode 0 is what a reference carries when its namespace could not be identified at all (see
        `LinkRef`): it is named as such, never as a namespace "net:[0]".
        """
        ns = self.namespace(inode)
        if ns is not None:
            return ns.label
        return UNKNOWN_NS if inode == 0 else f"net:[{inode}]"

    def find_namespace(self, name: str) -> Namespace | None:
        """A namespace by one of its names or mount paths, by "root", or by its inode in decimal.

        A name that is not UTF-8 may be given as vnettop writes it (`vnt\\xff`, see `vnettop.names`);
        an exact match wins over that reading.
        """
        for ns in self.namespaces:
            if name in ns.names or name in ns.mounts or (name == "root" and ns.root) or name == str(ns.inode):
                return ns
        if "\\" in name:
            for ns in self.namespaces:
                if any(names.matches(name, n) for n in (*ns.names, *ns.mounts)):
                    return ns
        return None

    def find_links(self, name: str, netns: int | None = None) -> tuple[Link, ...]:
        """Devices called `name` (in one namespace, or in all of them).

        Exact matches; if there are none, devices whose name `name` is the written form of
        (`vnt\\xff` for the bytes b'vnt\\xff', see `vnettop.names`).
        """
        pool = self.links if netns is None else self.links_in(netns)
        found = tuple(link for link in pool if link.name == name)
        if found or "\\" not in name:
            return found
        return tuple(link for link in pool if names.matches(name, link.name))


class _Index:
    """Dictionaries over one snapshot's tuples, so lookups by key are O(1); each built at its first use.

    They hold positions in the snapshot's tuples, not the objects, so that a later snapshot laid out
    alike can take them over (`Snapshot.reuse_index`): a live view gets a new snapshot every second
    whose only change is counters (and processes), and building the lookups of 5000 devices again for
    the one shown in the details pane cost 2-3 ms of each such tick at 1000 namespaces (a third of the
    UI's work). The sections' lookups hold the sections' own objects: a snapshot takes them over only
    when its sections are the very same objects.
    """

    __slots__ = ("_links", "_links_in", "_namespaces", "_ovs_by_link", "_ovs_datapath", "_owners_by_link",
                 "_owners_by_ns")

    def __init__(self) -> None:
        self._links: dict[LinkKey, int] | None = None
        self._namespaces: dict[int, int] | None = None
        #: netns -> the slice of its run of devices, or their positions (links not sorted by key)
        self._links_in: dict[int, slice | tuple[int, ...]] | None = None
        self._owners_by_link: dict[LinkKey, tuple[Owner, ...]] | None = None
        self._owners_by_ns: dict[int, tuple[Owner, ...]] | None = None
        self._ovs_by_link: dict[LinkKey, tuple[OvsBridgeEntry, OvsPortEntry, OvsIfaceEntry]] | None = None
        self._ovs_datapath: dict[LinkKey, str] | None = None

    def positions_only(self) -> _Index:
        """A new index sharing this one's lookups by position, without those of the sections."""
        other = _Index()
        other._links, other._namespaces, other._links_in = self._links, self._namespaces, self._links_in
        return other

    def build_all(self, snap: Snapshot) -> None:
        self.link(snap, (0, 0))
        self.namespace(snap, 0)
        self.links_in(snap, 0)
        self.owners(snap)
        self.ovs(snap)

    def link(self, snap: Snapshot, key: LinkKey) -> Link | None:
        at = self._links
        if at is None:
            at = self._links = {link.key: i for i, link in enumerate(snap.links)}
        i = at.get(key)
        return None if i is None else snap.links[i]

    def namespace(self, snap: Snapshot, inode: int) -> Namespace | None:
        at = self._namespaces
        if at is None:
            at = self._namespaces = {ns.inode: i for i, ns in enumerate(snap.namespaces)}
        i = at.get(inode)
        return None if i is None else snap.namespaces[i]

    def links_in(self, snap: Snapshot, inode: int) -> tuple[Link, ...]:
        spans = self._links_in
        if spans is None:
            spans = self._links_in = _spans(snap.links)
        span = spans.get(inode)
        if span is None:
            return ()
        if isinstance(span, slice):
            return snap.links[span]
        links = snap.links
        return tuple(links[i] for i in span)

    def owners(self, snap: Snapshot) -> tuple[dict[LinkKey, tuple[Owner, ...]], dict[int, tuple[Owner, ...]]]:
        if self._owners_by_link is None or self._owners_by_ns is None:
            by_link: dict[LinkKey, tuple[Owner, ...]] = {}
            by_ns: dict[int, tuple[Owner, ...]] = {}
            for owner in snap.owners or ():
                for key in owner.links:
                    by_link[key] = (*by_link.get(key, ()), owner)
                for inode in owner.namespaces:
                    by_ns[inode] = (*by_ns.get(inode, ()), owner)
            self._owners_by_link, self._owners_by_ns = by_link, by_ns
        return self._owners_by_link, self._owners_by_ns

    def ovs(self, snap: Snapshot) -> tuple[dict[LinkKey, tuple[OvsBridgeEntry, OvsPortEntry, OvsIfaceEntry]],
                                           dict[LinkKey, str]]:
        if self._ovs_by_link is None or self._ovs_datapath is None:
            by_link: dict[LinkKey, tuple[OvsBridgeEntry, OvsPortEntry, OvsIfaceEntry]] = {}
            datapath: dict[LinkKey, str] = {}
            if snap.ovs is not None:
                for bridge in snap.ovs.bridges:
                    for port in bridge.ports:
                        for iface in port.interfaces:
                            if iface.link is not None:
                                by_link[iface.link.key] = (bridge, port, iface)
                datapath = {d.link.key: d.role for d in snap.ovs.datapath_devices}
            self._ovs_by_link, self._ovs_datapath = by_link, datapath
        return self._ovs_by_link, self._ovs_datapath


def _spans(links: tuple[Link, ...]) -> dict[int, slice | tuple[int, ...]]:
    """netns -> where its devices are in `links`: a slice for a single run (links sorted by key, as every
    snapshot vnettop makes has them), else the tuple of their positions, in order."""
    runs: dict[int, list[tuple[int, int]]] = {}
    start, current = 0, None
    for i, link in enumerate(links):
        if link.netns != current:
            if current is not None:
                runs.setdefault(current, []).append((start, i))
            start, current = i, link.netns
    if current is not None:
        runs.setdefault(current, []).append((start, len(links)))
    return {ns: slice(*found[0]) if len(found) == 1 else tuple(i for a, b in found for i in range(a, b))
            for ns, found in runs.items()}


_T = TypeVar("_T")


def _slot_function(cls: type[_T], name: str, params: tuple[str, ...], value_of: Callable[[str], str]
                   ) -> Callable[..., _T]:
    """A function `name(*params)` that makes a bare `cls` and sets each of its slots, in field order, to
    the expression `value_of(field)` (made of `params`), through the slot's descriptor."""
    env: dict[str, Any] = {"__name__": __name__, "_new": object.__new__, "_cls": cls}
    lines = [f"def {name}({', '.join(params)}):", "    new = _new(_cls)"]
    for i, field_name in enumerate(cls.__slots__):  # type: ignore[attr-defined]
        env[f"_set{i}"] = getattr(cls, field_name).__set__
        lines.append(f"    _set{i}(new, {value_of(field_name)})")
    lines.append("    return new")
    exec("\n".join(lines), env)  # our own text, made of the class's field names
    made: Callable[..., _T] = env[name]
    return made


def _made_by_its_fields(cls: type[Any]) -> tuple[str, ...]:
    """The names of `cls`'s fields, if it is a frozen slotted dataclass whose generated __init__ does no
    more than set them (every field taken by it, no __post_init__, no __init__ of its own); else
    TypeError: such an object cannot be made by setting its slots."""
    names = tuple(f.name for f in fields(cls))
    params = getattr(cls, "__dataclass_params__", None)
    if (params is None or not params.init or not params.frozen or hasattr(cls, "__post_init__")
            or not all(f.init for f in fields(cls)) or tuple(getattr(cls, "__slots__", ())) != names):
        raise TypeError(f"{cls.__name__} is made by more than its fields")
    return names


def slot_maker(cls: type[_T]) -> Callable[..., _T]:
    """A function that makes a `cls` (a frozen slotted dataclass) from all its fields' values, in field
    order, passed positionally: what `cls(*values)` makes, the slots set through their descriptors.

    Why: a frozen dataclass's __init__ sets each field through `object.__setattr__`; a Link (18 fields)
    took 2.15 us that way and 0.80 us this way (measured on a 2-core Xeon VM), and a first collect at
    1000 namespaces makes ~10000 of them (each device parsed, then given its addresses). Only for
    classes whose generated __init__ does nothing more (`_made_by_its_fields`, checked here).
    """
    names = _made_by_its_fields(cls)
    if any(name in ("new", "_new", "_cls") or name.startswith("_set") for name in names):
        raise TypeError(f"{cls.__name__} has a field named as the maker's own variables")
    return _slot_function(cls, f"make_{cls.__name__}", names, lambda name: name)


def pickled_by_constructor(cls: type[_T], maker: Callable[..., _T] | None = None) -> type[_T]:
    """Make `cls`, a frozen slotted dataclass, pickle as a call of its constructor with its fields (or
    of `maker`, a `slot_maker` of it that pickle finds by name in this module).

    Why: pickle otherwise restores such a class through dataclasses' `__setstate__`, a Python loop over
    `fields()` for every object: loading 5026 devices' drafts took 81 ms that way and 27 ms this way.
    A one-shot dump loads the devices of the namespaces a child process read for it (`scan_ahead`).
    Only for classes whose every field the constructor takes (none would be lost on the way).
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    if not all(f.init for f in fields(cls)):  # type: ignore[arg-type]
        raise TypeError(f"{cls.__name__} has a field its constructor does not take")
    make: Callable[..., _T] = cls if maker is None else maker

    def __reduce__(self: _T) -> tuple[Callable[..., _T], tuple[Any, ...]]:
        return make, tuple([getattr(self, name) for name in names])

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


#: `Link(*values)` and `Stats(*values)`, 2.7x cheaper (`slot_maker`): the collector makes thousands.
make_Link = slot_maker(Link)
make_Stats = slot_maker(Stats)

#: `replace(link, stats=stats)`, slot by slot (a copy of every field but the counters, the new ones set).
#: Why: `dataclasses.replace` walks the fields' metadata on every call and then calls the 18-argument
#: __init__ (2.4 us a link, 0.96 us this way); on a fresh or busy host a multicast flooding a bridge moves
#: the counters of ~2000 of 5000 devices at 1000 namespaces, each a copy: 10-18 ms of such a tick.
link_with_stats: Callable[[Link, Stats], Link] = _slot_function(
    Link, "link_with_stats", ("link", "stats"), lambda name: "stats" if name == "stats" else f"link.{name}")
_made_by_its_fields(Link)  # (the copies below, as the makers above, set every slot and nothing more)
#: Each slot of Link -> its descriptor's setter (what a frozen dataclass's __init__ sets them through).
_LINK_SLOT_SETTERS: dict[str, Callable[[Link, object], None]] = {
    name: getattr(Link, name).__set__ for name in Link.__slots__}


def link_with(link: Link, changes: Mapping[str, object]) -> Link:
    """`replace(link, **changes)`, slot by slot: the copy of `link_with_stats`, then the changed slots set
    (2.2 -> 1.1 us a link). The resolve makes one per referring device (~5000 at 1000 namespaces), a
    namespace's dump one per device with addresses."""
    new = link_with_stats(link, link.stats)
    for name, value in changes.items():
        _LINK_SLOT_SETTERS[name](new, value)
    return new


for _cls in (LinkRef, Listening, Process, NsFd, Namespace, FdbEntry, BridgeInfo, BridgePort, TunHolder,
             TunInfo, CollectError):
    pickled_by_constructor(_cls)
pickled_by_constructor(Link, make_Link)
pickled_by_constructor(Stats, make_Stats)
