"""Kernel refusals, translated: an errno and the plan it hit become one clear line for a human."""

from __future__ import annotations

import errno
import os

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
