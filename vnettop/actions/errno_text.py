"""Kernel refusals, translated: an errno and the plan it hit become one clear line for a human."""

from __future__ import annotations

import errno
import os

from vnettop.actions import plans as pl

_GENERIC = {
    errno.EPERM: "operation not permitted: vnettop needs CAP_NET_ADMIN (and CAP_SYS_ADMIN for namespaces)",
    errno.EACCES: "permission denied: vnettop needs root privileges for this change",
    errno.EEXIST: "it already exists",
    errno.EBUSY: "the device or namespace is busy (in use by something else)",
    errno.ENODEV: "no such device (it may have been deleted or moved since the screen was drawn)",
    errno.ENOENT: "no such device, address or namespace",
    errno.EOPNOTSUPP: "this kernel does not support that (a module missing or the device type can't do it)",
    errno.EINVAL: "the kernel rejected a value as invalid",
    errno.EADDRNOTAVAIL: "that address is not on the device",
    errno.ELOOP: "that would create a loop (a bridge cannot be a port of itself or of its own port)",
    errno.ENOSPC: "the kernel ran out of room (too many devices or namespace ids)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOTDIR: "a path in the way is not a directory",
    errno.EMFILE: "too many open files in vnettop",
    errno.EBADF: "a namespace handle was invalid (the namespace may have just been deleted)",
}


def errno_message(code: int, what: str = "", context: str = "") -> str:
    """`what: reason [ERRNO]`; `context`, when given, is a plan-specific reason that replaces the
    generic one (EBUSY from TUNSETIFF means "the name is taken", not "busy")."""
    code = abs(code)
    reason = context or _GENERIC.get(code) or os.strerror(code).lower()
    name = errno.errorcode.get(code, str(code))
    text = f"{what}: {reason}" if what else reason
    return f"{text} [{name}]"


def _where(netns: str | None) -> str:
    return "the root namespace" if netns is None else f"namespace {netns}"


def _code(exc: OSError) -> int:
    code = exc.errno if exc.errno is not None else (exc.args[0] if exc.args else 0)
    return abs(int(code)) if isinstance(code, int) else 0


def explain(plan: pl.Plan, exc: OSError) -> str:
    """One line for a kernel refusal of `plan`: the errno in words, made specific to the plan."""
    code = _code(exc)
    ctx = ""
    if isinstance(plan, (pl.CreateBridge, pl.CreateTunTap)) and code in (errno.EEXIST, errno.EBUSY):
        ctx = f"a device named {plan.name} already exists in {_where(plan.netns)}"
    elif isinstance(plan, pl.CreateVethPair) and code == errno.EEXIST:
        ctx = (f"{plan.name} already exists in {_where(plan.netns)} or {plan.peer} already exists in "
               f"{_where(plan.peer_netns)}")
    elif isinstance(plan, pl.CreateNamespace) and code == errno.EEXIST:
        ctx = f"namespace {plan.name} already exists"
    elif isinstance(plan, pl.MoveToNamespace) and code == errno.EEXIST:
        ctx = f"{_where(plan.to_netns)} already has a device named {plan.device}"
    elif isinstance(plan, pl.SetMaster) and code == errno.EBUSY:
        ctx = f"{plan.device} is already enslaved to another master"
    elif isinstance(plan, pl.AddAddress) and code == errno.EEXIST:
        ctx = f"{plan.device} already has {plan.address}"
    elif isinstance(plan, pl.DelAddress) and code in (errno.EADDRNOTAVAIL, errno.ENOENT):
        ctx = f"{plan.device} has no address {plan.address}"
    elif isinstance(plan, pl.DeleteLink) and code == errno.EOPNOTSUPP:
        ctx = f"{plan.device} is a kind of device that cannot be deleted (a physical NIC, lo)"
    elif isinstance(plan, pl.CreateTunTap) and code == errno.ENOENT:
        ctx = "/dev/net/tun is missing (is the tun module loaded?)"
    return errno_message(code, f"{plan.describe()} failed", ctx)
