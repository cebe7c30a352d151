"""Checks on user-given values, run on a plan before the kernel ever sees it.

Each validator either returns the value (normalised where that helps, e.g. a MAC in lower case) or
raises `ValidationError` whose message names the field and says why, in words an operator at 2 a.m.
understands. The rules follow the kernel's own (`dev_valid_name()` in net/core/dev.c) and iproute2's
(`is_valid_netns_name()` in ip/ipnetns.c), so a value accepted here is one the kernel would accept as
a name, and a refusal here never hides behind a bare EINVAL later.
"""

from __future__ import annotations

import ipaddress
import re

from vnettop import names
from vnettop.errors import ValidationError

#: IFNAMSIZ is 16 including the terminating NUL.
IFNAME_MAX_BYTES = 15
#: NAME_MAX: a namespace name is a file name under /run/netns.
NETNS_NAME_MAX_BYTES = 255
#: ETH_MIN_MTU / ETH_MAX_MTU (the limits veth and bridge devices enforce).
MTU_MIN = 68
MTU_MAX = 65535
#: Owners and groups are 32-bit ids; (uid_t)-1 means "unset" to the kernel, so it is not a valid id.
ID_MAX = 2**32 - 2

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def _fail(field: str, value: object, why: str) -> ValidationError:
    escaped = isinstance(value, str) and not names.is_text(value)
    shown = f"'{names.written(value)}'" if isinstance(value, str) and escaped else repr(value)
    return ValidationError(f"{field} {shown}: {why}")


def _raw(value: str, field: str) -> bytes:
    """The bytes the kernel would get (a name that is not UTF-8 keeps its own bytes: vnettop.names)."""
    try:
        return names.to_bytes(value)
    except UnicodeEncodeError:
        raise _fail(field, value, "holds a character that is no byte sequence (a lone surrogate)") from None


def check_ifname(value: object, field: str = "device name") -> str:
    """A network device name as the kernel accepts it: 1-15 bytes, no '/', ':', '%' or whitespace.

    Control characters and Unicode whitespace are refused too (the kernel would take them, but no one
    can type or read such a name in a terminal), and so is any character whose UTF-8 encoding holds
    byte 0xA0, which the kernel's Latin-1 `isspace()` rejects. Lengths are in bytes, as the kernel
    counts: a name that is not UTF-8 (`vnettop.names`) counts its raw bytes.
    """
    if not isinstance(value, str):
        raise _fail(field, value, "must be text")
    if value == "":
        raise ValidationError(f"{field} is empty: a device needs a name of 1 to 15 bytes")
    size = len(_raw(value, field))
    if size > IFNAME_MAX_BYTES:
        raise _fail(field, value, f"is {size} bytes long; the kernel allows at most {IFNAME_MAX_BYTES}")
    if value in (".", ".."):
        raise _fail(field, value, "'.' and '..' are not allowed (they would clash with /sys/class/net)")
    for ch in value:
        if ch == "/":
            raise _fail(field, value, "must not contain '/'")
        if ch == ":":
            raise _fail(field, value, "must not contain ':' (reserved for old-style aliases)")
        if ch == "%":
            raise _fail(field, value, "must not contain '%' (the kernel reads 'eth%d' as a template "
                                      "and picks the name itself)")
        if ch.isspace():
            raise _fail(field, value, "must not contain whitespace")
        if ord(ch) < 32 or ord(ch) == 127:
            raise _fail(field, value, "must not contain control characters")
        if 0xA0 in names.to_bytes(ch):
            # The kernel's isspace() is Latin-1: byte 0xA0 (no-break space) inside a UTF-8
            # character such as 'à' makes dev_valid_name() fail with a bare EINVAL.
            raise _fail(field, value, f"{ch!r} is encoded with byte 0xa0, which the kernel reads as a space")
    return value


def check_netns_name(value: object, field: str = "namespace") -> str:
    """A namespace name as iproute2 accepts it: a file name under /run/netns.

    Not empty, at most 255 bytes, no '/', not '.' or '..', no NUL or other control character.
    """
    if not isinstance(value, str):
        raise _fail(field, value, "must be text")
    if value == "":
        raise ValidationError(f"{field} is empty: a namespace needs a name")
    size = len(_raw(value, field))
    if size > NETNS_NAME_MAX_BYTES:
        raise _fail(field, value, f"is {size} bytes long; at most {NETNS_NAME_MAX_BYTES} are allowed")
    if value in (".", ".."):
        raise _fail(field, value, "'.' and '..' are not namespace names")
    if "/" in value:
        raise _fail(field, value, "must not contain '/' (it is a file name under /run/netns)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _fail(field, value, "must not contain control characters")
    return value


def check_optional_netns(value: object, field: str = "namespace") -> str | None:
    """None means the root namespace (the one vnettop runs in); anything else must be a valid name."""
    if value is None:
        return None
    return check_netns_name(value, field)


def check_mtu(value: object, field: str = "mtu") -> int:
    """An MTU the kernel accepts for veth and bridge devices (68 to 65535)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, value, "must be a whole number")
    if not MTU_MIN <= value <= MTU_MAX:
        raise _fail(field, value, f"must be between {MTU_MIN} and {MTU_MAX}")
    return value


def check_mac(value: object, field: str = "mac") -> str:
    """A unicast Ethernet address "aa:bb:cc:dd:ee:ff"; returned in lower case.

    Multicast and all-zero addresses are refused: the kernel rejects them for a device's own address
    (eth_validate_addr) with a bare EADDRNOTAVAIL.
    """
    if not isinstance(value, str):
        raise _fail(field, value, "must be text like 02:00:00:00:00:01")
    if not _MAC_RE.match(value):
        raise _fail(field, value, "must be six two-digit hex bytes separated by ':' (02:00:00:00:00:01)")
    octets = [int(part, 16) for part in value.split(":")]
    if octets[0] & 1:
        raise _fail(field, value, "is a multicast address (lowest bit of the first byte set)")
    if not any(octets):
        raise _fail(field, value, "is all zeros")
    return value.lower()


def check_address(value: object, field: str = "address") -> str:
    """An IPv4 or IPv6 address with its prefix length ("10.0.0.2/24", "fd00::1/64"), normalised."""
    if not isinstance(value, str):
        raise _fail(field, value, "must be text like 10.0.0.2/24")
    text = value
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise _fail(field, value, "must not be empty or contain spaces")
    if "%" in text:
        raise _fail(field, value, "a %zone is not part of an address; give the device instead")
    if "/" not in text:
        raise _fail(field, value, "needs a prefix length, e.g. 10.0.0.2/24 or fd00::1/64")
    addr, _, prefix = text.partition("/")
    if not prefix.isdigit():
        raise _fail(field, value, "the prefix length after '/' must be a number")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise _fail(field, value, f"{addr!r} is not an IPv4 or IPv6 address") from exc
        limit = 32 if ":" not in addr else 128
        raise _fail(field, value, f"prefix length must be between 0 and {limit}") from exc
    return iface.with_prefixlen


def check_id(value: object, field: str) -> int | None:
    """An optional uid/gid (None = not set)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, value, "must be a numeric id")
    if not 0 <= value <= ID_MAX:
        raise _fail(field, value, f"must be between 0 and {ID_MAX}")
    return value


def check_choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(field, value, "must be one of " + ", ".join(choices))
    return str(value)


def check_ifindex(value: object, field: str = "ifindex") -> int | None:
    """The ifindex a screen saw (None when the plan did not come from a screen)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(field, value, "must be a positive interface index")
    return value
