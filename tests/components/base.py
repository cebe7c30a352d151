"""What every real-component fixture shares: finding binaries, daemons by pid file, host-state guards.

The components (Open vSwitch, Docker, Podman, libvirt, CNI, sshd, node_exporter) are the real Debian
packages, started by hand by the fixtures with their own state directory, socket and pid file under a
private temporary directory, so a test run never touches a daemon the host may run itself. A component
names some kernel objects itself (`ovs-netdev`, `podman0`, `cni-<uuid>`, `netns-<uuid>`, `vnetN`,
veths); the fixtures record each at creation and remove them in teardown, pass or fail. The firewall and
`ip_forward` are snapshotted before a component starts and restored after it stops.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.kernelkit import poll_until

IS_ROOT = os.geteuid() == 0
ON_CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parents[2]

__all__ = ["IS_ROOT", "ON_CI", "REPO", "Component", "HostState", "free_port", "need_binary",
           "need_root", "poll_until", "run", "tag"]


def need_binary(name: str, package: str) -> str:
    """The binary's path; skip on a developer host that lacks it, FAIL on CI (which installs them all)."""
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin", "/usr/lib/cni") if os.access(p := f"{d}/{name}", os.X_OK)), None)
    if path:
        return path
    why = f"{name} not installed (Debian package {package})"
    if ON_CI:
        pytest.fail(f"{why}: CI installs every real component (.ci/run debs), so this is a CI breakage")
    pytest.skip(why)


def need_root(what: str) -> None:
    if not IS_ROOT:
        why = f"{what} needs root"
        if ON_CI:
            pytest.fail(f"{why}; CI runs as root")
        pytest.skip(why)


def tag() -> str:
    """A short random tag: names are `vnt<tag>...`, at most 15 bytes for a device."""
    return secrets.token_hex(2)


