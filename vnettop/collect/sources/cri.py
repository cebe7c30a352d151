"""Kubernetes pods on this node, from the OCI bundles containerd's and CRI-O's CRI implementations leave.

Whatever runs a pod through the CRI starts its "sandbox" (the pause container that holds the pod's
network namespace) as an OCI container, and writes that container's runtime config into its bundle
directory, with the pod's identity as annotations:

- containerd: `/run/containerd/io.containerd.runtime.v2.task/<containerd namespace>/<id>/config.json`
  (the CRI plugin uses the `k8s.io` namespace), annotations `io.kubernetes.cri.container-type` =
  "sandbox", `io.kubernetes.cri.sandbox-name`, `-namespace`, `-uid`; the shim writes the task's pid into
  `init.pid` beside it. A pod's other containers carry `container-type` "container",
  `io.kubernetes.cri.sandbox-id` and `io.kubernetes.cri.container-name`.
- CRI-O: `/run/containers/storage/overlay-containers/<id>/userdata/config.json` (and the same under
  /var/lib/containers/storage), annotations `io.kubernetes.cri-o.ContainerType` = "sandbox",
  `io.kubernetes.pod.name`, `.namespace`, `.uid`; conmon's `pidfile` beside it. Other containers:
  `io.kubernetes.cri-o.SandboxID`, `io.kubernetes.container.name`. Podman shares those directories;
  its containers carry no `io.kubernetes.pod.*` annotation and are passed over.

The sandbox's network namespace is `linux.namespaces[type=network].path`: `/var/run/netns/cni-<uuid>`
(containerd's CRI names it so; CRI-O's pinns uses `/var/run/netns/<uuid>`), matched to the namespace of
the kernel picture by that name or bind-mount path; else (no path, a `/proc/PID/ns/net` path) by the
task's pid. A pod whose namespace is in none of the picture's (stopped, on another root) is left out; a
host-network sandbox (no network entry) is an owner of its pid alone.

One owner per pod: kind "pod", name = pod name, id = pod uid, `details.namespace` = the Kubernetes
namespace, exact (the runtime's own record), source = the config.json read. Its links: the devices in the
pod's namespace and their host-side peers, plus the Calico veth named after it (`calico.check`).

Cheap: a config.json is parsed again only when its (mtime, size) changed; `fileno` is an inotify watch on
the bundle directories' parents, so a sandbox started shows at once and an idle host reads nothing. (A
bundle directory whose config.json is not written yet when the event is read is skipped without an
error; the sandbox's process joining its namespace changes the picture, and the next read has it.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from vnettop.collect.sources import Enrichment, calico, scope
from vnettop.linux.inotify import LazyDirWatch
from vnettop.model import CollectError, Link, LinkKey, Owner, Snapshot

NAME = "cri"
#: containerd's task directory (under its state directory) and the namespace its CRI plugin uses.
TASKS = "io.containerd.runtime.v2.task"
CRI_NAMESPACE = "k8s.io"
#: CRI-O's container directories (containers/storage run root and graph root), under `root`.
CRIO_DIRS = ("run/containers/storage/overlay-containers", "var/lib/containers/storage/overlay-containers")
#: A runtime config larger than this is not a sandbox's: it is reported, not read.
MAX_CONFIG = 1 << 20
NETNS_DIRS = ("/run/netns/", "/var/run/netns/")

_CD = "io.kubernetes.cri."
_CRIO = "io.kubernetes.cri-o."
_POD = "io.kubernetes.pod."


@dataclass(frozen=True, slots=True)
class Bundle:
    """What one OCI runtime config says about the pod it belongs to (`kind` "sandbox" or "container")."""

    runtime: str  # "containerd" / "cri-o"
    path: str  # the config.json, as the owner's source
    id: str  # the container id (its bundle directory's name)
    kind: str
    pod_name: str | None
    pod_namespace: str | None
    pod_uid: str | None
    sandbox_id: str | None  # a container's sandbox (a sandbox's own id)
    container_name: str | None
    netns_path: str | None  # None: no network namespace entry (host network); "": one without a path
    pid: int | None


def _annotations_of(runtime: str, ann: dict[str, str], ident: str) -> tuple[str, ...] | None:
    """(kind, pod name, pod namespace, pod uid, sandbox id, container name), or None: not a CRI bundle."""
    if runtime == "containerd":
        kind = ann.get(f"{_CD}container-type")
        if kind is None:
            return None
        return (kind, ann.get(f"{_CD}sandbox-name", ""), ann.get(f"{_CD}sandbox-namespace", ""),
                ann.get(f"{_CD}sandbox-uid", ""), ann.get(f"{_CD}sandbox-id", ident),
                ann.get(f"{_CD}container-name", ""))
    kind = ann.get(f"{_CRIO}ContainerType")
    if kind is None or not any(k.startswith(_POD) for k in ann):
        return None  # Podman's containers live in the same directories, with no pod annotations
    return (kind, ann.get(f"{_POD}name", ""), ann.get(f"{_POD}namespace", ""), ann.get(f"{_POD}uid", ""),
            ann.get(f"{_CRIO}SandboxID", ident), ann.get("io.kubernetes.container.name", ""))


def parse_config(runtime: str, path: str, ident: str, text: str, pid: int | None) -> Bundle | None:
    """The `Bundle` of an OCI config.json's text; None when it is not a CRI container. Raises ValueError
    (one line) on JSON that is not an OCI config, or a sandbox that lacks the pod's identity."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(config, dict):
        raise ValueError("not an OCI runtime config (not a JSON object)")
    ann = config.get("annotations") or {}
    if not isinstance(ann, dict):
        raise ValueError("'annotations' is not an object")
    ann = {str(k): str(v) for k, v in ann.items()}
    found = _annotations_of(runtime, ann, ident)
    if found is None:
        return None
    kind, name, namespace, uid, sandbox, container = found
    if kind == "sandbox":
        pairs = (("name", name), ("namespace", namespace), ("uid", uid))
        missing = [what for what, value in pairs if not value]
        if missing:
            raise ValueError(f"a sandbox without the pod's {', '.join(missing)} annotation")
    linux = config.get("linux") or {}
    spaces = linux.get("namespaces") if isinstance(linux, dict) else None
    netns: str | None = None
    for entry in spaces if isinstance(spaces, list) else ():
        if isinstance(entry, dict) and entry.get("type") == "network":
            netns = str(entry.get("path") or "")
    return Bundle(runtime, path, ident, kind, name or None, namespace or None, uid or None, sandbox or None,
                  container or None, netns, pid)


