"""`vnettop lab up | down | status`: the article's compute node, built for real, in namespaces of its own.

What `up` builds (every change through the same Mutator the UI uses, so each prints its `ip` command
and lands in the journal; every namespace name starts with the prefix, default `vntlab`):

  PREFIX-compute               the compute node
    br0                        bridge, with tap0 (VM "vm1": qemu, or a holder process) as a port
    tun0                       10.5.0.1/24, held by openvpn (p2p, UDP 9112) or a holder with a UDP socket
    brqNNNNNNNN-NN             the network's bridge (OpenStack linuxbridge naming)
      tapPPPPPPPP-PP           veth, peer of ns-PPPPPPPP-PP in the qdhcp namespace
      tapVVVVVVVV-VV x2        VM taps (vm2, vm3)
  PREFIX-qdhcp-<network uuid>  the DHCP namespace
    ns-PPPPPPPP-PP             10.0.0.2/24, dnsmasq listening on it (when installed)

Processes are started inside the namespace by re-executing this module (`exec` / `hold` below: setns,
then exec or hold the device), in a new session, so they outlive the vnettop command. What `up` makes is
written to a state file *before* it is made, and `down` also sweeps by prefix (namespaces named PREFIX-*,
processes living in them), so `down` leaves no trace even after a crash halfway through `up`.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from vnettop.actions import lab_libvirt, lab_owners, netnsfs
from vnettop.actions import plans as p
from vnettop.actions.mutator import Mutator
from vnettop.errors import VnettopError
from vnettop.model import Host, Snapshot
from vnettop.textsafe import display_width, printable_line

DEFAULT_PREFIX = "vntlab"
STATE_DIR = "/run/vnettop"
HOLDER_COMM = b"vntlab-holder"
CRASH_ENV = "VNETTOP_LAB_CRASH_AT"  # test hook: os._exit() before step N of `up`, to simulate a crash


def _no_snapshot() -> Snapshot:
    # The lab acts only on objects it just made inside namespaces it just made: no SSH route, NIC or
    # foreign process can be among them, so its guards need not read the host (seconds on a busy one).
    return Snapshot(Host("", ""), (), ())


def _pkg_root() -> str:
    import vnettop

    return os.path.dirname(os.path.dirname(os.path.abspath(vnettop.__file__)))


def _ns_inode(name: str) -> int | None:
    try:
        return os.stat(netnsfs.netns_path(name)).st_ino
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child (same process did up and down): reap it
        except ChildProcessError:
            pass
        return False
    return True


class Lab:
    """One lab instance, identified by its name prefix (tests use their own, `vnt<tag>...`)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, state_dir: str = STATE_DIR,
                 out: Callable[[str], None] = print, programs: bool = True,
                 owners: bool | None = None) -> None:
        self.prefix = prefix
        #: Use qemu / openvpn / dnsmasq when installed (False: holder processes only, e.g. in tests).
        self.programs = programs
        #: Add a Docker container when Docker answers (`lab_owners`); by default as `programs`.
        self.owners = programs if owners is None else owners
        self.state_dir = state_dir
        self.state_path = os.path.join(state_dir, f"{prefix}.json")
        self._print = out
        self.state: dict[str, Any] = {}
        self._step = 0
        #: The first journal write that failed ("PATH: reason"), or None: the CLI then exits non-zero.
        self.journal_error: str | None = None
        #: OVSDB socket: `up` then also builds the OVS/OVN-shaped part (vnettop.actions.lab_ovs).
        self.ovsdb: str | None = None

    def out(self, line: str) -> None:
        """Print one line of progress. Namespace, device and process names (`down` and `status` list
        what exists, whoever made it) and error messages come from the system: each line is made one
        terminal-safe line, which escapes every name in it."""
        self._print(printable_line(line))

    # -- state ------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.state_path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        os.makedirs(self.state_dir, mode=0o755, exist_ok=True)
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.state_path)

    def _remember(self, key: str, value: Any) -> None:
        self.state.setdefault(key, []).append(value)
        self._save()

    def namespaces(self) -> list[str]:
        """Lab namespaces that exist now: recorded ones and any named PREFIX-*."""
        found = set(self._load().get("namespaces", []))
        try:
            found |= {e for e in os.listdir(netnsfs.NETNS_RUN_DIR) if e.startswith(self.prefix + "-")}
        except OSError:
            pass
        return sorted(n for n in found if os.path.lexists(netnsfs.netns_path(n)))

    # -- up ---------------------------------------------------------------------------------------

    def _apply(self, mutator: Mutator, plan: p.Plan) -> None:
        self._step += 1
        if os.environ.get(CRASH_ENV) == str(self._step):
            os._exit(70)
        if isinstance(plan, p.CreateNamespace):
            self._remember("namespaces", plan.name)  # before it exists: a crash leaves a known trace
        result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
        self.out(f"  {'+' if result.ok else '!'} {result.ip_command}")
        if not result.ok:
            raise VnettopError(result.message)
        if self._journal_failed(mutator):
            # A change the journal does not know of: stop here, and `up` removes what it made.
            raise VnettopError(f"journal not written: {self.journal_error}")

    def _journal_failed(self, mutator: Mutator) -> bool:
        """Whether the mutator's last journal write failed; the first failure is kept for the CLI."""
        if mutator.journal_error is None:
            return False
        self.journal_error = self.journal_error or mutator.journal_error
        return True

    def up(self, mutator: Mutator) -> int:
        if self._load() or self.namespaces():
            self.out(f"lab {self.prefix}: already up or left over; run `vnettop lab down` first")
            return 1
        net, dport, vm2, vm3 = (str(uuid.uuid4()) for _ in range(4))
        compute, qdhcp = f"{self.prefix}-compute", f"{self.prefix}-qdhcp-{net}"
        brq, tap_dhcp, ns_dhcp = f"brq{net[:11]}", f"tap{dport[:11]}", f"ns-{dport[:11]}"
        vm_taps = [f"tap{vm2[:11]}", f"tap{vm3[:11]}"]
        self.state = {"prefix": self.prefix, "network": net, "created": time.time()}
        self._save()
        self.out(f"lab {self.prefix}: building the compute node in {compute} and {qdhcp}")
        start = time.perf_counter()
        try:
            for plan in self._plans(compute, qdhcp, brq, tap_dhcp, ns_dhcp, vm_taps):
                self._apply(mutator, plan)
            why = lab_libvirt.libvirt_answers() if self.owners else "not asked"
            if why is not None and self.owners:
                self.out(f"  . VMs as qemu processes: {why}")
            self._vm(mutator, why is None, compute, "vm1", "tap0", "br0", None)
            self._start(compute, "openvpn", "tun0", "tun")
            for i, (tap, port) in enumerate(zip(vm_taps, (vm2, vm3), strict=True), start=2):
                self._vm(mutator, why is None, compute, f"vm{i}", tap, brq, port)
            self._start_dnsmasq(qdhcp, ns_dhcp)
            if self.owners:
                lab_owners.add_container(self, mutator, compute, brq)
            if self.ovsdb is not None:
                from vnettop.actions import lab_ovs

                lab_ovs.up(self, mutator, self.ovsdb, net)
        except (VnettopError, OSError, subprocess.SubprocessError) as exc:
            self.out(f"lab {self.prefix}: up failed: {exc}; removing what was made")
            self.down(mutator)
            return 1
        self.out(f"lab {self.prefix}: up in {(time.perf_counter() - start) * 1000:.0f} ms")
        return 0

    def _plans(self, compute: str, qdhcp: str, brq: str, tap_dhcp: str, ns_dhcp: str,
               vm_taps: list[str]) -> list[p.Plan]:
        up = p.SetLinkState
        plans: list[p.Plan] = [
            p.CreateNamespace(compute), up("lo", netns=compute),
            p.CreateBridge("br0", netns=compute), up("br0", netns=compute),
            p.CreateTunTap("tap0", netns=compute, vnet_hdr=True),
            p.SetMaster("tap0", netns=compute, bridge="br0"), up("tap0", netns=compute),
            p.CreateTunTap("tun0", mode="tun", netns=compute),
            p.AddAddress("tun0", netns=compute, address="10.5.0.1/24"), up("tun0", netns=compute),
            p.CreateNamespace(qdhcp), up("lo", netns=qdhcp),
            p.CreateBridge(brq, netns=compute), up(brq, netns=compute),
            p.CreateVethPair(tap_dhcp, ns_dhcp, netns=compute, peer_netns=qdhcp),
            p.SetMaster(tap_dhcp, netns=compute, bridge=brq), up(tap_dhcp, netns=compute),
            p.AddAddress(ns_dhcp, netns=qdhcp, address="10.0.0.2/24"), up(ns_dhcp, netns=qdhcp),
        ]
        for tap in vm_taps:
            plans += [p.CreateTunTap(tap, netns=compute, vnet_hdr=True),
                      p.SetMaster(tap, netns=compute, bridge=brq), up(tap, netns=compute)]
        return plans

    # -- processes --------------------------------------------------------------------------------

    def _launch(self, netns: str | None, argv: list[str], pidfile: str | None) -> int:
        """Run `argv` inside `netns` (None: vnettop's own) in a new session; return the pid of what keeps
        running."""
        self._step += 1
        if os.environ.get(CRASH_ENV) == str(self._step):
            os._exit(70)
        if pidfile:
            self._remember("files", pidfile)
        nspath = netnsfs.netns_path(netns) if netns is not None else "/proc/self/ns/net"
        cmd = [sys.executable, "-m", "vnettop.actions.lab", "exec", nspath, "--", *argv]
        env = dict(os.environ, PYTHONPATH=_pkg_root())
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if pidfile is None else subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
        if pidfile is None:  # a holder: it says "ready" once it holds the device, then lives on
            self._remember("pids", proc.pid)
            assert proc.stdout is not None and proc.stderr is not None
            ready, _w, _x = select.select([proc.stdout], [], [], 20)
            line = proc.stdout.readline() if ready else b""
            if line.strip() != b"ready":
                proc.kill()
                why = proc.stderr.read().decode(errors="replace").strip()[-300:]
                raise OSError(f"holder for {argv[2]} failed in {netns}: {why or 'no answer'}")
            proc.stdout.close()
            proc.stderr.close()
            return proc.pid
        _out, err = proc.communicate(timeout=20)  # the daemon's parent exits once it is ready
        if proc.returncode != 0:
            raise OSError(f"{argv[0]} failed in {netns}: {err.decode(errors='replace').strip()[-300:]}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
                self._remember("pids", pid)
                return pid
            except (OSError, ValueError):
                time.sleep(0.01)
        raise OSError(f"{argv[0]} in {netns} wrote no pid file {pidfile}")

    def _vm(self, mutator: Mutator, libvirt: bool, compute: str, role: str, tap: str, bridge: str,
            port: str | None) -> None:
        """Start VM `role` on its tap: a libvirt domain when libvirt answers (`lab_libvirt`), else a
        qemu process (or a holder)."""
        if not (libvirt and lab_libvirt.start_vm(self, mutator, compute, role, tap, bridge, port)):
            self._start(compute, role, tap, "tap")

    def _start(self, netns: str | None, role: str, dev: str, mode: str) -> None:
        """Start the process holding `dev`: qemu / openvpn when installed, else a holder."""
        files = os.path.join(self.state_dir, f"{self.prefix}-{role}")
        if mode == "tap" and self.programs and shutil.which("qemu-system-x86_64"):
            argv = ["qemu-system-x86_64", "-machine", "none", "-S", "-display", "none", "-nodefaults",
                    "-name", f"guest={self.prefix}-{role}", "-netdev",
                    f"tap,id=n0,ifname={dev},script=no,downscript=no",
                    "-daemonize", "-pidfile", f"{files}.pid"]
        elif mode == "tun" and self.programs and shutil.which("openvpn"):
            argv = ["openvpn", "--dev", dev, "--dev-type", "tun", "--lport", "9112", "--rport", "9113",
                    "--remote", "127.0.0.1", "--proto", "udp", "--disable-dco", "--verb", "0",
                    "--daemon", f"{self.prefix}-openvpn", "--writepid", f"{files}.pid"]
        else:
            argv = [HOLDER_COMM.decode(), "hold", dev, mode] + (["9112"] if mode == "tun" else [])
            pid = self._launch(netns, argv, None)
            self.out(f"  + {role}: holder process {pid} holds {dev}")
            return
        pid = self._launch(netns, argv, f"{files}.pid")
        self.out(f"  + {role}: {argv[0]} [{pid}] holds {dev}")

    def _start_dnsmasq(self, netns: str, dev: str) -> None:
        if not (self.programs and shutil.which("dnsmasq")):
            self.out("  - no dnsmasq: the qdhcp namespace has no DHCP server")
            return
        files = os.path.join(self.state_dir, f"{self.prefix}-dnsmasq")
        self._remember("files", f"{files}.leases")
        argv = ["dnsmasq", "--no-hosts", "--no-resolv", f"--interface={dev}", "--bind-interfaces",
                "--except-interface=lo", "--dhcp-range=10.0.0.10,10.0.0.100,12h",
                f"--dhcp-leasefile={files}.leases", f"--pid-file={files}.pid"]
        pid = self._launch(netns, argv, f"{files}.pid")
        self.out(f"  + dnsmasq [{pid}] serves DHCP on {dev}")

    def processes(self) -> dict[int, str]:
        """pid -> comm of every process living in a lab namespace, or recorded by `up` and still ours."""
        inodes = {i for i in (_ns_inode(n) for n in self.namespaces()) if i is not None}
        found: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                    with open(f"/proc/{entry}/comm") as f:
                        found[int(entry)] = f.read().strip()
            except OSError:
                continue
        for pid in self._load().get("pids", []):
            if isinstance(pid, int) and pid not in found and _alive(pid):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if self.prefix.encode() in cmdline or HOLDER_COMM in cmdline:
                    found[pid] = cmdline.split(b"\0")[0].decode(errors="replace")
        from vnettop.actions import lab_ovs

        for pid, comm in lab_ovs.root_processes(self.prefix).items():  # VMs on OVS: in no lab namespace
            found.setdefault(pid, comm)
        return found

    # -- down / status ----------------------------------------------------------------------------

    def down(self, mutator: Mutator) -> int:
        procs = self.processes()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in procs:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and any(_alive(pid) for pid in procs):
                time.sleep(0.01)
        for pid, comm in sorted(procs.items()):
            self.out(f"  - stopped {comm} [{pid}]")
        failed = not lab_libvirt.remove(self, mutator, self._load())
        failed = not lab_owners.remove(self, mutator, self._load()) or failed
        from vnettop.actions import lab_ovs

        if lab_ovs.recorded(self) or self.ovsdb is not None:
            failed = not lab_ovs.down(self, mutator, self.ovsdb) or failed
        for name in self.namespaces():
            plan = p.DeleteNamespace(name)
            result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
            self.out(f"  {'-' if result.ok else '!'} {result.ip_command}")
            failed = failed or not result.ok
            self._journal_failed(mutator)  # not a reason to leave the rest of the lab behind
        try:  # the daemons' pid and lease files, named PREFIX-…, even when the state file is gone
            swept = [os.path.join(self.state_dir, e) for e in os.listdir(self.state_dir)
                     if e.startswith(self.prefix + "-")]
        except OSError:
            swept = []
        for path in [*self._load().get("files", []), *swept, self.state_path]:
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.rmdir(self.state_dir)  # only if empty: another lab's state may live there
        except OSError:
            pass
        self.out(f"lab {self.prefix}: {'down' if not failed else 'down, with errors (see above)'}")
        return 1 if failed else 0

    def status(self) -> int:
        """Print what exists; 0 = up and whole, 1 = partly there, 3 = nothing."""
        names = self.namespaces()
        procs = self.processes()
        domains = lab_libvirt.status_lines(self)
        if not names and not procs and not domains:
            self.out(f"lab {self.prefix}: down (nothing exists)")
            return 3
        for name in names:
            self.out(f"namespace {name}")
            for line in _describe_links(name):
                self.out(f"  {line}")
        for pid, comm in sorted(procs.items()):
            self.out(f"process {comm} [{pid}]")
        from vnettop.actions import lab_ovs

        for line in domains:
            self.out(line)
        ovs_lines = lab_ovs.status_lines(self)
        for line in ovs_lines:
            self.out(line)
        with_ovs = bool(self._load().get("ovs_bridges"))
        whole = len(names) == 2 + with_ovs and len(procs) + len(domains) >= 4 + 3 * with_ovs \
            and (not with_ovs or lab_ovs.ovs_complete(self))
        self.out(f"lab {self.prefix}: {'up' if whole else 'partly up (run `vnettop lab down`)'}")
        return 0 if whole else 1


def _describe_links(netns: str) -> list[str]:
    """`name kind [master M]` per device of a namespace (read through a socket inside it)."""
    from vnettop.linux.nsenter import call_in

    def read() -> list[str]:
        from pyroute2.iproute.linux import IPRoute

        from vnettop.collect.decode import decode_link

        with IPRoute() as ipr:
            msgs = list(ipr.link("dump"))
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in msgs}
        lines = []
        for m in msgs:
            kind = decode_link(m, 0).link.kind  # the collector's decoding: tun and tap told apart
            master = m.get_attr("IFLA_MASTER")
            via = f"  master {printable_line(str(names.get(master)))}" if master else ""
            name = printable_line(str(names[m["index"]]))
            lines.append(f"{name}{' ' * (16 - display_width(name))} {kind}{via}")
        return lines

    try:
        fd = netnsfs.open_netns(netns)
    except VnettopError as exc:
        return [str(exc)]
    try:
        return call_in(fd, read)
    except OSError as exc:
        return [f"cannot read: {exc}"]
    finally:
        os.close(fd)


