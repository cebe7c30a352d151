"""Open vSwitch plans: the same gate as the kernel's (read-only, validation, guards, journal), written to
OVSDB instead of netlink, each printing the `ovs-vsctl` command that does the same.

They are `Plan`s like the others, so the dialogs, the journal and the lab take them unchanged;
`ip_command()` returns the `ovs-vsctl` text (the journal's `ip_command` field then holds it), and
`Mutator.apply` hands them to `vnettop.actions.ovs_executor` rather than to pyroute2.

Names: a bridge, and a port of type system or internal, is (or becomes) a kernel device of the same
name, so the kernel's rule holds (1-15 bytes, `validate.check_ifname`). Patch and tunnel ports have no
device; their names follow the looser `check_ovs_name` (OVN's `patch-br-int-to-provnet-<uuid>` is
longer than 15), which the plans acting on an existing port use too, since its type is not known there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vnettop import names
from vnettop.actions import validate as v
from vnettop.actions.plans import Plan
from vnettop.errors import ValidationError

#: Datapath types a bridge can be given ("system": the kernel module; "netdev": userspace).
DATAPATH_TYPES = ("system", "netdev")
#: Port (Interface) types offered: "system" is an existing kernel device (OVSDB's empty type).
PORT_TYPES = ("system", "internal", "patch", "geneve", "vxlan", "gre")
TUNNEL_TYPES = ("geneve", "vxlan", "gre")
#: OVSDB allows VLAN tags 0-4095 in Port.tag.
TAG_MAX = 4095
OVS_NAME_MAX = 255

_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
#: Values are restricted to what needs no quoting in either the shell or ovs-vsctl's own syntax
#: (uuids, MAC and IP addresses, words): a value outside it is refused rather than mangled.
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:/@+-]*$")
_NAME_BAD = set(" \t\n\r\"'\\,;=[]{}")


def check_ovs_name(value: object, field_name: str = "port name") -> str:
    """An OVS record name with no kernel device behind it: 1-255 bytes of printable text, none of the
    characters ovs-vsctl's syntax gives a meaning to."""
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} {value!r}: must be text")
    if value == "":
        raise ValidationError(f"{field_name} is empty")
    if not names.is_text(value):
        raise ValidationError(f"{field_name} '{names.written(value)}': must be UTF-8 text")
    if len(value.encode()) > OVS_NAME_MAX:
        raise ValidationError(f"{field_name} {value!r}: at most {OVS_NAME_MAX} bytes")
    for ch in value:
        if ord(ch) < 32 or ord(ch) == 127 or ch.isspace():
            raise ValidationError(f"{field_name} {value!r}: must not contain spaces or control characters")
        if ch in _NAME_BAD:
            raise ValidationError(f"{field_name} {value!r}: must not contain {ch!r}")
    return value


def check_tag(value: object, field_name: str = "tag") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field_name} {value!r}: must be a whole number")
    if not 0 <= value <= TAG_MAX:
        raise ValidationError(f"{field_name} {value}: a VLAN tag is 0 to {TAG_MAX}")
    return value


