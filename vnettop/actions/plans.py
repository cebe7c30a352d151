"""Plans: every change vnettop can make, as plain data that can print its equivalent `ip` command.

A plan is a frozen dataclass of simple fields (str, int, bool, None) so a dialog can be generated from
`dataclasses.fields(plan_class)` (each field's `metadata["help"]` says what it is), a journal can store
it as JSON, and a test can build one by hand. A plan does nothing by itself: only
`vnettop.actions.mutator.Mutator.apply(plan)` touches the kernel.

Conventions shared by all plans:
- namespaces are referred to by their /run/netns name; `None` means the root namespace (the one
  vnettop runs in);
- a device is (its namespace, its name); `ifindex`, when set, is the index the screen saw, so the
  mutator can refuse if the device vanished or was replaced since the screen drew it;
- `validate()` raises `ValidationError` naming the field and the reason; `ip_command()` is exactly what
  an operator would type to do the same with iproute2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vnettop import names
from vnettop.actions import validate as v
from vnettop.errors import ValidationError


def _q(text: str) -> str:
    """A name as a shell word: `$'vnt\\xff'` for one that is not UTF-8 or holds control characters, so
    the command gives the kernel the very bytes the plan does (vnettop.names)."""
    return names.shell_quote(text)


def _ip(netns: str | None) -> str:
    """`ip` or `ip -n NS`."""
    return "ip" if netns is None else f"ip -n {_q(netns)}"


#: Keywords `ip link add|set` accepts where a bare device name may stand. iproute2 matches most of them
#: by prefix, so a device called "br" reads as "broadcast": such names are spelled `name X` / `dev X`.
_LINK_KEYWORDS = (
    "name", "up", "down", "broadcast", "brd", "address", "txqueuelen", "qlen", "txqlen", "mtu",
    "xdpgeneric", "xdpdrv", "xdpoffload", "xdp", "netns", "multicast", "allmulticast", "promisc",
    "trailers", "arp", "carrier", "vf", "master", "vrf", "nomaster", "dynamic", "mode", "state",
    "numtxqueues", "numrxqueues", "addrgenmode", "link-netns", "link-netnsid", "protodown",
    "protodown_reason", "gso_max_size", "gso_max_segs", "gro_max_size", "gso_ipv4_max_size",
    "gro_ipv4_max_size", "parentdev", "alias", "group", "index", "dev", "type", "link", "help",
)


def _bare(name: str) -> bool:
    return not any(keyword.startswith(name) for keyword in _LINK_KEYWORDS)


def _add_name(name: str) -> str:
    """The device name in `ip link add NAME`, with `name` when iproute2 would read it as a keyword."""
    return _q(name) if _bare(name) else f"name {_q(name)}"


def _set_dev(name: str) -> str:
    """The device name in `ip link set DEV`, with `dev` when iproute2 would read it as a keyword."""
    return _q(name) if _bare(name) else f"dev {_q(name)}"


def _where(netns: str | None) -> str:
    return "the root namespace" if netns is None else f"namespace {netns}"


def _ns_field(help_text: str = "namespace of the device (empty = root namespace)") -> Any:
    return field(default=None, metadata={"help": help_text})


def _ifindex_field() -> Any:
    return field(default=None, metadata={"help": "ifindex seen on screen (guards against a replaced device)"})


@dataclass(frozen=True)
class DeviceTarget:
    """The device a plan acts on: (namespace name or None, device name, ifindex seen or None)."""

    netns: str | None
    name: str
    ifindex: int | None = None


class Plan:
    """Base of every plan. Subclasses are frozen dataclasses."""

    __slots__ = ()

    #: True for plans that destroy something (the UI asks the user to type a confirmation).
    destructive: ClassVar[bool] = False
    #: A short title for menus and dialogs.
    title: ClassVar[str] = ""

    def ip_command(self) -> str:
        """The iproute2 command that does the same thing."""
        raise NotImplementedError

    def describe(self) -> str:
        """One human line saying what the plan does."""
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ValidationError if a field is invalid."""
        raise NotImplementedError

    @property
    def target(self) -> DeviceTarget | None:
        """The existing device the plan acts on, if any (creations have none)."""
        return None

    @property
    def confirm_text(self) -> str | None:
        """What the user must type to confirm a destructive plan (None: no typing needed)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """{"plan": class name, field: value, ...}: JSON-ready, and read back by `plan_from_dict`."""
        data: dict[str, Any] = {"plan": type(self).__name__}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            data[f.name] = getattr(self, f.name)
        return data


# -- creations ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateBridge(Plan):
    title: ClassVar[str] = "New bridge"

    name: str = field(metadata={"help": "bridge name (1-15 bytes)"})
    netns: str | None = _ns_field("namespace to create it in (empty = root namespace)")
    stp: bool = field(default=False, metadata={"help": "enable the spanning tree protocol"})
    mtu: int | None = field(default=None, metadata={"help": "MTU (empty = kernel default)"})
    mac: str | None = field(default=None, metadata={"help": "MAC address (empty = random)"})

    def validate(self) -> None:
        v.check_ifname(self.name, "bridge name")
        v.check_optional_netns(self.netns)
        if self.mtu is not None:
            v.check_mtu(self.mtu)
        if self.mac is not None:
            v.check_mac(self.mac)

    def ip_command(self) -> str:
        cmd = f"{_ip(self.netns)} link add {_add_name(self.name)}"
        if self.mtu is not None:
            cmd += f" mtu {self.mtu}"
        if self.mac is not None:
            cmd += f" address {self.mac}"
        cmd += " type bridge"
        if self.stp:
            cmd += " stp_state 1"
        return cmd

    def describe(self) -> str:
        return f"create bridge {self.name} in {_where(self.netns)}" + (" with STP" if self.stp else "")


@dataclass(frozen=True, slots=True)
class CreateVethPair(Plan):
    """A veth pair; each end may be in its own namespace (the peer is created straight there)."""

    title: ClassVar[str] = "New veth pair"

    name: str = field(metadata={"help": "name of the first end"})
    peer: str = field(metadata={"help": "name of the other end"})
    netns: str | None = _ns_field("namespace of the first end (empty = root namespace)")
    peer_netns: str | None = _ns_field("namespace of the other end (empty = root namespace)")
    mtu: int | None = field(default=None, metadata={"help": "MTU of both ends (empty = 1500)"})

    def validate(self) -> None:
        v.check_ifname(self.name, "first end name")
        v.check_ifname(self.peer, "peer name")
        v.check_optional_netns(self.netns, "first end namespace")
        v.check_optional_netns(self.peer_netns, "peer namespace")
        if self.mtu is not None:
            v.check_mtu(self.mtu)
        if self.name == self.peer and self.netns == self.peer_netns:
            raise ValidationError(
                f"peer name {self.peer!r}: both ends are in {_where(self.netns)} and need different names")

    def ip_command(self) -> str:
        mtu = f" mtu {self.mtu}" if self.mtu is not None else ""
        if self.netns is not None and self.peer_netns is None:
            # Run from root so the peer lands in root; the first end goes straight to its namespace.
            return (f"ip link add {_add_name(self.name)}{mtu} netns {_q(self.netns)} type veth peer name "
                    f"{_q(self.peer)}{mtu}")
        cmd = (f"{_ip(self.netns)} link add {_add_name(self.name)}{mtu} type veth "
               f"peer name {_q(self.peer)}{mtu}")
        if self.peer_netns is not None and self.peer_netns != self.netns:
            cmd += f" netns {_q(self.peer_netns)}"
        return cmd

    def describe(self) -> str:
        return (f"create veth pair {self.name} ({_where(self.netns)}) <-> "
                f"{self.peer} ({_where(self.peer_netns)})")


@dataclass(frozen=True, slots=True)
class CreateTunTap(Plan):
    """A persistent tun or tap device, made like `ip tuntap add`: no packet-info header by default."""

    title: ClassVar[str] = "New tun/tap"

    name: str = field(metadata={"help": "device name"})
    mode: str = field(default="tap", metadata={"help": "tap (Ethernet frames) or tun (IP packets)",
                                               "choices": ("tap", "tun")})
    netns: str | None = _ns_field("namespace to create it in (empty = root namespace)")
    owner: int | None = field(default=None, metadata={"help": "uid allowed to attach (empty = root only)"})
    group: int | None = field(default=None, metadata={"help": "gid allowed to attach (empty = none)"})
    multi_queue: bool = field(default=False, metadata={"help": "several queues (one fd per queue)"})
    vnet_hdr: bool = field(default=False, metadata={"help": "virtio-net header (as qemu uses)"})
    pi: bool = field(default=False, metadata={"help": "4-byte packet-info header (off, like ip tuntap)"})
    persist: bool = field(default=True, metadata={"help": "keep the device after vnettop closes it"})

    def validate(self) -> None:
        v.check_ifname(self.name)
        v.check_choice(self.mode, "mode", ("tap", "tun"))
        v.check_optional_netns(self.netns)
        v.check_id(self.owner, "owner")
        v.check_id(self.group, "group")
        if not self.persist:
            raise ValidationError(
                "persist False: a tun/tap that is not persistent vanishes as soon as vnettop closes its "
                "file descriptor, so creating one here would do nothing")

    def ip_command(self) -> str:
        cmd = f"{_ip(self.netns)} tuntap add mode {self.mode} name {_q(self.name)}"
        if self.multi_queue:
            cmd += " multi_queue"
        if self.vnet_hdr:
            cmd += " vnet_hdr"
        if self.pi:
            cmd += " pi"
        if self.owner is not None:
            cmd += f" user {self.owner}"
        if self.group is not None:
            cmd += f" group {self.group}"
        return cmd

    def describe(self) -> str:
        flags = [n for n, on in (("multi-queue", self.multi_queue), ("vnet_hdr", self.vnet_hdr),
                                 ("pi", self.pi)) if on]
        extra = f" ({', '.join(flags)})" if flags else ""
        return f"create persistent {self.mode} {self.name} in {_where(self.netns)}{extra}"


@dataclass(frozen=True, slots=True)
class CreateNamespace(Plan):
    title: ClassVar[str] = "New namespace"

    name: str = field(metadata={"help": "namespace name (a file under /run/netns)"})

    def validate(self) -> None:
        v.check_netns_name(self.name)

    def ip_command(self) -> str:
        return f"ip netns add {_q(self.name)}"

    def describe(self) -> str:
        return f"create network namespace {self.name}"


@dataclass(frozen=True, slots=True)
class DeleteNamespace(Plan):
    """Remove a namespace's name; its devices go when nothing else keeps it alive."""

    destructive: ClassVar[bool] = True
    title: ClassVar[str] = "Delete namespace"

    name: str = field(metadata={"help": "namespace name"})

    def validate(self) -> None:
        v.check_netns_name(self.name)

    def ip_command(self) -> str:
        return f"ip netns del {_q(self.name)}"

    def describe(self) -> str:
        return f"delete network namespace {self.name} (its veths' peers elsewhere go with it)"

    @property
    def confirm_text(self) -> str:
        return self.name


