"""Podman: which container a namespace, its devices and their host-side veths belong to.

Podman has no daemon to ask, and the container's name is not in its OCI config: it lives in libpod's
database and in the argv Podman gives each container's monitor, conmon (`-c ID -n NAME -r RUNTIME -b
BUNDLE -p PIDFILE --exit-dir DIR ... --exit-command /usr/bin/podman`). So the processes named `conmon`
among the picture's pids are read (`/proc/PID/cmdline`, root only), and those whose exit command is
podman's (or whose exit directory is libpod's) are Podman's; CRI-O's conmons have neither and are left to
its own source. The container's process is the pid in PIDFILE (written by the OCI runtime in Podman's
run root, `<driver>-containers/<id>/userdata/pidfile`), else conmon's child (`/proc/PID/task/PID/children`);
its namespace is that pid's `/proc/PID/ns/net`, else the network namespace path in the bundle's
`config.json` (`/run/netns/netns-<uuid>`, rootless `/run/user/UID/netns/netns-<uuid>`) among the
picture's names and mounts.

Exact or not: conmon's argv is written by Podman, but any process may call itself conmon and say
anything. The answer is `exact` when Podman's own state confirms it: the pidfile named in the argv lies in a
directory named by the same container id and holds the very process whose namespace is claimed. Without
that (no pidfile, an id elsewhere, the pid taken from conmon's children) it is `exact: false`. `source` is
"conmon cmdline" either way (where the name comes from); `details.state` names the pidfile when it vouched.

`details`: `netns` (the `netns-<uuid>` name), `oci_runtime`, `rootless` (the uid, when the exit directory is
under /run/user/UID). The processes: the container's pid and the namespace's pids whose cgroup names the id.

`fileno()`: inotify on the rootful run roots' container directories and libpod's exit directory, plus
every such directory learned from a conmon's argv (a private `--runroot`); a container's start also
makes a namespace and a veth, which re-reads every source anyway.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from vnettop.collect.sources import Enrichment, scope
from vnettop.collect.sources.container_ns import Picture, pids_in_cgroup
from vnettop.linux import inotify
from vnettop.linux.inotify import DirWatch
from vnettop.model import CollectError, Owner, Snapshot

NAME = "podman"
SOURCE = "conmon cmdline"
#: Largest cmdline, pidfile and config.json read.
MAX_CMDLINE = 65536
MAX_CONFIG = 4 << 20
_FLAGS = {"-c": "cid", "--cid": "cid", "-n": "name", "--name": "name", "-r": "runtime",
          "--runtime": "runtime", "-b": "bundle", "--bundle": "bundle",
          "-p": "pidfile", "--container-pidfile": "pidfile",
          "--exit-dir": "exit_dir", "--exit-command": "exit_command"}


@dataclass(frozen=True, slots=True)
class Conmon:
    """What one conmon's argv says about its container."""

    pid: int
    cid: str
    name: str
    runtime: str = ""
    bundle: str = ""
    pidfile: str = ""
    exit_dir: str = ""
    exit_command: str = ""

    @property
    def is_podmans(self) -> bool:
        return os.path.basename(self.exit_command).startswith("podman") or "libpod" in self.exit_dir


def parse_conmon(pid: int, argv: list[str]) -> Conmon | None:
    """conmon's argv -> Conmon; None without an id (`-c`)."""
    found: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if eq and key in _FLAGS and key.startswith("--"):
            found.setdefault(_FLAGS[key], value)
        elif arg in _FLAGS and i + 1 < len(argv):
            found.setdefault(_FLAGS[arg], argv[i + 1])
            i += 1
        i += 1
    if not found.get("cid"):
        return None
    return Conmon(pid=pid, cid=found["cid"], name=found.get("name") or found["cid"][:12],
                  runtime=found.get("runtime", ""), bundle=found.get("bundle", ""),
                  pidfile=found.get("pidfile", ""), exit_dir=found.get("exit_dir", ""),
                  exit_command=found.get("exit_command", ""))


