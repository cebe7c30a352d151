"""Whose is a namespace, told by the cgroup of the processes in it, where nothing better exists.

Every process is in one cgroup, and the runtimes name the cgroups they make after what they run
(`/proc/PID/cgroup`: the unified `0::/path` line, else the v1 `name=systemd` one, else any):

- Kubernetes (the kubelet): `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with
  '_' for '-'>.slice/…` (systemd cgroup driver) or `/kubepods/burstable/pod<uid>/<container id>`
  (cgroupfs driver) -> kind "pod", id = the pod uid (the key the `cri` source's exact owner has);
- Docker: `docker-<id>.scope` (systemd) or `/docker/<id>` (cgroupfs) -> a container, runtime docker, id
  = the full container id; Podman: `libpod-<id>.scope` -> a container, runtime podman;
- LXC and what runs on it (LXD, Incus): `lxc.payload.<name>` (or `lxc.payload/<name>`) -> a container
  named <name>; runtime incus / lxd / lxc when that runtime's directory for <name> exists under `root`
  (/var/lib/incus/containers, /var/snap/lxd/common/lxd/containers or /var/lib/lxd/containers,
  /var/lib/lxc), else lxc; a `<project>_<name>` payload is <name> of that project;
- systemd: a process of `system.slice/<unit>.service` -> kind "service", the unit (PrivateNetwork=,
  NetworkNamespacePath=, or a unit that made the namespace).

`user.slice` (a login session, `ip netns exec` from a shell, `unshare -n`) and `init.scope` give no
owner: a person's shell that entered a namespace does not own it, and naming it after a session scope
would be wrong as soon as the shell left. Only non-root namespaces are asked about.

Every answer is `source` "cgroup". Exact only for `lxc.payload.<name>` confirmed by the runtime's own
directory: liblxc names that cgroup after the container and the runtime keeps the container under that
very name, so name and runtime are both the runtime's records. The others are `exact` False: the
cgroup carries an id but not the name (a pod's name, a container's name), and a process in a unit may
only have entered the namespace; they merge with the exact sources' owners of the same (kind, id)
(`enrich.merge_owners`), which give the names. A pod or container's `name` here is what its cgroup
calls it (`pod<uid>`, the 12-character short id), and `details.note` says the real name is not known.

Cheap: at most two pids per namespace are read (the lowest first: a container's init, a pod's pause),
and their answer is kept by (pid, start time): a re-read costs one line of `/proc/PID/stat` per namespace,
and nothing for a namespace whose record is the very object of the last read (the collector hands back
the same `Namespace` while its pids and processes stay the same: a pid cannot be reused by another
process meanwhile, as its old process would have to leave the namespace's pid list first). At 1000
namespaces with processes, that is ~7 ms less on each tick where anything else changed.
Fd-less: the `SourceSet` asks again when the kernel picture's structure (pids included) changed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vnettop.collect.sources import Enrichment, scope
from vnettop.collect.sources.cri import namespace_devices
from vnettop.model import CollectError, Link, LinkKey, Namespace, Owner, Snapshot

NAME = "cgroups"
SOURCE = "cgroup"
#: Pids of one namespace read at most (the first may be a helper with nothing to say).
PIDS_PER_NAMESPACE = 2
#: Bytes of a /proc/PID/cgroup read at most (a v1 host has a dozen short lines).
MAX_CGROUP = 16384

_UID = r"[0-9a-f]{8}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{12}"
_POD = re.compile(rf"(?:^|/)kubepods\b.*?pod({_UID})(?:\.slice)?"
                  r"(?:/(?:(cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?)?(?:/|$)")
_QOS = re.compile(r"kubepods[-/](besteffort|burstable)")
#: The systemd driver's container scope prefix -> the runtime that made it.
_SCOPE_RUNTIME = {"cri-containerd": "containerd", "crio": "cri-o", "docker": "docker"}
_DOCKER = re.compile(r"(?:^|/)(?:docker-([0-9a-f]{64})\.scope|docker/([0-9a-f]{64}))(?:/|$)")
_LIBPOD = re.compile(r"(?:^|/)libpod-([0-9a-f]{64})\.scope(?:/|$)")
_LXC = re.compile(r"(?:^|/)lxc\.payload[./]([^/]+)(?:/|$)")
_SERVICE = re.compile(r"(?:^|/)system\.slice/(?:[^/]+\.slice/)*([^/]+\.service)(?:/|$)")
#: Where each runtime keeps a container by name, under root, most specific first.
LXC_HOMES = (("incus", "var/lib/incus/containers"), ("lxd", "var/snap/lxd/common/lxd/containers"),
             ("lxd", "var/lib/lxd/containers"), ("lxc", "var/lib/lxc"))


@dataclass(frozen=True, slots=True)
class Found:
    """What one process's cgroup says about its owner."""

    kind: str
    id: str
    name: str
    runtime: str
    exact: bool
    details: tuple[tuple[str, str], ...]