# -- changes to an existing device ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DevicePlan(Plan):
    """Common fields of plans acting on one existing device (not itself a plan)."""

    device: str = field(metadata={"help": "device name"})
    netns: str | None = _ns_field()
    ifindex: int | None = _ifindex_field()

    @property
    def target(self) -> DeviceTarget:
        return DeviceTarget(self.netns, self.device, self.ifindex)

    def _validate_device(self) -> None:
        v.check_ifname(self.device)
        v.check_optional_netns(self.netns)
        v.check_ifindex(self.ifindex)


@dataclass(frozen=True, slots=True)
class SetMaster(_DevicePlan):
    """Make a device a port of a bridge in the same namespace."""

    title: ClassVar[str] = "Add to bridge"

    bridge: str = field(default="", metadata={"help": "bridge to add the device to"})
    bridge_ifindex: int | None = field(default=None, metadata={"help": "bridge ifindex seen on screen"})

    def validate(self) -> None:
        self._validate_device()
        v.check_ifname(self.bridge, "bridge name")
        v.check_ifindex(self.bridge_ifindex, "bridge ifindex")
        if self.bridge == self.device:
            raise ValidationError(f"bridge {self.bridge!r}: a device cannot be a port of itself")

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} link set {_set_dev(self.device)} master {_q(self.bridge)}"

    def describe(self) -> str:
        return f"add {self.device} to bridge {self.bridge} in {_where(self.netns)}"


