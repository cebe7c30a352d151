"""Can this process change the network? Read from the effective capability set, not from the uid.

Being uid 0 is neither necessary (a capability-granted binary, a user namespace) nor sufficient (a
container that dropped CAP_NET_ADMIN, `capsh --drop`): the kernel decides on CapEff, so we do too.
"""

from __future__ import annotations

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def effective_caps(status_path: str = "/proc/self/status") -> int | None:
    """The CapEff bitmask of this process, or None if it cannot be read."""
    try:
        with open(status_path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split(":", 1)[1].strip(), 16)
    except (OSError, ValueError):
        return None
    return None


def has_cap(cap: int, status_path: str = "/proc/self/status") -> bool:
    caps = effective_caps(status_path)
    return caps is not None and bool(caps >> cap & 1)


def has_net_admin(status_path: str = "/proc/self/status") -> bool:
    """True if this process may change links, addresses and bridges (CAP_NET_ADMIN)."""
    return has_cap(CAP_NET_ADMIN, status_path)


def missing_privilege_notice(status_path: str = "/proc/self/status") -> str | None:
    """A one-line reason to run read-only, or None when the process has what changes need."""
    caps = effective_caps(status_path)
    if caps is None:
        return "read-only: cannot read this process's capabilities from /proc/self/status"
    if not caps >> CAP_NET_ADMIN & 1:
        return "read-only: this process lacks CAP_NET_ADMIN (run as root to make changes)"
    return None
