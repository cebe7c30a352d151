"""Joining tun fds found in /proc to the tun/tap devices found over netlink.

An exact fd (asked of the kernel: TUNGETIFF + TUNGETDEVNETNS) names its device by (namespace inode,
name), which is unique. A name-only fd (fdinfo `iff:`) is matched by name, which is unique only while
no other namespace has a tun/tap of that name; when several do, the holder is NOT guessed: the
ambiguity is reported in the errors and the fd is left unattributed.

A holder's vhost fds (`/dev/vhost-net`) are the holding *process's*: the kernel does not say which tap
a vhost fd serves (VHOST_NET_SET_BACKEND has no getter), so a process holding two taps shows all of
its vhost fds on both.

What is not known is not "none" (model.TunInfo): when the scan could not read every process's fds
(`ProcScan.complete` is False: not root), a device with no holder found gets `holders=None` (unknown), and
one with holders found keeps them with `holders_complete=False`; so does a device whose name an
unattributed (ambiguous) fd carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from vnettop.collect.types import ProcScan, TunFd
from vnettop.model import CollectError, Link, TunHolder


def attach_holders(links: Sequence[Link],
                   scan: ProcScan) -> tuple[tuple[Link, ...], tuple[CollectError, ...]]:
    """`links` (same order) with `tun.holders` filled from `scan`, and the fds that could not be placed."""
    by_key: dict[tuple[int, str], Link] = {}
    namespaces_of: dict[str, set[int]] = {}
    for link in links:
        if link.tun is not None:
            by_key[(link.netns, link.name)] = link
            namespaces_of.setdefault(link.name, set()).add(link.netns)

    comm = {proc.pid: proc.comm for procs in scan.processes.values() for proc in procs}
    vhost: Mapping[int, tuple[int, ...]] = scan.vhost_fds
    placed: dict[tuple[int, str], dict[int, list[TunFd]]] = {}  # device key -> pid -> its fds on it
    ambiguous: dict[tuple[int, str], list[int]] = {}  # (pid, name) -> fds
    for fd in scan.tun_fds:
        if fd.iff is None:
            continue  # opened, not attached to any device (yet)
        if fd.exact and fd.netns is not None:
            key = (fd.netns, fd.iff)
            if key not in by_key:
                continue  # its namespace was not read, or the device went away meanwhile
        else:
            homes = namespaces_of.get(fd.iff, set())
            if len(homes) != 1:
                if homes:
                    ambiguous.setdefault((fd.pid, fd.iff), []).append(fd.fd)
                continue
            key = (next(iter(homes)), fd.iff)
        placed.setdefault(key, {}).setdefault(fd.pid, []).append(fd)

    unattributed = {name for (_pid, name) in ambiguous}
    out: list[Link] = []
    for link in links:
        if link.tun is None:
            out.append(link)
            continue
        by_pid = placed.get((link.netns, link.name), {})
        found = tuple(
            TunHolder(pid, comm.get(pid, "?"), tuple(sorted({f.fd for f in fds})), all(f.exact for f in fds),
                      tuple(vhost.get(pid, ())))
            for pid, fds in sorted(by_pid.items())
        )
        complete = scan.complete and link.name not in unattributed
        holders = found if found or complete else None
        if (holders, complete) == (link.tun.holders, link.tun.holders_complete):
            out.append(link)  # the collector hands back last tick's links: mostly unchanged
        else:
            tun = dataclasses.replace(link.tun, holders=holders, holders_complete=complete)
            out.append(dataclasses.replace(link, tun=tun))

    errors = tuple(_ambiguity(pid, comm.get(pid, "?"), name, fds, namespaces_of[name])
                   for (pid, name), fds in sorted(ambiguous.items()))
    return tuple(out), errors


def _ambiguity(pid: int, comm: str, name: str, fds: list[int], homes: set[int]) -> CollectError:
    fd_list = ", ".join(map(str, sorted(fds)))
    ns_list = ", ".join(map(str, sorted(homes)))
    return CollectError(
        f"pid {pid}",
        f"{comm} holds a tun/tap named {name!r} (fd {fd_list}) but {len(homes)} namespaces have one "
        f"({ns_list}) and only its name is known: not attributed (the exact lookup needs root and "
        "kernel >= 5.6)",
    )