@dataclass(frozen=True, slots=True)
class ClearMaster(_DevicePlan):
    title: ClassVar[str] = "Remove from bridge"

    def validate(self) -> None:
        self._validate_device()

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} link set {_set_dev(self.device)} nomaster"

    def describe(self) -> str:
        return f"remove {self.device} from its bridge in {_where(self.netns)}"


@dataclass(frozen=True, slots=True)
class MoveToNamespace(_DevicePlan):
    title: ClassVar[str] = "Move to namespace"

    to_netns: str | None = field(default=None, metadata={"help": "destination namespace (empty = root)"})

    def validate(self) -> None:
        self._validate_device()
        v.check_optional_netns(self.to_netns, "destination namespace")
        if self.to_netns == self.netns:
            raise ValidationError(f"destination namespace: {self.device} is already in {_where(self.netns)}")

    def ip_command(self) -> str:
        # `netns 1` names the namespace of PID 1: the root namespace, as iproute2 users write it.
        dest = "1" if self.to_netns is None else _q(self.to_netns)
        return f"{_ip(self.netns)} link set {_set_dev(self.device)} netns {dest}"

    def describe(self) -> str:
        return f"move {self.device} from {_where(self.netns)} to {_where(self.to_netns)}"


@dataclass(frozen=True, slots=True)
class SetLinkState(_DevicePlan):
    title: ClassVar[str] = "Up / down"

    up: bool = field(default=True, metadata={"help": "bring the device up (false: down)"})

    def validate(self) -> None:
        self._validate_device()
        if not isinstance(self.up, bool):
            raise ValidationError(f"up {self.up!r}: must be true or false")

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} link set dev {_q(self.device)} {'up' if self.up else 'down'}"

    def describe(self) -> str:
        return f"bring {self.device} {'up' if self.up else 'down'} in {_where(self.netns)}"


