"""Intermediate records passed between the collector's parts before they become a Snapshot.

These are the seams between namespace discovery, netlink decoding, the /proc scan and the joining
done by `collector.py`; each part can be tested on its own against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vnettop.model import CollectError, Link, NsFd, Process, pickled_by_constructor


@dataclass(frozen=True, slots=True)
class NsEntry:
    """A discovered network namespace and a path that opens it (for setns / NETNSA_FD)."""

    inode: int
    names: tuple[str, ...]  # sorted; /run/netns and /run/docker/netns names
    root: bool  # the namespace the collector runs in
    path: str  # /run/netns/NAME, /run/docker/netns/ID, a mount path, /proc/PID/ns/net or /proc/PID/fd/N
    pids: tuple[int, ...]  # processes in it, sorted
    #: nsfs bind mounts of it elsewhere than /run/netns and /run/docker/netns, as file system paths
    #: (undecodable bytes as surrogates: they must still open), sorted.
    mounts: tuple[str, ...] = ()
    fds: tuple[NsFd, ...] = ()  # processes' open fds on it (not vnettop's own), by pid then fd


@dataclass(frozen=True, slots=True)
class Discovery:
    """The namespaces found, and which namespace every visible process is in."""

    namespaces: tuple[NsEntry, ...]  # root first, then by inode
    pid_netns: dict[int, int]  # pid -> nsfs inode of its network namespace
    errors: tuple[CollectError, ...] = ()
    #: False when some processes' namespaces could not be read (not root): every `pids` may lack some.
    pids_complete: bool = True
    #: Every pid /proc listed when this was made (None: not said), so the /proc scan after it need not
    #: list /proc again (~0.2-0.7 ms at ~400 processes).
    pids: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class LinkDraft:
    """A device as decoded from one namespace's dump, before cross-namespace references are resolved.

    `link` has `master`, `lower` and `peer` unset and no tun holders; the raw indexes needed to
    resolve them travel beside it.
    """

    link: Link
    master_ifindex: int | None  # IFLA_MASTER (always the same namespace)
    link_ifindex: int | None  # IFLA_LINK: veth peer / lower device index, in the namespace below
    link_nsid: int | None  # IFLA_LINK_NETNSID as seen from this namespace; None = same namespace


@dataclass(frozen=True, slots=True)
class TunFd:
    """One fd on /dev/net/tun held by a process, and the device it is attached to."""

    pid: int
    fd: int
    iff: str | None  # device name (TUNGETIFF or fdinfo `iff:`); None if not attached to any device
    netns: int | None  # nsfs inode of the device's namespace when known exactly (TUNGETDEVNETNS)
    exact: bool  # True: name and namespace from the kernel about this fd; False: name match only


@dataclass(frozen=True, slots=True)
class ProcScan:
    """What the /proc scan found: tun fds, and the processes worth showing per namespace."""

    tun_fds: tuple[TunFd, ...]
    processes: dict[int, tuple[Process, ...]] = field(default_factory=dict)  # netns inode -> by pid
    errors: tuple[CollectError, ...] = ()
    #: pid -> its /dev/vhost-net fds, sorted, for tun holders that have any (the kernel does not say which
    #: tap a vhost fd serves, so they belong to the process).
    vhost_fds: dict[int, tuple[int, ...]] = field(default_factory=dict)
    #: True only if every process's fds were read (so a device no fd names is really not held); False
    #: without root (other users' fd directories are EACCES) or when the scan failed.
    complete: bool = True
    #: nsfs inode -> the fds processes hold on that network namespace (vnettop's own excluded).
    ns_fds: dict[int, tuple[NsFd, ...]] = field(default_factory=dict)


for _cls in (NsEntry, Discovery, LinkDraft, TunFd, ProcScan):
    pickled_by_constructor(_cls)