def run(argv: Sequence[str], check: bool = True, timeout: float = 60, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    # surrogateescape: a device name is bytes, and another test may be making one that is not UTF-8.
    proc = subprocess.run(list(argv), capture_output=True, text=True, errors="surrogateescape",
                          timeout=timeout, env=env, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the component binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def root_links() -> set[str]:
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            names.add(parts[1].strip().split("@")[0])
    return names


def named_netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _firewall() -> dict[str, str]:
    """The host's rulesets, as the tools print them (counters off, so traffic does not count as change)."""
    out = {}
    for tool in ("iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save",
                 "ebtables-save"):
        if shutil.which(tool):
            out[tool] = run([tool], check=False).stdout
    if shutil.which("nft"):
        out["nft"] = run(["nft", "list", "ruleset"], check=False).stdout
    return {k: _normal(v) if k != "nft" else v for k, v in out.items()}


def _normal(saved: str) -> str:
    """An *tables-save text reduced to its meaning.

    Comments carry a timestamp and chain counters move with traffic: neither is a change. A table with
    only built-in chains at policy ACCEPT and no rule filters nothing, and with the nf_tables backend it
    cannot be removed again once a tool made it (iptables-nft has no "delete table"): it counts as absent.
    """
    out: list[str] = []
    table: list[str] = []
    for line in saved.splitlines():
        if line.startswith("#"):
            continue
        line = _COUNTERS.sub("[0:0]", line)
        if line.startswith("*"):
            table = [line]
        elif line == "COMMIT" and table:
            inert = all(ln.startswith(":") and " ACCEPT " in ln for ln in table[1:])
            if not inert:
                out += [*table, line]
            table = []
        elif table:
            table.append(line)
        else:
            out.append(line)
    return "\n".join(out)


_COUNTERS = re.compile(r"\[\d+:\d+\]")


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _tables(saved: str) -> dict[str, list[str]]:
    """An *tables-save text split by table: {"filter": ["*filter", ":INPUT ACCEPT [0:0]", ..., "COMMIT"]}."""
    tables: dict[str, list[str]] = {}
    name = None
    for line in saved.splitlines():
        if line.startswith("*"):
            name = line[1:]
            tables[name] = [line]
        elif name is not None and not line.startswith("#"):
            tables[name].append(line)
            if line == "COMMIT":
                name = None
    return tables


def _restore_text(wanted: str, current: str) -> str:
    """What *tables-restore needs to turn `current` back into `wanted` (a `_normal` text).

    Restoring a table flushes it and drops its user chains first; a table `wanted` lacks was inert
    (built-in chains at ACCEPT, no rules), so it is restored as exactly that.
    """
    want, now = _tables(wanted), _tables(current)
    out: list[str] = []
    for name in dict.fromkeys([*now, *want]):
        if name in want:
            out += want[name]
        else:
            builtins = [ln.split()[0] for ln in now[name][1:] if ln.startswith(":") and ln.split()[1] != "-"]
            out += [f"*{name}", *(f"{c} ACCEPT [0:0]" for c in builtins), "COMMIT"]
    return "\n".join(out) + "\n"


@dataclass
class HostState:
    """The firewall and ip_forward as found; `restore()` puts them back and says what had changed."""

    firewall: dict[str, str] = field(default_factory=_firewall)
    ip_forward: str = field(default_factory=lambda: IP_FORWARD.read_text().strip())

    FORWARD_CHANGED = "ip_forward changed"

    def changes(self) -> list[str]:
        now = _firewall()
        out = [f"{tool} ruleset changed" for tool in self.firewall if now.get(tool) != self.firewall[tool]]
        if IP_FORWARD.read_text().strip() != self.ip_forward:
            out.append(self.FORWARD_CHANGED)
        return out

    def restore(self) -> list[str]:
        changed = self.changes()
        now = _firewall()
        for tool, text in self.firewall.items():
            if now.get(tool) != text and tool != "nft":
                current = run([tool], check=False).stdout
                run([tool.replace("-save", "-restore")], check=False, input=_restore_text(text, current))
        if "nft" in self.firewall and now.get("nft") != self.firewall["nft"]:
            run(["nft", "flush", "ruleset"], check=False)
            run(["nft", "-f", "-"], check=False, input=self.firewall["nft"] + "\n")
        if IP_FORWARD.read_text().strip() != self.ip_forward:
            IP_FORWARD.write_text(self.ip_forward + "\n")
        return changed


class Component:
    """One started component: its private directory, the daemons it runs, the kernel objects it made.

    Every record_* call happens as soon as the object exists, so `close()` removes it whatever failed
    later. `close()` never raises; what it could not remove is kept in `leftovers` for the test to see.
    """

    def __init__(self, kind: str, root: bool = True) -> None:
        self.kind = kind
        self.tag = tag()
        self.dir = Path(tempfile.mkdtemp(prefix=f"vnt-{kind}-"))
        os.chmod(self.dir, 0o755)
        self.host = HostState() if root and IS_ROOT else None
        self.pidfiles: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.links: list[str] = []
        self.netns: list[str] = []
        self.paths: list[Path] = []
        self.cleanups: list[Callable[[], object]] = []
        self.leftovers: list[str] = []
        self.host_changes: list[str] = []
        # Host changes this component is known to make (restored silently); any other one fails teardown.
        self.expected_changes: set[str] = set()

    def name(self, base: str) -> str:
        full = f"vnt{self.tag}{base}"
        assert len(full.encode()) <= 15, f"name too long for a device: {full}"
        return full

    # -- records ---------------------------------------------------------------------------

    def record_link(self, name: str) -> None:
        if name not in self.links:
            self.links.append(name)

    def record_netns(self, name: str) -> None:
        if name not in self.netns:
            self.netns.append(name)

    def record_path(self, path: str | Path) -> None:
        """A host path the component creates outside its private dir (a daemon's hard-wired default):
        removed at close, but only if it does not exist yet now."""
        p = Path(path)
        if not p.exists() and not p.is_symlink():
            self.paths.append(p)

    def on_close(self, fn: Callable[[], object]) -> None:
        """Run `fn` first at close (stop containers before their daemon), last registered first."""
        self.cleanups.append(fn)

    def spawn(self, argv: Sequence[str], env: dict[str, str] | None = None,
              log: str | None = None) -> subprocess.Popen[bytes]:
        out = open(self.dir / log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait_pidfile(self, path: Path, timeout: float = 20) -> int:
        """Poll until a daemon has written its pid file and the pid is alive."""
        self.pidfiles.append(path)
        return poll_until(lambda: (p if (p := read_pidfile(path)) and pid_alive(p) else 0), timeout)

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop and remove everything, stage by stage; a stage that raises is noted and the rest runs."""
        for fn in reversed(self.cleanups):
            self._stage(f"cleanup {fn!r}", fn)
        self._stage("stop daemons", self._stop_daemons)
        if IS_ROOT:
            self._stage("remove kernel objects", self._remove_kernel_objects)
        self._stage("remove files", self._remove_files)
        if self.host is not None:
            self._stage("restore firewall and ip_forward", self._restore_host)

    def _stage(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as e:  # teardown goes on: everything else must still be removed
            self.leftovers.append(f"{what}: {type(e).__name__}: {e}")

    def _stop_daemons(self) -> None:
        for path in self.pidfiles:
            pid = read_pidfile(path)
            if pid:
                _stop(pid)
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def _remove_kernel_objects(self) -> None:
        for ns in self.netns:
            for text in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                _stop(int(text), grace=0)
            run(["ip", "netns", "del", ns], check=False)
        present = root_links()
        for name in self.links:
            if name in present:
                run(["ip", "link", "del", name], check=False)
        present = root_links()
        self.leftovers += [f"link {n}" for n in self.links if n in present]
        self.leftovers += [f"netns {n}" for n in self.netns if n in named_netns()]
        self.leftovers += [f"link {n}" for n in present if n.startswith(f"vnt{self.tag}")]

    def _remove_files(self) -> None:
        _unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        for p in reversed(self.paths):
            _unmount_under(p)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            if p.exists():
                self.leftovers.append(f"path {p}")

    def _restore_host(self) -> None:
        assert self.host is not None
        changed = self.host.restore()
        self.host_changes = [c for c in changed if c not in self.expected_changes]
        self.host_changes += [f"could not restore: {c}" for c in self.host.changes()]


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children first-level first), read from /proc's ppid fields."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def kill_tree(pid: int) -> None:
    """Kill everything below `pid` (sessions a daemon forked into their own process groups)."""
    for p in reversed(descendants(pid)):
        _stop(p, grace=0)


def kill_pid(pid: int) -> None:
    _stop(pid, grace=0)


def _stop(pid: int, grace: float = 10) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; wait until it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM if grace else signal.SIGKILL)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _unmount_under(root: Path) -> None:
    """Lazily unmount every mount below `root` (deepest first) so removing the tree cannot cross one."""
    try:
        with open("/proc/self/mountinfo", errors="surrogateescape") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    prefix = str(root) + "/"
    for point in sorted((p for p in points if p.startswith(prefix) or p == str(root)), key=len, reverse=True):
        run(["umount", "-l", point], check=False)


@contextlib.contextmanager
def component(kind: str, root: bool = True) -> Iterator[Component]:
    """A Component closed at exit whatever happened; a teardown that left something behind fails loudly."""
    comp = Component(kind, root=root)
    try:
        yield comp
    finally:
        comp.close()
    problems = comp.leftovers + comp.host_changes
    if problems:
        raise AssertionError(f"{kind} teardown: {'; '.join(problems)} (restored where possible)")