class PodmanSource:
    """The `podman` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root
        #: pid -> its conmon, or None for a process that is not one (a pid keeps its comm until it exits;
        #: forgotten when the pid leaves the picture).
        self._seen: dict[int, Conmon | None] = {}
        self._dirs = [self._under("run/containers/storage/overlay-containers"),
                      self._under("run/containers/storage/vfs-containers"), self._under("run/libpod/exits")]
        self._watch: DirWatch | None = None
        inotify.prepare()  # libc loaded now (it may run ldconfig), not inside a read

    def _under(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def available(self) -> bool:
        return os.path.isdir(self._under("proc"))

    def fileno(self) -> int | None:
        if self._watch is None:
            self._watch = DirWatch(self._dirs)
        return self._watch.fileno()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def read(self, base: Snapshot) -> Enrichment:
        errors: list[CollectError] = []
        conmons = self._conmons(base, errors)
        if self._watch is not None:
            self._watch.drain()
            learned = [self._under(os.path.dirname(os.path.dirname(os.path.dirname(c.pidfile))))
                       for c in conmons if c.pidfile.count("/") >= 3]
            learned += [self._under(c.exit_dir) for c in conmons if c.exit_dir]
            self._watch.dirs = tuple(dict.fromkeys([*self._dirs, *learned]))
            self._watch.ensure()
        picture = Picture(base)
        owners = [o for o in (self._owner(picture, c, errors) for c in conmons) if o is not None]
        owners.sort(key=lambda o: (o.name, o.id or ""))
        return Enrichment(owners=tuple(owners), errors=tuple(errors))

    def _conmons(self, base: Snapshot, errors: list[CollectError]) -> list[Conmon]:
        alive = {p for ns in base.namespaces for p in ns.pids}
        pids = sorted(alive)
        self._seen = {p: c for p, c in self._seen.items() if p in alive}
        for pid in pids:
            if pid in self._seen:
                continue
            proc = self._under(f"proc/{pid}")
            try:
                with open(os.path.join(proc, "comm"), "rb") as f:
                    comm = f.read(64).strip()
                if comm != b"conmon":
                    self._seen[pid] = None
                    continue
                with open(os.path.join(proc, "cmdline"), "rb") as f:
                    raw = f.read(MAX_CMDLINE)
            except OSError:
                continue  # gone, or not ours to read: asked again next time
            argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
            c = parse_conmon(pid, argv)
            if c is None and argv:
                errors.append(CollectError(scope(NAME), f"{proc}/cmdline: a conmon without a container id "
                                           "(-c); not shown"))
            self._seen[pid] = c
        return [c for c in (self._seen.get(p) for p in pids) if c is not None and c.is_podmans]

    def _container_pid(self, c: Conmon, errors: list[CollectError]) -> tuple[int, bool]:
        """(the container's pid or 0, whether Podman's pidfile for this very id gave it)."""
        if c.pidfile:
            path = self._under(c.pidfile)
            try:
                with open(path, "rb") as f:
                    text = f.read(64).strip()
                if text.isdigit():
                    return int(text), c.cid in c.pidfile.split("/")
                errors.append(CollectError(scope(NAME), f"{path}: not a pid ({text[:20]!r}); container "
                                           f"{c.name} found through conmon's child instead"))
            except FileNotFoundError:
                pass  # starting or stopping
            except OSError as exc:
                errors.append(CollectError(scope(NAME), f"{path}: cannot read: {exc.strerror}"))
        try:
            with open(self._under(f"proc/{c.pid}/task/{c.pid}/children"), "rb") as f:
                kids = f.read(4096).split()
        except OSError:
            return 0, False
        return (int(kids[0]), False) if kids and kids[0].isdigit() else (0, False)

    def _netns_path(self, c: Conmon) -> str:
        """The network namespace path in the bundle's config.json ("" when it cannot be read)."""
        if not c.bundle:
            return ""
        try:
            with open(self._under(os.path.join(c.bundle, "config.json")), "rb") as f:
                spec = json.loads(f.read(MAX_CONFIG))
            for ns in spec["linux"]["namespaces"]:
                if ns.get("type") == "network":
                    return str(ns.get("path") or "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        return ""

    def _owner(self, picture: Picture, c: Conmon, errors: list[CollectError]) -> Owner | None:
        pid, vouched = self._container_pid(c, errors)
        ns = picture.namespace_of(self.root, pid, "")
        if ns is None:
            vouched = False
            ns = picture.namespace_of(self.root, 0, self._netns_path(c))
        if ns is None:
            return None
        got = picture.claim(ns, (pid, *pids_in_cgroup(self.root, ns, c.cid)))
        if pid not in got.pids:
            vouched = False
        details = {"oci_runtime": os.path.basename(c.runtime)}
        netns = [n for n in ns.names if n.startswith("netns-")] + [
            os.path.basename(m) for m in ns.mounts if os.path.basename(m).startswith("netns-")]
        if netns:
            details["netns"] = netns[0]
        parts = c.exit_dir.split("/")
        if len(parts) > 3 and parts[1:3] == ["run", "user"] and parts[3].isdigit():
            details["rootless"] = f"uid {parts[3]}"
        if vouched:
            details["state"] = c.pidfile
        return Owner(kind="container", name=c.name, id=c.cid, runtime="podman", source=SOURCE, exact=vouched,
                     details=tuple(sorted((k, v) for k, v in details.items() if v)),
                     links=got.links, namespaces=got.namespaces, pids=got.pids)
