"""Docker: which container a namespace, its devices and their host-side veths belong to.

Two readings of dockerd's own state, the better first:
- the Engine API over its unix socket (`GET /containers/json`, then `GET /containers/{id}/json` for each
  running container not seen before: the list lacks the pid and the sandbox path). Source "docker.sock"
  (the socket's file name), exact: it is the daemon's answer. An inspected container is remembered while
  its pid stays in the kernel picture, so a steady host costs one list per read;
- when the socket is absent, refuses (the daemon stopped or mid-restart), hangs or answers nonsense: the
  `config.v2.json` dockerd keeps per container under its data root (`containers/<id>/config.v2.json`:
  Name, ID, Config.Image, State.Running/Pid, NetworkSettings.SandboxKey/Networks). Source
  "config.v2.json", exact as well: it is docker's own record, written by the daemon. A stale file of a
  stopped daemon says Running with a dead pid; such a container is found in no namespace and left out.
A failure is one error naming the socket or file and why; what was read stays. The whole read of the
socket has one budget (`TIMEOUT`), so a hung daemon delays the collect by at most that.

A container's namespace is its State.Pid's `/proc/PID/ns/net`, else its SandboxKey (the bind mount dockerd
made, `<exec-root>/netns/<12 hex>`) among the picture's names and nsfs mounts (`container_ns`). Its owner
points at that namespace, the devices in it and their host-side veth peers, and its pids: the main pid
and the namespace's processes whose cgroup names the container id (`docker exec`). `details.sandbox` is
the SandboxKey's basename: the name `docker inspect` gives the namespace, whichever exec-root it is under.

Settings (`registry.make_sources`, `{"docker": {"socket": PATH, "data_root": PATH}}`): reading the live host
(root "/") the socket is else `$VNETTOP_DOCKER_HOST`, a `unix://` `$DOCKER_HOST`, or /run/docker.sock;
under any other root (a fixture tree) `<root>/run/docker.sock` and `<root>/var/lib/docker`.

`fileno()`: inotify on `<data-root>/containers` and each container's directory in it (dockerd rewrites
config.v2.json there on every create, start, stop, rename and removal). The same watch spares the
daemon: a read while it saw nothing (the source is re-read because the kernel picture changed: a
device or a namespace came or went) reuses the last list of containers, joined to the new picture,
unless one of their pids is gone or the last read had an error; 200 containers cost dockerd ~12 ms
of listing and the source ~8 ms of JSON per read otherwise.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from vnettop.collect.sources import Enrichment, scope
from vnettop.collect.sources.container_ns import Picture, pids_in_cgroup
from vnettop.collect.sources.unixhttp import UnixHttpError, get_json
from vnettop.linux import inotify
from vnettop.linux.inotify import DirWatch
from vnettop.model import CollectError, Owner, Snapshot

NAME = "docker"
#: Longest the socket may take over one read, every request together (seconds).
TIMEOUT = 0.5
#: Largest config.v2.json read (a real one is a few KiB).
MAX_FILE = 4 << 20
FILE_SOURCE = "config.v2.json"


@dataclass(frozen=True, slots=True)
class Container:
    """What the source needs of one running container, from either reading."""

    id: str
    name: str
    image: str
    pid: int
    sandbox_key: str
    #: (network name, address/prefix or "", MAC or ""), by network name.
    networks: tuple[tuple[str, str, str], ...]
    network_mode: str = ""


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def parse_container(doc: object) -> Container | None:
    """A `docker inspect` object or a config.v2.json document -> Container; None when not running.

    Raises ValueError when it is not one at all (no id)."""
    d = _dict(doc)
    ident = _str(d.get("Id")) or _str(d.get("ID"))
    if not ident:
        raise ValueError("no container id in it")
    state = _dict(d.get("State"))
    pid = state.get("Pid")
    if state.get("Running") is not True or not isinstance(pid, int) or pid <= 0:
        return None
    settings = _dict(d.get("NetworkSettings"))
    nets = []
    for net, ep in sorted(_dict(settings.get("Networks")).items()):
        e = _dict(ep)
        ip, plen = _str(e.get("IPAddress")), e.get("IPPrefixLen")
        addr = f"{ip}/{plen}" if ip and isinstance(plen, int) and plen else ip
        nets.append((str(net), addr, _str(e.get("MacAddress"))))
    return Container(id=ident, name=_str(d.get("Name")).lstrip("/") or ident[:12],
                     image=_str(_dict(d.get("Config")).get("Image")), pid=pid,
                     sandbox_key=_str(settings.get("SandboxKey")), networks=tuple(nets),
                     network_mode=_str(_dict(d.get("HostConfig")).get("NetworkMode")))


def _socket_path(root: str, given: str | None) -> str:
    value = given
    if value is None and root == "/":
        host = os.environ.get("DOCKER_HOST", "")
        value = os.environ.get("VNETTOP_DOCKER_HOST") or (host if host.startswith("unix://") else None)
    if value is None:
        return os.path.join(root, "run", "docker.sock")
    return value[len("unix://"):] if value.startswith("unix://") else value


class DockerSource:
    """The `docker` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/", socket: str | None = None, data_root: str | None = None) -> None:
        self.root = root
        self.socket = _socket_path(root, socket)
        self.data_root = data_root or os.path.join(root, "var", "lib", "docker")
        self.containers_dir = os.path.join(self.data_root, "containers")
        self.label = os.path.basename(self.socket) or self.socket
        self._inspected: dict[str, Container] = {}
        #: The last read's containers, reused while the data root's watch saw nothing (module docstring).
        self._last_running: dict[Container, str] | None = None
        self._watch: DirWatch | None = None  # made at the first fileno(): a source never asked holds no fd
        inotify.prepare()  # libc loaded now (it may run ldconfig), not inside a read

    # -- the seam ------------------------------------------------------------------------------------

    def available(self) -> bool:
        return os.path.exists(self.socket) or os.path.isdir(self.containers_dir)

    def fileno(self) -> int | None:
        if self._watch is None:
            self._watch = DirWatch([self.containers_dir, *self._container_dirs()])
        return self._watch.fileno()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def read(self, base: Snapshot) -> Enrichment:
        quiet = False
        if self._watch is not None:
            quiet = not self._watch.drain() and self.containers_dir in self._watch.watching
            self._watch.dirs = (self.containers_dir, *self._container_dirs())
            self._watch.ensure()
        errors: list[CollectError] = []
        owners = []
        picture = Picture(base)
        running = self._last_running
        if not quiet or running is None or any(c.pid not in picture.pids for c in running):
            running = self._running(picture, errors)
            self._last_running = None if errors else running
        for c, src in running.items():
            owner = self._owner(picture, c, src)
            if owner is not None:
                owners.append(owner)
        owners.sort(key=lambda o: (o.name, o.id or ""))
        return Enrichment(owners=tuple(owners), errors=tuple(errors))

    # -- readings -----------------------------------------------------------------------------------

    def _container_dirs(self) -> list[str]:
        try:
            names = os.listdir(self.containers_dir)
        except OSError:
            return []
        return [os.path.join(self.containers_dir, n) for n in sorted(names)]

    def _error(self, text: str) -> CollectError:
        return CollectError(scope(NAME), text)

    def _running(self, picture: Picture, errors: list[CollectError]) -> dict[Container, str]:
        """Running containers -> the source each came from; the API first, config.v2.json for the rest."""
        deadline = time.monotonic() + TIMEOUT
        try:
            listing = get_json(self.socket, "/containers/json", deadline)
            if not isinstance(listing, list):
                raise UnixHttpError("the container list is not a JSON array")
        except UnixHttpError as exc:
            if str(exc) != "no such socket":
                errors.append(self._error(f"{self.socket}: GET /containers/json: {exc}; "
                                          f"read {FILE_SOURCE} under {self.containers_dir} instead"))
            self._inspected.clear()
            return {c: FILE_SOURCE for c in self._from_files(None, errors)[0]}
        alive = picture.pids
        ids = [_str(_dict(item).get("Id")) for item in listing]
        ids = [i for i in ids if i]
        listed = set(ids)
        self._inspected = {i: c for i, c in self._inspected.items() if i in listed and c.pid in alive}
        out: dict[Container, str] = {}
        left: list[str] = []
        failed: str | None = None
        timed_out = False
        for ident in ids:
            cached = self._inspected.get(ident)
            if cached is not None:
                out[cached] = self.label
                continue
            if failed is not None:
                left.append(ident)
                continue
            try:
                from urllib.parse import quote  # (here: ~3 ms to import; only a host with containers asks)

                c = parse_container(get_json(self.socket, f"/containers/{quote(ident)}/json", deadline))
            except UnixHttpError as exc:
                failed = f"GET /containers/{ident[:12]}/json: {exc}"
                timed_out = str(exc) == "timed out"
                left.append(ident)
                continue
            except ValueError as exc:
                failed = f"GET /containers/{ident[:12]}/json: {exc}"
                left.append(ident)
                continue
            if c is not None:
                self._inspected[ident] = c
                out[c] = self.label
        if failed is not None:
            found, parsed = self._from_files(set(left), errors)
            for c in found:
                out[c] = FILE_SOURCE
            # The list answered and the budget ran out among many inspects: a busy host, not a broken
            # daemon, when the files told the rest (the next reads inspect those, a budget at a time).
            if not (timed_out and parsed >= set(left)):
                errors.append(self._error(f"{self.socket}: {failed}; {len(left)} container(s) read from "
                                          f"{FILE_SOURCE} instead"))
        return out

    def _from_files(self, only: set[str] | None,
                    errors: list[CollectError]) -> tuple[list[Container], set[str]]:
        """Running containers from `<data-root>/containers/*/config.v2.json` (those of `only` if given),
        and the ids whose file was read whole."""
        out = []
        parsed: set[str] = set()
        for directory in self._container_dirs():
            if only is not None and os.path.basename(directory) not in only:
                continue
            path = os.path.join(directory, FILE_SOURCE)
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_FILE + 1)
            except FileNotFoundError:
                continue  # being created or removed
            except OSError as exc:
                errors.append(self._error(f"{path}: cannot read: {exc.strerror}"))
                continue
            if len(data) > MAX_FILE:
                errors.append(self._error(f"{path}: larger than {MAX_FILE >> 20} MiB, not read"))
                continue
            try:
                c = parse_container(json.loads(data))
            except ValueError as exc:
                why = f"{exc.msg} at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                errors.append(self._error(f"{path}: malformed ({why}); that container is not shown"))
                continue
            parsed.add(os.path.basename(directory))
            if c is not None:
                out.append(c)
        return out, parsed

    def _owner(self, picture: Picture, c: Container, source: str) -> Owner | None:
        ns = picture.namespace_of(self.root, c.pid, c.sandbox_key)
        if ns is None:
            return None  # stale record, or started after the kernel picture was taken
        pids = (c.pid, *pids_in_cgroup(self.root, ns, c.id))
        got = picture.claim(ns, pids)
        details = {"image": c.image}
        if c.sandbox_key:
            details["sandbox"] = os.path.basename(c.sandbox_key)
        if c.networks:
            details["networks"] = ", ".join(n for n, _ip, _mac in c.networks)
            ips = [ip for _n, ip, _mac in c.networks if ip]
            macs = [mac for _n, _ip, mac in c.networks if mac]
            if ips:
                details["ip"] = ", ".join(ips)
            if macs:
                details["mac"] = ", ".join(macs)
        if c.network_mode and c.network_mode not in ("default", "bridge"):
            details["network_mode"] = c.network_mode
        return Owner(kind="container", name=c.name, id=c.id, runtime="docker", source=source, exact=True,
                     details=tuple(sorted((k, v) for k, v in details.items() if v)),
                     links=got.links, namespaces=got.namespaces, pids=got.pids)
