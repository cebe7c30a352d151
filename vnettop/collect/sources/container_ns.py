"""What a container runtime's record of a container points at in the kernel picture: its namespace, the
devices in it and their host-side veth peers, and its processes.

Shared by the Docker and Podman sources, which both end up with a container's main pid and the path its
runtime bind-mounted the namespace at. The pid is asked first (`/proc/PID/ns/net` is the kernel's own
answer); the path is matched against the base picture's names and nsfs mounts when the pid cannot be read
(another user's process without root, a pid that just exited). Everything is looked up in the base
picture, so an owner only ever points at the picture's own keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from vnettop.model import Link, LinkKey, Namespace, Snapshot

#: Longest /proc/PID/cgroup read (a process in thousands of cgroups is not a container's).
_CGROUP_MAX = 65536


def pid_netns(root: str, pid: int) -> int | None:
    """The inode of `root/proc/PID/ns/net`, or None when it cannot be read (gone, not root)."""
    if pid <= 0:
        return None
    try:
        text = os.readlink(os.path.join(root, "proc", str(pid), "ns", "net"))
    except OSError:
        return None
    if text.startswith("net:[") and text.endswith("]") and text[5:-1].isdigit():
        return int(text[5:-1])
    return None


class Picture:
    """The base picture indexed once per read (a host with hundreds of containers asks it hundreds of
    times): namespaces by inode, by nsfs mount path and by name, devices by namespace, every pid.

    Each index is made when first asked: a host with no container asks none of the device indexes, and
    on a host of 5000 devices they were ~2.5 ms of every read after a change of structure."""

    def __init__(self, base: Snapshot) -> None:
        self.base = base

    @cached_property
    def by_inode(self) -> dict[int, Namespace]:
        return {ns.inode: ns for ns in self.base.namespaces}

    @cached_property
    def by_mount(self) -> dict[str, Namespace]:
        out: dict[str, Namespace] = {}
        for ns in self.base.namespaces:
            for mount in ns.mounts:
                out.setdefault(mount, ns)
        return out

    @cached_property
    def by_name(self) -> dict[str, Namespace]:
        out: dict[str, Namespace] = {}
        for ns in self.base.namespaces:
            for name in ns.names:
                out.setdefault(name, ns)
        return out

    @cached_property
    def links_in(self) -> dict[int, list[Link]]:
        out: dict[int, list[Link]] = {}
        for link in self.base.links:
            out.setdefault(link.netns, []).append(link)
        return out

    @cached_property
    def keys(self) -> set[LinkKey]:
        return {link.key for link in self.base.links}

    @cached_property
    def pids(self) -> set[int]:
        return {p for ns in self.base.namespaces for p in ns.pids}

    def namespace_of(self, root: str, pid: int, path: str) -> Namespace | None:
        """A container's namespace: by its pid's link, else by the bind-mount `path` (an nsfs mount the
        picture lists, or a name in /run/netns or /run/docker/netns by basename)."""
        inode = pid_netns(root, pid)
        if inode is not None and inode in self.by_inode:
            return self.by_inode[inode]
        if path:
            return self.by_mount.get(path) or self.by_name.get(os.path.basename(path.rstrip("/")))
        return None

    def claim(self, ns: Namespace | None, pids: tuple[int, ...]) -> Claim:
        """The devices of `ns` (loopback left out: every namespace has one, it tells nothing about who
        owns it) plus the host-side ends of their veth peers, the namespace, and those of `pids` the
        picture has in it. The root namespace is never claimed (a `--network host` container shares it
        with everyone): only its pids are."""
        if ns is None or ns.root:
            return Claim((), (), tuple(sorted({p for p in pids if p in self.pids})))
        links: set[LinkKey] = set()
        for link in self.links_in.get(ns.inode, ()):
            if link.kind == "loopback":
                continue
            links.add(link.key)
            if link.peer is not None and link.peer.netns != ns.inode and link.peer.key in self.keys:
                links.add(link.peer.key)
        inside = set(ns.pids)
        return Claim(tuple(sorted(links)), (ns.inode,), tuple(sorted({p for p in pids if p in inside})))


@dataclass(frozen=True, slots=True)
class Claim:
    """What an owner points at: sorted keys and inodes, and the namespace's own pids it claims."""

    links: tuple[LinkKey, ...]
    namespaces: tuple[int, ...]
    pids: tuple[int, ...]


def pids_in_cgroup(root: str, ns: Namespace | None, token: str) -> list[int]:
    """The namespace's pids whose /proc/PID/cgroup mentions `token` (a container id): a container's
    `docker exec` processes are its own, while another container sharing the namespace
    (`--network container:X`) has its own id in its cgroup path."""
    if ns is None or ns.root or not token or len(ns.pids) < 2:
        return []  # a lone process is the container's main pid, which the caller has already
    out = []
    for pid in ns.pids:
        path = os.path.join(root, "proc", str(pid), "cgroup")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(_CGROUP_MAX)
        except OSError:
            continue
        if token in text:
            out.append(pid)
    return out