@dataclass(frozen=True, slots=True)
class AddAddress(_DevicePlan):
    title: ClassVar[str] = "Add address"

    address: str = field(default="", metadata={"help": "address with prefix, e.g. 10.0.0.2/24"})

    def validate(self) -> None:
        self._validate_device()
        v.check_address(self.address)

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} addr add {self.address} dev {_q(self.device)}"

    def describe(self) -> str:
        return f"add address {self.address} to {self.device} in {_where(self.netns)}"


@dataclass(frozen=True, slots=True)
class DelAddress(_DevicePlan):
    title: ClassVar[str] = "Remove address"

    address: str = field(default="", metadata={"help": "address with prefix, e.g. 10.0.0.2/24"})

    def validate(self) -> None:
        self._validate_device()
        v.check_address(self.address)

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} addr del {self.address} dev {_q(self.device)}"

    def describe(self) -> str:
        return f"remove address {self.address} from {self.device} in {_where(self.netns)}"


@dataclass(frozen=True, slots=True)
class DeleteLink(_DevicePlan):
    """Delete a device (for a veth, both ends go)."""

    destructive: ClassVar[bool] = True
    title: ClassVar[str] = "Delete device"

    def validate(self) -> None:
        self._validate_device()

    def ip_command(self) -> str:
        return f"{_ip(self.netns)} link del dev {_q(self.device)}"

    def describe(self) -> str:
        return f"delete device {self.device} in {_where(self.netns)}"

    @property
    def confirm_text(self) -> str:
        return self.device


#: Every plan class, in the order a "new / change" menu would list them.
PLAN_TYPES: tuple[type[Plan], ...] = (
    CreateBridge, CreateVethPair, CreateTunTap, CreateNamespace, DeleteNamespace,
    SetMaster, ClearMaster, MoveToNamespace, SetLinkState, AddAddress, DelAddress, DeleteLink,
)
_BY_NAME = {cls.__name__: cls for cls in PLAN_TYPES}


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Rebuild a plan from `Plan.to_dict()` output (journal entries, saved files)."""
    from vnettop.actions.ovs_plans import OVS_PLAN_TYPES

    kind = data.get("plan")
    cls = _BY_NAME.get(str(kind)) or {c.__name__: c for c in OVS_PLAN_TYPES}.get(str(kind))
    if cls is None:
        raise ValidationError(f"plan {kind!r}: not a known action")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names - {"plan"}
    if unknown:
        raise ValidationError(f"plan {kind}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**{k: val for k, val in data.items() if k != "plan"})
    except TypeError as exc:
        raise ValidationError(f"plan {kind}: {exc}") from exc