def cli_lab(action: str, journal: str | None, prefix: str = DEFAULT_PREFIX, ovs: bool = False,
            ovsdb: str | None = None) -> int:
    """Entry point for `vnettop lab up|down|status [--ovs]`; returns the exit status."""
    lab = Lab(prefix)
    if action == "status":
        return lab.status()
    if action not in ("up", "down"):
        print(f"vnettop lab: unknown action {action!r} (use up, down or status)", file=sys.stderr)
        return 2
    if ovs:
        from vnettop.ovsdb.jsonrpc import default_socket

        lab.ovsdb = ovsdb or default_socket()
    elif action == "down":
        lab.ovsdb = ovsdb  # where to sweep for the lab's OVS bridges if its state file is gone
    if ovs and action == "up":
        from vnettop.actions import lab_ovs

        why = lab_ovs.preflight(prefix, lab.ovsdb or "")
        if why is not None:
            print(printable_line(f"vnettop lab up --ovs: {why}; nothing was built"), file=sys.stderr)
            return 1
    mutator, notice = Mutator.for_cli(False, journal, snapshot_provider=_no_snapshot, ovsdb=lab.ovsdb)
    if mutator.read_only:
        why = printable_line(str(notice))
        print(f"vnettop lab {action}: cannot change the system ({why})", file=sys.stderr)
        return 1
    return _run_journalled(lab, action, mutator)


