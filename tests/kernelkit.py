"""Throwaway kernel objects for real-kernel tests, built with iproute2 (independently of vnettop).

Building fixtures with `ip` rather than with vnettop's own code keeps the tests honest: the collector is
checked against what an independent tool made. Every object is named `vnt<tag>...` where the tag is
unique per kit, and `cleanup()` removes everything the kit made, whatever happened in the test.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def poll_until(probe: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    """Call `probe` until it returns something truthy; return that, or raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
        last = probe()
    return last


def run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; its output decoded as vnettop decodes names (a device name may not be UTF-8,
    and `ip link show` prints it raw). Arguments may hold such names: subprocess passes their bytes."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, errors="surrogateescape")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)!r} failed ({proc.returncode}): {proc.stderr.strip()!r}")
    return proc


class KernelKit:
    """Makes namespaces, links and holder processes, and removes them all in `cleanup()`."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)  # 4 hex chars: vnt + 4 + up to 8 = 15 bytes
        self.namespaces: list[str] = []
        self.root_links: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pidfiles: list[str] = []

    def name(self, base: str) -> str:
        """A kernel object name carrying this kit's tag, at most 15 bytes."""
        full = f"vnt{self.tag}{base}"
        assert len(os.fsencode(full)) <= 15, f"name too long for a device: {full!r}"
        return full

    # -- building ---------------------------------------------------------------------------

    def ip(self, *args: str, netns: str | None = None) -> str:
        argv = ["ip"] + (["-n", netns] if netns else []) + list(args)
        return run(argv).stdout

    def netns(self, base: str) -> str:
        """Create a named namespace (with lo up) and return its name."""
        name = self.name(base)
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.ip("link", "set", "lo", "up", netns=name)
        return name

    @contextmanager
    def second_name(self, netns: str, base: str = "alias") -> Iterator[str]:
        """A second name for `netns` while inside (`/run/netns/ALIAS` bind-mounted on its file, as
        `ip netns attach` would), unmounted and removed on the way out, however the block ends."""
        alias = self.name(base)
        path = f"/run/netns/{alias}"
        with open(path, "x"):
            pass
        try:
            run(["mount", "--bind", f"/run/netns/{netns}", path])
            try:
                yield alias
            finally:
                run(["umount", "-l", path], check=False)
        finally:
            os.unlink(path)

    def ns_inode(self, name: str | None) -> int:
        return os.stat(f"/run/netns/{name}").st_ino if name else os.stat("/proc/self/ns/net").st_ino

    def link(self, name: str, netns: str | None = None) -> None:
        """Remember a root device for cleanup (namespaced ones go with their namespace)."""
        if netns is None:
            self.root_links.append(name)

    def veth(self, a: str, b: str, ns_a: str | None = None, ns_b: str | None = None) -> tuple[str, str]:
        """Create a veth pair a<->b (full names), each end optionally in a named namespace."""
        argv = ["link", "add", a]
        if ns_a:
            argv += ["netns", ns_a]
        argv += ["type", "veth", "peer", "name", b]
        if ns_b:
            argv += ["netns", ns_b]
        self.ip(*argv)
        self.link(a, ns_a)
        self.link(b, ns_b)
        return a, b

    def bridge(self, name: str, netns: str | None = None, stp: bool = False) -> str:
        self.ip("link", "add", name, "type", "bridge", *(["stp_state", "1"] if stp else []), netns=netns)
        self.link(name, netns)
        return name

    def tuntap(self, name: str, mode: str = "tap", netns: str | None = None,
               multi_queue: bool = False) -> str:
        """A persistent tun/tap made by `ip tuntap` (no holder)."""
        self.ip("tuntap", "add", "mode", mode, "name", name, *(["multi_queue"] if multi_queue else []),
                netns=netns)
        self.link(name, netns)
        return name

    def spawn(self, argv: Sequence[str], netns: str | None = None) -> subprocess.Popen[bytes]:
        """Start a process (inside a named namespace if given); killed at cleanup."""
        full = (["ip", "netns", "exec", netns] if netns else []) + list(argv)
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def unshared(self) -> tuple[subprocess.Popen[bytes], int]:
        """A namespace with no name, only a process (`unshare -n sleep`); returns it and its inode."""
        proc = self.spawn(["unshare", "-n", "sleep", "300"])
        root = os.stat("/proc/self/ns/net").st_ino

        def moved() -> int:
            try:
                ino = os.stat(f"/proc/{proc.pid}/ns/net").st_ino
            except OSError:
                return 0
            return ino if ino != root else 0

        return proc, poll_until(moved)

    def daemon_pidfile(self, base: str) -> str:
        """A pidfile path for a daemon that forks (qemu -daemonize, dnsmasq); killed at cleanup."""
        path = f"/tmp/{self.name(base)}.pid"
        self.pidfiles.append(path)
        return path

    # -- removing -------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove every process, device and namespace this kit made. Never raises."""
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for path in self.pidfiles:
            try:
                with open(path) as f:
                    pid = int(f.read().strip() or 0)
                if pid > 0:
                    os.kill(pid, signal.SIGKILL)
                    _wait_gone(pid)
            except (OSError, ValueError):
                pass
            try:
                os.unlink(path)
            except OSError:
                pass
        for name in self.root_links:
            run(["ip", "link", "del", name], check=False)
        for ns in self.namespaces:
            for text in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                try:
                    os.kill(int(text), signal.SIGKILL)
                    _wait_gone(int(text))
                except (OSError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
        # Anything else carrying our tag in root (moved back by a namespace's death, say).
        out = run(["ip", "-o", "link", "show"], check=False).stdout
        for line in out.splitlines():
            parts = line.split(":", 2)
            if len(parts) > 1:
                dev = parts[1].strip().split("@")[0]
                if dev.startswith(f"vnt{self.tag}"):
                    run(["ip", "link", "del", dev], check=False)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def sweep_stale() -> None:
    """Remove every `vnt*` namespace and root device: leftovers of a crashed earlier run (CI only)."""
    for entry in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if entry.startswith("vnt"):
            for pid in run(["ip", "netns", "pids", entry], check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            run(["ip", "netns", "del", entry], check=False)
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            dev = parts[1].strip().split("@")[0]
            if dev.startswith("vnt"):
                run(["ip", "link", "del", dev], check=False)