def _read_small(path: str, limit: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(limit + 1)
    if len(text) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return text


def _pid(path: str) -> int | None:
    try:
        return int(_read_small(path, 32).strip())
    except (OSError, ValueError):
        return None


class CriSource:
    """The `cri` source (see the module docstring).

    `containerd_state`: containerd's state directory (its config's `state`), when not /run/containerd
    under `root`.
    """

    name = NAME

    def __init__(self, root: str = "/", containerd_state: str | None = None) -> None:
        self.root = root
        state = containerd_state or os.path.join(root, "run/containerd")
        self.tasks = os.path.join(state, TASKS)
        self.crio = tuple(os.path.join(root, d) for d in CRIO_DIRS)
        self._cache: dict[str, tuple[tuple[int, int], Bundle | None]] = {}
        self._watch = LazyDirWatch(self._watched)

    def _watched(self) -> tuple[str, ...]:
        return (self.tasks, os.path.join(self.tasks, CRI_NAMESPACE), *self.crio)

    def available(self) -> bool:
        return any(os.path.isdir(d) for d in self._watched())

    def fileno(self) -> int | None:
        return self._watch.fileno()

    def close(self) -> None:
        self._watch.close()

    def _configs(self) -> Iterator[tuple[str, str, str, str]]:
        """(runtime, config.json path, container id, pid file) of every bundle directory there is."""
        task_dir = os.path.join(self.tasks, CRI_NAMESPACE)
        for ident in _listdir(task_dir):
            bundle = os.path.join(task_dir, ident)
            yield "containerd", os.path.join(bundle, "config.json"), ident, os.path.join(bundle, "init.pid")
        seen: set[str] = set()
        for top in self.crio:
            for ident in _listdir(top):
                if ident in seen:
                    continue
                userdata = os.path.join(top, ident, "userdata")
                config = os.path.join(userdata, "config.json")
                if os.path.exists(config):
                    seen.add(ident)
                    yield "cri-o", config, ident, os.path.join(userdata, "pidfile")

    def bundles(self) -> tuple[list[Bundle], list[CollectError]]:
        """Every CRI bundle there is (cached by its config's mtime and size), and what could not be read."""
        out: list[Bundle] = []
        errors: list[CollectError] = []
        live: set[str] = set()
        for runtime, path, ident, pidfile in self._configs():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue  # a bundle being made or removed: its config comes (or goes) with the next event
            except OSError as exc:
                errors.append(CollectError(scope(NAME), f"cannot read {path}: {exc.strerror or exc}"))
                continue
            live.add(path)
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                bundle = cached[1]
            else:
                try:
                    bundle = parse_config(runtime, path, ident, _read_small(path, MAX_CONFIG), None)
                except (OSError, ValueError, UnicodeDecodeError) as exc:
                    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                    errors.append(CollectError(scope(NAME), f"cannot read {path}: {why}"))
                    self._cache.pop(path, None)
                    continue
                self._cache[path] = (stamp, bundle)
            if bundle is not None:
                named = bundle.netns_path is not None and bundle.netns_path.startswith(NETNS_DIRS)
                if bundle.kind == "sandbox" and not named:
                    bundle = replace(bundle, pid=_pid(pidfile))  # the pid is its only way to a namespace
                out.append(bundle)
        for gone in set(self._cache) - live:
            del self._cache[gone]
        return out, errors

    def read(self, base: Snapshot) -> Enrichment:
        self._watch.drain()
        bundles, errors = self.bundles()
        return Enrichment(owners=pod_owners(bundles, base), errors=tuple(errors))


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _netns_key(path: str) -> str:
    """A bind mount's path as the picture spells it (/var/run is /run on every current distribution)."""
    return "/run/" + path[len("/var/run/"):] if path.startswith("/var/run/") else path


def namespace_devices(inode: int, links_in: dict[int, list[Link]],
                      by_key: dict[LinkKey, Link]) -> tuple[set[LinkKey], list[Link]]:
    """What a namespace's owner owns of the picture: its devices (not its loopback) and their peers in
    other namespaces (a pod's host-side veth); and those peers."""
    own: set[LinkKey] = set()
    peers: list[Link] = []
    for link in links_in.get(inode, []):
        if link.kind == "loopback":
            continue
        own.add(link.key)
        if link.peer is not None and link.peer.netns != inode and link.peer.key in by_key:
            own.add(link.peer.key)
            peers.append(by_key[link.peer.key])
    return own, peers


def pod_owners(bundles: list[Bundle], base: Snapshot) -> tuple[Owner, ...]:
    """One owner per sandbox whose namespace (or, host-network, pid) is in `base` (module docstring)."""
    if not any(b.kind == "sandbox" for b in bundles):
        return ()  # no pod: the picture need not be indexed
    by_name: dict[str, int] = {}
    by_mount: dict[str, int] = {}
    by_pid: dict[int, int] = {}
    pids_of: dict[int, tuple[int, ...]] = {}
    root = base.root.inode if base.root is not None else None
    for ns in base.namespaces:
        pids_of[ns.inode] = ns.pids
        for n in ns.names:
            by_name.setdefault(n, ns.inode)
        for m in ns.mounts:
            by_mount.setdefault(_netns_key(m), ns.inode)
        for pid in ns.pids:
            by_pid[pid] = ns.inode
    links_in: dict[int, list[Link]] = {}
    links_by_name: dict[str, list[Link]] = {}
    by_key: dict[LinkKey, Link] = {}
    for link in base.links:
        links_in.setdefault(link.netns, []).append(link)
        links_by_name.setdefault(link.name, []).append(link)
        by_key[link.key] = link
    containers: dict[str, list[str]] = {}
    for b in bundles:
        if b.kind != "sandbox" and b.sandbox_id and b.container_name:
            containers.setdefault(b.sandbox_id, []).append(b.container_name)
    owners: list[Owner] = []
    for b in bundles:
        if b.kind != "sandbox" or not (b.pod_name and b.pod_namespace and b.pod_uid):
            continue
        inode: int | None = None
        matched = ""
        if b.netns_path:
            key = _netns_key(b.netns_path)
            if key.startswith("/run/netns/") and key.count("/") == 3:
                inode = by_name.get(key[len("/run/netns/"):])
            if inode is None:
                inode = by_mount.get(key)
            matched = f"network namespace {b.netns_path}" if inode is not None else ""
        if inode is None and b.pid is not None and b.pid in by_pid:
            inode = by_pid[b.pid]
            matched = f"the sandbox's pid {b.pid}"
        if inode is None:
            continue  # stopped, or not on this picture's host
        details = {"namespace": b.pod_namespace, "sandbox": b.id, "matched": matched}
        names = sorted(set(containers.get(b.id, [])))
        if names:
            details["containers"] = ", ".join(names)
        pods_ns: tuple[int, ...] = ()
        links: set[LinkKey] = set()
        pids: tuple[int, ...] = ()
        if inode == root:
            details["network"] = "host"
            pids = (b.pid,) if b.pid is not None and b.pid in by_pid else ()
        else:
            pods_ns = (inode,)
            pids = pids_of[inode]
            own, peers = namespace_devices(inode, links_in, by_key)
            links.update(own)
            cali, note = calico.check(b.pod_namespace, b.pod_name, peers, links_by_name)
            links.update(cali)
            if note is not None:
                details["calico"] = note
        owners.append(Owner(kind="pod", name=b.pod_name, id=b.pod_uid, runtime=b.runtime, source=b.path,
                            exact=True, details=tuple(sorted(details.items())), links=tuple(sorted(links)),
                            namespaces=pods_ns, pids=tuple(sorted(pids))))
    owners.sort(key=lambda o: (o.name, o.id or ""))
    return tuple(owners)