def _run_journalled(lab: Lab, action: str, mutator: Mutator) -> int:
    """`up` or `down`, with every change in the journal, or a clear line and a non-zero exit.

    The journal is opened before anything is changed: a journal that cannot be written (missing or
    read-only directory, a directory in its place) refuses the command with nothing done. One that
    fails later (a full disk) stops `up`, which removes what it made; `down` goes on removing the lab.
    Either way the last line says which file and why, and the exit status is 1.
    """
    from vnettop.textsafe import printable_line

    assert mutator.journal is not None
    try:
        mutator.journal.check_writable()
    except OSError as exc:
        print(printable_line(f"vnettop lab {action}: cannot write the journal {mutator.journal.path}: "
                             f"{exc.strerror or exc}; nothing was changed (--journal FILE picks "
                             f"another)"), file=sys.stderr)
        return 1
    code = lab.up(mutator) if action == "up" else lab.down(mutator)
    if lab.journal_error is not None:
        print(printable_line(f"vnettop lab {action}: the journal could not be written "
                             f"({lab.journal_error}); the lines above say what was done"), file=sys.stderr)
        return code or 1
    return code


# -- the child side: run inside a lab namespace --------------------------------------------------


def _enter(path: str) -> None:
    from vnettop.linux.nsenter import setns

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
    finally:
        os.close(fd)