def cgroup_path(text: str) -> str | None:
    """The path to classify from a /proc/PID/cgroup text: the unified line's, else systemd's v1, else
    the first non-root one."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths.setdefault("unified" if parts[0] == "0" and not parts[1] else parts[1], parts[2])
    for key in ("unified", "name=systemd"):
        if paths.get(key, "/") != "/":
            return paths[key]
    return next((p for p in paths.values() if p != "/"), None)


def classify(path: str, root: str = "/") -> Found | None:
    """The owner a cgroup path names (module docstring), None when it names none."""
    m = _POD.search(path)
    if m:
        uid = m.group(1).replace("_", "-")
        qos = _QOS.search(path)
        details = {"cgroup": path, "qos": qos.group(1) if qos else "guaranteed",
                   "note": "the pod's name is not in its cgroup (pod<uid> is the kubelet's name for it)"}
        if m.group(3):
            details["container"] = m.group(3)
        runtime = _SCOPE_RUNTIME.get(m.group(2) or "", "kubernetes")
        return Found("pod", uid, f"pod{uid}", runtime, False, tuple(sorted(details.items())))
    for pattern, runtime in ((_DOCKER, "docker"), (_LIBPOD, "podman")):
        m = pattern.search(path)
        if m:
            ident = next(g for g in m.groups() if g)
            note = "the container's name is not in its cgroup (its short id is)"
            return Found("container", ident, ident[:12], runtime, False,
                         (("cgroup", path), ("note", note)))
    m = _LXC.search(path)
    if m:
        payload = m.group(1)
        runtime, exact = "lxc", False
        for name, home in LXC_HOMES:
            if os.path.isdir(os.path.join(root, home, payload)):
                runtime, exact = name, True
                break
        details = {"cgroup": path}
        project, _, bare = payload.rpartition("_")
        if project and runtime in ("incus", "lxd"):  # a non-default project's instance: <project>_<name>
            details["project"] = project
        else:
            bare = payload
        return Found("container", payload, bare, runtime, exact, tuple(sorted(details.items())))
    m = _SERVICE.search(path)
    if m:
        return Found("service", m.group(1), m.group(1), "systemd", False, (("cgroup", path),))
    return None


def _start_time(stat: str) -> str:
    """Field 22 (starttime) of a /proc/PID/stat line; the command may hold spaces and parentheses."""
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def _read(path: str, limit: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(limit)


class CgroupSource:
    """The `cgroups` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self.proc = os.path.join(root, "proc")
        #: pid -> (start time, what its cgroup said): a pid re-used by another process is read again.
        self._cache: dict[int, tuple[str, Found | None]] = {}
        #: namespace inode -> (the Namespace record last read, its answer, the pid and error that failed).
        self._by_ns: dict[int, tuple[Namespace, Found | None, tuple[int, OSError] | None]] = {}

    def available(self) -> bool:
        return os.path.isdir(self.proc)

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass

    def found(self, pid: int) -> Found | None:
        """What pid's cgroup says (cached by start time). Raises OSError naming the file it could not read."""
        base = os.path.join(self.proc, str(pid))
        start = _start_time(_read(os.path.join(base, "stat"), 4096))
        cached = self._cache.get(pid)
        if cached is not None and cached[0] == start:
            return cached[1]
        path = cgroup_path(_read(os.path.join(base, "cgroup"), MAX_CGROUP))
        answer = classify(path, self.root) if path else None
        self._cache[pid] = (start, answer)
        return answer

    def read(self, base: Snapshot) -> Enrichment:
        if not self.available():
            return Enrichment(owners=())
        errors: list[CollectError] = []
        # The devices by namespace and by key, made when a first namespace has an owner (a host of 5000
        # devices and no owned namespace spent ~1.5 ms a read on them).
        links_in: dict[int, list[Link]] = {}
        by_key: dict[LinkKey, Link] = {}
        owners: dict[tuple[str, str], tuple[Found, set[int], set[LinkKey], set[int]]] = {}
        asked: set[int] = set()
        last, self._by_ns = self._by_ns, {}
        for ns in base.namespaces:
            if ns.root or not ns.pids:
                continue
            answer: Found | None = None
            failed: tuple[int, OSError] | None = None
            pids = sorted(ns.pids)[:PIDS_PER_NAMESPACE]
            asked.update(pids)
            before = last.get(ns.inode)
            if before is not None and before[0] is ns:
                answer, failed = before[1], before[2]
            else:
                for pid in pids:
                    try:
                        answer = self.found(pid)
                    except OSError as why:
                        failed = failed or (pid, why)
                        continue
                    if answer is not None:
                        break
            self._by_ns[ns.inode] = (ns, answer, failed)
            if answer is None:
                if failed is not None:
                    bad, error = failed
                    gone = isinstance(error, FileNotFoundError)
                    what = "the process is gone" if gone else (error.strerror or str(error))
                    file = error.filename or os.path.join(self.proc, str(bad), "cgroup")
                    message = f"cannot read {file} (namespace {ns.inode}): {what}"
                    errors.append(CollectError(scope(NAME), message))
                continue
            entry = owners.setdefault((answer.kind, answer.id), (answer, set(), set(), set()))
            entry[1].add(ns.inode)
            if not by_key:
                for link in base.links:
                    links_in.setdefault(link.netns, []).append(link)
                    by_key[link.key] = link
            own, _peers = namespace_devices(ns.inode, links_in, by_key)
            entry[2].update(own)
            entry[3].update(ns.pids)
        for pid in set(self._cache) - asked:
            del self._cache[pid]
        out = [Owner(kind=f.kind, name=f.name, id=f.id, runtime=f.runtime, source=SOURCE, exact=f.exact,
                     details=f.details, links=tuple(sorted(links)), namespaces=tuple(sorted(inodes)),
                     pids=tuple(sorted(pids)))
               for f, inodes, links, pids in owners.values()]
        out.sort(key=lambda o: (o.kind, o.name, o.id or ""))
        return Enrichment(owners=tuple(out), errors=tuple(errors))