def parse_pairs(value: object, field_name: str) -> tuple[tuple[str, str], ...]:
    """"k=v k=v" (spaces between pairs) as sorted pairs; ValidationError naming the bad pair."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} {value!r}: must be text like key=value key=value")
    out: dict[str, str] = {}
    for item in value.split():
        key, eq, val = item.partition("=")
        if not eq or not key:
            raise ValidationError(f"{field_name} {item!r}: each entry is key=value")
        if not _KEY_RE.match(key):
            raise ValidationError(f"{field_name} {item!r}: the key may hold letters, digits and _ . : - only")
        if not _VALUE_RE.match(val):
            raise ValidationError(f"{field_name} {item!r}: the value may hold letters, digits and "
                                  f"_ . : / @ + - only")
        if key in out:
            raise ValidationError(f"{field_name}: {key} is given twice")
        out[key] = val
    return tuple(sorted(out.items()))


def _q(text: str) -> str:
    return names.shell_quote(text)


class OvsPlan(Plan):
    """Base of the OVS plans: `ip_command()` is their `ovs-vsctl` command."""

    __slots__ = ()

    def ovs_vsctl(self) -> str:
        raise NotImplementedError

    def ip_command(self) -> str:
        return self.ovs_vsctl()


@dataclass(frozen=True, slots=True)
class CreateOvsBridge(OvsPlan):
    title: ClassVar[str] = "New OVS bridge"

    name: str = field(metadata={"help": "bridge name (1-15 bytes: its local port is a device)"})
    datapath_type: str = field(default="system", metadata={
        "help": "system (kernel datapath) or netdev (userspace)", "choices": DATAPATH_TYPES})

    def validate(self) -> None:
        v.check_ifname(self.name, "bridge name")
        v.check_choice(self.datapath_type, "datapath type", DATAPATH_TYPES)

    def ovs_vsctl(self) -> str:
        cmd = f"ovs-vsctl add-br {_q(self.name)}"
        if self.datapath_type != "system":
            cmd += f" -- set bridge {_q(self.name)} datapath_type={self.datapath_type}"
        return cmd

    def describe(self) -> str:
        return f"create OVS bridge {self.name} ({self.datapath_type} datapath)"


@dataclass(frozen=True, slots=True)
class DeleteOvsBridge(OvsPlan):
    destructive: ClassVar[bool] = True
    title: ClassVar[str] = "Delete OVS bridge"

    name: str = field(metadata={"help": "OVS bridge name"})

    def validate(self) -> None:
        v.check_ifname(self.name, "bridge name")

    def ovs_vsctl(self) -> str:
        return f"ovs-vsctl del-br {_q(self.name)}"

    def describe(self) -> str:
        return f"delete OVS bridge {self.name} with all its ports"

    @property
    def confirm_text(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class AddOvsPort(OvsPlan):
    """A port with one interface: an existing device (system), a new internal device, a patch to another
    bridge (options: peer=NAME) or a tunnel (options: remote_ip=ADDR [key=…])."""

    title: ClassVar[str] = "New OVS port"

    bridge: str = field(metadata={"help": "OVS bridge to add the port to"})
    name: str = field(metadata={"help": "port name (a device for system/internal: 1-15 bytes)"})
    type: str = field(default="system", metadata={
        "help": "system (an existing device), internal (a new device), patch, geneve, vxlan, gre",
        "choices": PORT_TYPES})
    tag: int | None = field(default=None, metadata={"help": "VLAN tag 0-4095 (empty = trunk, no tag)"})
    options: str | None = field(default=None, metadata={
        "help": "interface options key=value ... (patch: peer=PORT; tunnel: remote_ip=ADDR)"})
    external_ids: str | None = field(default=None, metadata={
        "help": "interface external_ids key=value ... (e.g. iface-id=UUID attached-mac=MAC)"})

    def validate(self) -> None:
        v.check_ifname(self.bridge, "bridge name")
        v.check_choice(self.type, "type", PORT_TYPES)
        if self.type in ("system", "internal"):
            v.check_ifname(self.name, "port name")
        else:
            check_ovs_name(self.name)
        check_tag(self.tag)
        opts = dict(parse_pairs(self.options, "options"))
        parse_pairs(self.external_ids, "external_ids")
        if self.name == self.bridge:
            raise ValidationError(f"port name {self.name!r}: that is the bridge's own local port")
        if self.type == "patch" and not opts.get("peer"):
            raise ValidationError("options: a patch port needs peer=PORT (its twin on the other bridge)")
        if self.type in TUNNEL_TYPES and not opts.get("remote_ip"):
            raise ValidationError(f"options: a {self.type} port needs remote_ip=ADDRESS (or remote_ip=flow)")
        if self.type == "patch" and opts.get("peer") == self.name:
            raise ValidationError(f"options: a patch port cannot be its own peer ({self.name})")

    def ovs_vsctl(self) -> str:
        cmd = f"ovs-vsctl add-port {_q(self.bridge)} {_q(self.name)}"
        if self.tag is not None:
            cmd += f" tag={self.tag}"
        sets = [] if self.type == "system" else [f"type={self.type}"]
        sets += [f"options:{k}={val}" for k, val in parse_pairs(self.options, "options")]
        sets += [f"external_ids:{k}={val}" for k, val in parse_pairs(self.external_ids, "external_ids")]
        if sets:
            cmd += f" -- set interface {_q(self.name)} " + " ".join(sets)
        return cmd

    def describe(self) -> str:
        tag = f" with tag {self.tag}" if self.tag is not None else ""
        return f"add {self.type} port {self.name} to OVS bridge {self.bridge}{tag}"


@dataclass(frozen=True, slots=True)
class DeleteOvsPort(OvsPlan):
    destructive: ClassVar[bool] = True
    title: ClassVar[str] = "Delete OVS port"

    name: str = field(metadata={"help": "OVS port name"})
    bridge: str | None = field(default=None, metadata={"help": "its bridge (empty = whichever holds it)"})

    def validate(self) -> None:
        check_ovs_name(self.name)
        if self.bridge is not None:
            v.check_ifname(self.bridge, "bridge name")

    def ovs_vsctl(self) -> str:
        bridge = f"{_q(self.bridge)} " if self.bridge is not None else ""
        return f"ovs-vsctl del-port {bridge}{_q(self.name)}"

    def describe(self) -> str:
        return f"remove port {self.name} from OVS bridge {self.bridge or '(its bridge)'}"

    @property
    def confirm_text(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class SetOvsTag(OvsPlan):
    """Set a port's VLAN tag (access port), or clear it (the port then trunks every VLAN)."""

    title: ClassVar[str] = "Set / clear OVS VLAN tag"

    port: str = field(metadata={"help": "OVS port name"})
    tag: int | None = field(default=None, metadata={"help": "VLAN tag 0-4095 (empty = clear the tag)"})

    def validate(self) -> None:
        check_ovs_name(self.port)
        check_tag(self.tag)

    def ovs_vsctl(self) -> str:
        if self.tag is None:
            return f"ovs-vsctl clear port {_q(self.port)} tag"
        return f"ovs-vsctl set port {_q(self.port)} tag={self.tag}"

    def describe(self) -> str:
        if self.tag is None:
            return f"clear the VLAN tag of OVS port {self.port}"
        return f"set the VLAN tag of OVS port {self.port} to {self.tag}"


#: Every OVS plan, in menu order.
OVS_PLAN_TYPES: tuple[type[Plan], ...] = (CreateOvsBridge, DeleteOvsBridge, AddOvsPort, DeleteOvsPort,
                                          SetOvsTag)


def subject(plan: Any) -> str:
    """The OVS name a plan is about (for guard messages and confirmations)."""
    return str(getattr(plan, "name", None) or getattr(plan, "port", ""))