def _hold(dev: str, mode: str, udp_port: int | None) -> None:
    """Hold `dev` open like a VM or VPN would (and a UDP socket, like openvpn), until killed."""
    import fcntl
    import socket

    from vnettop.actions.tuntap import IFF_NO_PI, IFF_TAP, IFF_TUN, TUNSETIFF, ifreq
    from vnettop.linux.libc import name_this_thread

    name_this_thread(HOLDER_COMM.decode())  # the main thread: `ps` shows what this is
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, ifreq(dev, (IFF_TAP if mode == "tap" else IFF_TUN) | IFF_NO_PI))
    sock = None
    if udp_port is not None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", udp_port))
    os.write(1, b"ready\n")
    while True:
        signal.pause()


def main(argv: list[str]) -> None:
    """`exec NSPATH -- ARGV...` (setns, then exec) or `exec NSPATH -- vntlab-holder hold DEV MODE [PORT]`."""
    if len(argv) < 4 or argv[0] != "exec" or argv[2] != "--":
        sys.exit("usage: python -m vnettop.actions.lab exec NSPATH -- ARGV...")
    _enter(argv[1])
    rest = argv[3:]
    if rest[0] == HOLDER_COMM.decode():
        _hold(rest[2], rest[3], int(rest[4]) if len(rest) > 4 else None)
    os.execvp(rest[0], rest)


if __name__ == "__main__":
    main(sys.argv[1:])
