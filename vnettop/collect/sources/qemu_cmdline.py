"""QEMU virtual machines from their command lines: the VM behind a tap, with no manager to ask.

Any qemu (started by libvirt, by Proxmox, by a script) says on its command line what it is called
(`-name guest=web-1,debug-threads=on` or `-name web-1`; qemu doubles a comma inside a value), its
uuid (`-uuid`) and its network backends, in the JSON form libvirt uses now
(`-netdev {"type":"tap","fd":"28","id":"hostnet0"}`), the old key=value form
(`-netdev tap,fd=28,id=hostnet0,vhost=on,vhostfd=30`, multi-queue `fds=28:29`) or with qemu opening
the tap itself (`-netdev tap,id=n0,ifname=tap0`). The kernel picture already says which process holds
which tap through which fd (`TunHolder.fds`), so a backend's `fd=N` names the very tap; `ifname=` names a
device looked up in the qemu's namespace (else the root one), never a same-name device elsewhere.

The processes looked at: every holder of a tap, and every process the picture describes whose comm or
argv[0] is qemu's (`qemu-system-*`, `qemu-kvm`, `kvm`); other holders (openvpn, ovs-vswitchd) are not
VMs and are passed over. The guest name is read by `topology.vm_name`, the one parser of `-name`. The
argv is taken from /proc/PID/cmdline under the root when it still matches the picture's command line
(a name with a space survives), else from the picture's line split at its spaces.

A command line alone is not proof (anyone can pass `-name`), so `exact` is False and `source` is
"cmdline"; with `-uuid` the id is the uuid, the same as libvirt's, so the runtime XML's exact entry and
this one merge into one owner (`enrich.merge_owners`, `details.also: cmdline`). Proxmox's qemu carries
`-id <vmid>` (an option of Proxmox's qemu build): then the id is the VMID, the `proxmox` source's.
A qemu whose `-name` or `-uuid` cannot be read costs its owner and one error naming the process; a
qemu with no `-name` at all is shown by its uuid or VMID, or, with neither, left out (nothing to call
it by).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass

from vnettop.collect.sources import Enrichment, scope
from vnettop.model import CollectError, Link, LinkKey, Owner, Process, Snapshot

NAME = "qemu_cmdline"
SOURCE = "cmdline"
#: qemu's command line with many disks and devices is a few kB; the kernel allows up to ~2 MB.
MAX_BYTES = 256 << 10
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NETDEV_OPTS = ("-netdev", "--netdev", "-nic", "--nic", "-net", "--net")


class BadCmdline(Exception):
    """A qemu command line whose name or uuid cannot be read; the message says why."""


def is_qemu(comm: str, argv0: str) -> bool:
    """Whether a process is a qemu system emulator, by its comm or its argv[0]'s file name."""
    base = os.path.basename(argv0)
    return (comm.startswith("qemu") or base.startswith("qemu-system-")
            or base in ("qemu-kvm", "kvm") or comm == "kvm")


@dataclass(frozen=True, slots=True)
class Backend:
    """One tap network backend of a qemu command line."""

    id: str | None
    fds: tuple[int, ...]  # the tap fds qemu was handed (fd=, fds=a:b)
    ifname: str | None  # the tap qemu opened itself (ifname=)
    vhost: bool


def _split_opts(value: str) -> dict[str, str]:
    """qemu's `key=value,key=value` (`,,` is a comma inside a value); a bare first item keys as "type"."""
    out: dict[str, str] = {}
    for i, part in enumerate(value.replace(",,", "\0").split(",")):
        key, eq, val = part.partition("=")
        if not eq and i == 0:
            key, val = "type", key
        out[key.replace("\0", ",")] = val.replace("\0", ",")
    return out


def _fd_list(text: str) -> tuple[int, ...]:
    return tuple(int(f) for f in re.split(r"[:,]", text) if f.strip().isdigit())


def backend(value: str) -> Backend | None:
    """The tap backend an option value describes (JSON or key=value), or None if it is not a tap."""
    opts: dict[str, object]
    if value.lstrip().startswith("{"):
        try:
            loaded = json.loads(value)
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        opts = loaded
    else:
        opts = dict(_split_opts(value))
    if opts.get("type") != "tap":
        return None
    fds: tuple[int, ...] = ()
    for key in ("fd", "fds"):
        raw = opts.get(key)
        if isinstance(raw, (str, int)):
            fds += _fd_list(str(raw))
    vhost = opts.get("vhost")
    ifname = opts.get("ifname")
    ident = opts.get("id")
    return Backend(ident if isinstance(ident, str) else None, fds,
                   ifname if isinstance(ifname, str) and ifname else None,
                   vhost in (True, "on", "true", "yes") or "vhostfd" in opts or "vhostfds" in opts)


@dataclass(frozen=True, slots=True)
class Qemu:
    """What a qemu command line says of the VM."""

    name: str | None
    uuid: str | None
    backends: tuple[Backend, ...]
    vmid: str | None = None  # Proxmox's `-id 100` (its qemu's own option)


def parse(argv: list[str]) -> Qemu:
    """The VM a qemu argv describes (raises BadCmdline when `-name` or `-uuid` is there but unreadable).

    The caller has decided it is a qemu (`is_qemu`), so the name parser is told so by the comm.
    """
    from vnettop.topology import vm_name  # only for a qemu found: the module is ~4 ms of a dump's start

    name = vm_name(Process(0, "qemu", shlex.join(argv), None))
    named = False
    uuid: str | None = None
    vmid: str | None = None
    backends: list[Backend] = []
    for i, tok in enumerate(argv):
        opt, eq, inline = tok.partition("=")
        value = inline if eq and opt.startswith("-") else (argv[i + 1] if i + 1 < len(argv) else None)
        key = opt if eq else tok
        if key in ("-name", "--name"):
            named = True
        elif key in ("-uuid", "--uuid"):
            if value is None or not UUID.match(value):
                raise BadCmdline(f"-uuid {value!r} is not a uuid")
            uuid = value.lower()
        elif key == "-id" and value is not None and value.isdigit():
            vmid = value
        elif key in NETDEV_OPTS and value is not None:
            found = backend(value)
            if found is not None:
                backends.append(found)
    if named and name is None:
        raise BadCmdline("its -name gives no guest name")
    return Qemu(name, uuid, tuple(backends), vmid)


class QemuCmdline:
    """The `qemu_cmdline` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def available(self) -> bool:
        return True  # it reads the picture's processes, and their /proc files when there

    def fileno(self) -> int | None:
        return None  # a qemu started or stopped changes the picture (its tap, its process)

    def close(self) -> None:
        pass

    def _argv(self, pid: int, proc: Process | None) -> list[str] | None:
        """The process's argv: /proc/PID/cmdline when it matches the picture's, else the picture's."""
        try:
            with open(os.path.join(self.root, "proc", str(pid), "cmdline"), "rb") as f:
                raw = f.read(MAX_BYTES)
            argv = [os.fsdecode(a) for a in raw.rstrip(b"\0").split(b"\0")] if raw else []
        except OSError:
            argv = []
        if argv and (proc is None or " ".join(argv) == proc.cmdline):
            return argv
        if proc is None or not proc.cmdline:
            return None
        # The picture joined the arguments with spaces and quoted nothing: split on them (shlex would
        # eat the JSON's double quotes), losing only a space inside an argument.
        return proc.cmdline.split()

    def read(self, base: Snapshot) -> Enrichment:
        procs: dict[int, Process] = {p.pid: p for ns in base.namespaces for p in ns.processes}
        held: dict[int, dict[int, Link]] = {}  # pid -> fd -> tap
        comms: dict[int, str] = {}
        for link in base.links:
            if link.tun is None:
                continue
            for holder in link.tun.known_holders:
                comms.setdefault(holder.pid, holder.comm)
                fds = held.setdefault(holder.pid, {})
                for fd in holder.fds:
                    fds[fd] = link
        candidates = set(held) | {pid for pid, p in procs.items()
                                  if is_qemu(p.comm, p.cmdline.split(" ", 1)[0])}
        if not candidates:
            return Enrichment(owners=())
        ns_of = {pid: ns.inode for ns in base.namespaces for pid in ns.pids if pid in candidates}
        root_ns = base.root
        root = root_ns.inode if root_ns is not None else None
        by_name = {(link.netns, link.name): link for link in base.links if link.kind == "tap"}
        owners: list[Owner] = []
        errors: list[CollectError] = []
        for pid in sorted(candidates):
            proc = procs.get(pid)
            comm = proc.comm if proc is not None else comms.get(pid, "")
            argv = self._argv(pid, proc)
            if not argv or not is_qemu(comm, argv[0]):
                continue
            try:
                qemu = parse(argv)
            except BadCmdline as e:
                errors.append(CollectError(scope(NAME), f"qemu pid {pid} (/proc/{pid}/cmdline): {e}; "
                                           "that VM is not shown"))
                continue
            if qemu.name is None and qemu.uuid is None and qemu.vmid is None:
                continue
            owners.append(self._owner(pid, qemu, held.get(pid, {}), ns_of.get(pid, root), by_name,
                                      pid in ns_of))
        return Enrichment(owners=tuple(owners), errors=tuple(errors))

    @staticmethod
    def _owner(pid: int, qemu: Qemu, fds: dict[int, Link], home: int | None,
               by_name: dict[tuple[int, str], Link], seen: bool) -> Owner:
        links: set[LinkKey] = {link.key for link in fds.values()}  # every tap it holds is its own
        named: list[str] = []
        for b in qemu.backends:
            taps = [fds[fd] for fd in b.fds if fd in fds]
            if b.ifname is not None and home is not None:
                found = by_name.get((home, b.ifname))
                if found is not None:
                    taps.append(found)
            links |= {t.key for t in taps}
            names = sorted({t.name for t in taps}) or ["?"]
            named.append(f"{b.id or '?'}={'+'.join(names)}" + (" (vhost)" if b.vhost else ""))
        details = {"guest": qemu.name} if qemu.name else {}
        if named:
            details["netdev"] = ", ".join(named)
        if qemu.uuid:
            details["uuid"] = qemu.uuid
        if qemu.vmid:
            details["vmid"] = qemu.vmid
        # Proxmox's qemu: its VMID is the id the `proxmox` source gives the guest, so the two merge.
        ident = qemu.vmid or qemu.uuid
        return Owner(kind="vm", name=qemu.name or f"VM {ident}", id=ident, runtime="qemu", source=SOURCE,
                     exact=False, details=tuple(sorted(details.items())), links=tuple(sorted(links)),
                     pids=(pid,) if seen else ())
