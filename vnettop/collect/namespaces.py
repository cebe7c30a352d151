"""Namespace discovery: every network namespace visible from here, deduplicated by nsfs inode.

Sources, as `ip netns`, docker and a process listing see them:
- the root namespace: the one the collector runs in (`/proc/self/ns/net`; `/proc/1/ns/net` may be
  EACCES in a container);
- `/run/netns/*`: iproute2's names (bind mounts of nsfs files);
- `/run/docker/netns/*`: docker's sandboxes (same mechanism, named by sandbox id);
- every `/proc/PID/ns/net`: containers and `unshare -n` processes have no name at all;
- every other nsfs bind mount of a network namespace in the mount table (`/proc/self/mountinfo`, fstype
  `nsfs`, mount root `net:[INODE]`): rootless Podman keeps its namespaces under /run/user/UID/netns/, and
  any tool may mount one anywhere (`unshare --net=/some/file`);
- fds on nsfs files held by processes (`/proc/PID/fd/N -> net:[INODE]`, what `lsfd` shows): a namespace
  may be kept alive by nothing else (`ip netns del` while a process still holds it open). Reading every
  process's fds is the /proc scan's job (`processes.ProcScanner`, incremental); `with_held` adds its
  findings, so discovery itself never walks the fd directories a second time.

What the mount table covers: vnettop's own mount namespace only. A namespace mounted only inside another
mount namespace (a container's) is found through the processes in it or holding it, not through that
mount: its path would not open from here anyway, and reading /proc/PID/mountinfo of every process costs a
parse of a whole mount table per mount namespace on every tick.

How an inode is read, and why two ways: `/proc/PID/ns/net` is a magic link whose text is
`net:[INODE]`, so `readlink` is enough (and is what a fake tree under tmp_path can imitate with a
plain symlink). A `/run/netns` entry is a bind mount, so it is `stat`ed: `st_ino` is the namespace's
inode only if the file lives on the nsfs filesystem (`st_dev` equal to nsfs's). While `ip netns add`
is in progress the entry is still an empty tmpfs file; it is skipped quietly and seen on the next scan.

Processes come and go during the scan: ENOENT/ESRCH are silent, EACCES (not root) is summed up in one
error, never raised.
"""

from __future__ import annotations

import errno
import os
import re
import select
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from vnettop.collect.pidlist import PidLister, list_pids
from vnettop.collect.rota import Rota
from vnettop.collect.types import Discovery, NsEntry
from vnettop.model import CollectError, NsFd

_NS_LINK = re.compile(r"^net:\[(\d+)\]$")
#: The key of the error that says /proc could not be listed, among the per-pid ones (no process has pid 0).
_UNLISTED = 0
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENOTDIR, errno.EINVAL)


def inode_from_link(text: str) -> int | None:
    """The inode in a `net:[4026531840]` link text, or None if the text is not one."""
    m = _NS_LINK.match(text)
    return int(m.group(1)) if m else None


def read_link_inode(path: str) -> int | None:
    """Inode of the namespace a `/proc/.../ns/net` link names; None if the link is gone or odd.

    Raises PermissionError (EACCES) so the caller can say what it could not see.
    """
    try:
        return inode_from_link(os.readlink(path))
    except PermissionError:
        raise
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise


def nsfs_device(self_ns_path: str) -> int | None:
    """The st_dev of the nsfs filesystem (all namespace files share it), or None if unknown."""
    try:
        return os.stat(self_ns_path).st_dev
    except OSError:
        return None


def _named(directory: str, nsfs_dev: int | None) -> tuple[dict[str, int], list[CollectError]]:
    """name -> inode for the mounted namespace files in one directory (missing directory: none)."""
    found: dict[str, int] = {}
    errors: list[CollectError] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found, errors
    except OSError as exc:
        return found, [CollectError(directory, f"cannot list namespaces: {exc.strerror}")]
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue  # removed meanwhile
        except OSError as exc:
            errors.append(CollectError(f"netns {name}", f"cannot read {path}: {exc.strerror}"))
            continue
        if nsfs_dev is not None and st.st_dev != nsfs_dev:
            continue  # not (yet, or no longer) a mounted namespace: `ip netns add` in progress
        found[name] = st.st_ino
    return found, errors


_OCTAL = re.compile(rb"\\([0-7]{3})")
#: A mountinfo line of an nsfs mount of a network namespace: "ID PARENT MAJ:MIN net:[INODE] MOUNTPOINT
#: OPTIONS [OPTIONAL FIELDS...] - nsfs SOURCE SUPER_OPTIONS". One pass over the whole table (a host with
#: 200 named namespaces has 200+ such lines, read on every tick).
_NSFS_MOUNT = re.compile(rb"^\S+ \S+ \S+ net:\[(\d+)\] (\S+) [^\n]*? - nsfs ", re.M)


def _unescape_mount_path(field: bytes) -> str:
    """A mountinfo path field as a file system path: the kernel writes space, tab, newline and
    backslash as `\\ooo` octal escapes. Bytes that are not UTF-8 survive (os.fsdecode)."""
    if b"\\" in field:
        field = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), field)
    return os.fsdecode(field)


def nsfs_mounts(mountinfo: str = "/proc/self/mountinfo") -> dict[str, int]:
    """mount point -> inode of every network namespace bind-mounted in this mount table.

    A missing or unreadable table gives {} (a fake tree without one; /proc not mounted).
    """
    try:
        with open(mountinfo, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    return {_unescape_mount_path(m.group(2)): int(m.group(1)) for m in _NSFS_MOUNT.finditer(data)}


def _denied_error(pids: list[int]) -> CollectError:
    """One error for all the processes whose namespace we may not read (not one per process)."""
    shown = ", ".join(str(p) for p in pids[:5]) + (", ..." if len(pids) > 5 else "")
    hint = "" if os.geteuid() == 0 else " (run as root to see them)"
    plural = "es" if len(pids) > 1 else ""
    return CollectError(
        "processes",
        f"permission denied reading the network namespace of {len(pids)} process{plural} "
        f"(pid {shown}){hint}",
    )


@dataclass(frozen=True, slots=True)
class _Named:
    """What the mount table and the name directories say: the part of a discovery that only a mount or
    an unmount can change."""

    root_inode: int | None
    names: dict[int, list[str]]
    paths: dict[int, str]
    mounts: dict[int, list[str]]
    errors: tuple[CollectError, ...]


def _named_part(proc_root: str, run_root: str, self_ns_path: str, nsfs_dev: int | None,
                mountinfo: str | None) -> _Named:
    errors: list[CollectError] = []
    if nsfs_dev is None:
        nsfs_dev = nsfs_device(self_ns_path)

    root_inode: int | None = None
    try:
        root_inode = read_link_inode(self_ns_path)
        if root_inode is None:
            errors.append(CollectError("netns root", f"{self_ns_path} does not name a network namespace"))
    except OSError as exc:
        errors.append(CollectError("netns root", f"cannot read {self_ns_path}: {exc.strerror}"))

    names: dict[int, list[str]] = {}
    paths: dict[int, str] = {}
    if root_inode is not None:
        paths[root_inode] = self_ns_path
    name_dirs = (os.path.join(run_root, "netns"), os.path.join(run_root, "docker", "netns"))
    for directory in name_dirs:
        found, errs = _named(directory, nsfs_dev)
        errors.extend(errs)
        for name, inode in sorted(found.items()):
            names.setdefault(inode, []).append(name)
            paths.setdefault(inode, os.path.join(directory, name))

    mounts: dict[int, list[str]] = {}
    table = nsfs_mounts(mountinfo if mountinfo is not None else os.path.join(proc_root, "self", "mountinfo"))
    for where, inode in sorted(table.items()):
        if os.path.dirname(where) in name_dirs:
            continue  # a name, counted above (if it was mounted when its directory was listed)
        mounts.setdefault(inode, []).append(where)
        paths.setdefault(inode, where)
    return _Named(root_inode, names, paths, mounts, tuple(errors))


def _pid_part(proc_root: str) -> tuple[dict[int, int], list[int], list[CollectError]]:
    """pid -> namespace inode of every visible process, the pids denied, other errors."""
    pid_netns: dict[int, int] = {}
    denied: list[int] = []
    errors: list[CollectError] = []
    for pid in sorted(list_pids(proc_root) or ()):
        path = f"{proc_root}/{pid}/ns/net"
        try:
            pid_inode = read_link_inode(path)
        except PermissionError:
            denied.append(pid)
            continue
        except OSError as exc:  # anything else odd about one process: say so, go on
            errors.append(CollectError(f"pid {pid}", f"cannot read {path}: {exc.strerror}"))
            continue
        if pid_inode is None:
            continue  # the process exited meanwhile
        pid_netns[pid] = pid_inode
    return pid_netns, denied, errors


def _assemble(named: _Named, pid_netns: dict[int, int], denied: list[int], pid_errors: list[CollectError],
              proc_root: str, listed: frozenset[int] | None = None) -> Discovery:
    errors = [*named.errors, *pid_errors]
    if denied:
        errors.append(_denied_error(sorted(denied)))
    paths = dict(named.paths)
    pids_of: dict[int, list[int]] = {}
    for pid, inode in pid_netns.items():
        pids_of.setdefault(inode, []).append(pid)
    for inode, pids in pids_of.items():
        paths.setdefault(inode, f"{proc_root}/{min(pids)}/ns/net")

    names, mounts, root_inode = named.names, named.mounts, named.root_inode
    entries = [
        NsEntry(
            inode=inode,
            names=tuple(sorted(names.get(inode, ()))),
            root=inode == root_inode,
            path=path,
            pids=tuple(sorted(pids_of.get(inode, ()))),
            mounts=tuple(mounts.get(inode, ())),
        )
        for inode, path in paths.items()
    ]
    entries.sort(key=lambda e: (not e.root, e.inode))
    return Discovery(namespaces=tuple(entries), pid_netns=pid_netns, errors=tuple(errors),
                     pids_complete=not denied, pids=listed)


def _patched(last: Discovery, named: _Named, pid_netns: dict[int, int], touched: set[int], denied: list[int],
             pid_errors: list[CollectError], proc_root: str, listed: frozenset[int] | None) -> Discovery:
    """What `_assemble` gives when, since it made `last` from the same `named`, only the processes of the
    namespaces `touched` came, went or moved: their entries made again, every other one last's own
    object (a process starting somewhere costs its namespace's entry, not a thousand)."""
    entries: list[NsEntry] = list(last.namespaces)
    if touched:
        pids_of: dict[int, list[int]] = {inode: [] for inode in touched}
        for pid, inode in pid_netns.items():
            if inode in pids_of:
                pids_of[inode].append(pid)
        where = {e.inode: k for k, e in enumerate(entries)}
        gone: set[int] = set()
        added = False
        for inode, pids in pids_of.items():
            path = named.paths.get(inode) or (f"{proc_root}/{min(pids)}/ns/net" if pids else None)
            k = where.get(inode)
            if path is None:  # no name, no mount, no process left in it
                if k is not None:
                    gone.add(inode)
                continue
            entry = NsEntry(inode, tuple(sorted(named.names.get(inode, ()))), inode == named.root_inode, path,
                            tuple(sorted(pids)), tuple(named.mounts.get(inode, ())))
            if k is None:
                entries.append(entry)
                added = True
            elif entries[k] != entry:
                entries[k] = entry
        if gone:
            entries = [e for e in entries if e.inode not in gone]
        if added:
            entries.sort(key=lambda e: (not e.root, e.inode))
    errors = [*named.errors, *pid_errors]
    if denied:
        errors.append(_denied_error(sorted(denied)))
    return Discovery(namespaces=tuple(entries), pid_netns=pid_netns, errors=tuple(errors),
                     pids_complete=not denied, pids=listed)


def discover(
    proc_root: str = "/proc",
    run_root: str = "/run",
    self_ns_path: str = "/proc/self/ns/net",
    nsfs_dev: int | None = None,
    mountinfo: str | None = None,
) -> Discovery:
    """Find every network namespace: root, named (iproute2, docker), mounted elsewhere, process-only
    and fd-only ones.

    `nsfs_dev` is the device number a mounted namespace file has; by default that of
    `self_ns_path` (tests on a fake tree pass the device of their tmp directory).
    `mountinfo` is the mount table to read, by default `PROC_ROOT/self/mountinfo`. Namespaces held only
    by fds are added by `with_held` (from the /proc scan).
    Never raises for what it cannot see: that goes in `Discovery.errors`.
    """
    named = _named_part(proc_root, run_root, self_ns_path, nsfs_dev, mountinfo)
    return _assemble(named, *_pid_part(proc_root), proc_root)


class Discoverer:
    """`discover()` again and again, as cheap as what changed since the last time.

    Why: at 1000 namespaces a discovery stats 1000 name files and parses a 1000-line mount table
    (~6 ms, most of an idle collect's budget) although on most ticks nothing was mounted or unmounted;
    and reading the namespace of each of ~375 processes costs ~1 ms of readlink, and as much again in
    Python, for processes that almost never change namespace.

    The kernel says when the mount table changes: a `poll` on an open `/proc/self/mountinfo` reports
    POLLPRI once after each change (and resets on that report). So the names and mounts are re-read only
    after such a report (polled before reading, so a change during the read is reported next time).
    A named namespace always appears by a mount (`ip netns add` mounts after creating the file, which
    alone is skipped as not yet nsfs), so nothing named can be missed.

    /proc itself is listed again only when the kernel's task mark says a process may have come or gone
    (`pidlist.PidLister`). The processes' namespaces are read as `rota.Rota` says: a new process at
    first sight, a young one on each tick (`unshare -n` and `ip netns exec` enter their namespace just
    after starting), every other one once every `rota.ROUNDS` ticks but a kernel thread (`settle`: read
    at first sight only); and every process, kernel threads too, on the first call, after a mount table
    change (a new namespace is often entered right after it is mounted) and on the call after
    `look_at_everyone()` (the collector's: a device points into a namespace it does not know). When
    nothing read differs, the last Discovery itself is returned (the collector then
    reuses its entries by identity). Anywhere but the real /proc (tests' fake trees), or when the table
    cannot be opened, the names and mounts are read on every call.
    """

    def __init__(self, proc_root: str = "/proc", run_root: str = "/run", rota: Rota | None = None) -> None:
        self.proc_root = proc_root
        self.run_root = run_root
        self._mount_poll: select.poll | None = None
        self._mount_fd: int | None = None
        if os.path.realpath(proc_root) == "/proc":
            try:
                self._mount_fd = os.open(os.path.join(proc_root, "self", "mountinfo"),
                                         os.O_RDONLY | os.O_CLOEXEC)
                self._mount_poll = select.poll()
                self._mount_poll.register(self._mount_fd, select.POLLPRI)
            except OSError:
                self._mount_fd = None
        self._named: _Named | None = None
        self._last: Discovery | None = None
        self._rota = rota if rota is not None else Rota()
        self._lister = PidLister(proc_root)
        self._pid_netns: dict[int, int] = {}
        self._denied: set[int] = set()
        self._pid_errors: dict[int, CollectError] = {}
        self._touched: set[int] = set()  # namespaces whose processes changed since the last Discovery
        self._everyone_next = False
        #: Whether the last call re-read the mount table and name directories (tests, benchmarks).
        self.read_mounts = False
        #: Whether the last call read every process's namespace (the /proc scan follows it).
        self.looked_all = False
        #: How many processes' namespaces the last call read (tests, benchmarks).
        self.last_reads = 0
        self._settled: AbstractSet[int] = frozenset()

    def settle(self, pids: AbstractSet[int]) -> None:
        """From now on, leave `pids` out of the turns: they are kernel threads (the collector passes the
        /proc scan's, which tells them by PF_KTHREAD), and a kernel thread stays in the host's namespace
        (a process calls setns or unshare; a kernel thread runs kernel code). Their namespace is still
        read at first sight and whenever everyone is looked at. The set is kept, not copied: the scan
        keeps it current as threads come and go.

        Why: every `rota.ROUNDS` ticks each known process's namespace link is read again. A host runs a
        few kernel threads per core (62 of ~375 processes on a 2-core test machine, hundreds on a large
        hypervisor): that share of the turns could not show a change.

        What a turn would still have caught: a pid whose kernel thread exited and that a new process
        took before the next listing of /proc (the pid counter wrapped around within one tick; /proc is
        listed again after any task came or went). Such a process's namespace is read again when
        everyone is looked at (a mount, a device pointing into an unknown namespace), not on a turn."""
        self._settled = pids

    def look_at_everyone(self) -> None:
        """Read every process's namespace at the next call, not just the new, young and due ones."""
        self._everyone_next = True

    def discover(self) -> Discovery:
        mounts_changed = self._mount_poll is None or bool(self._mount_poll.poll(0))
        self.read_mounts = mounts_changed or self._named is None
        if self.read_mounts:
            self._named = _named_part(self.proc_root, self.run_root, "/proc/self/ns/net", None, None)
        named = self._named
        assert named is not None
        everyone = self._everyone_next or (self.read_mounts and self._mount_poll is not None)
        self._everyone_next = False
        new, due, gone = self._rota.tick(self._lister.pids(listing=everyone), everyone)
        unlisted = self._lister.failed != (_UNLISTED in self._pid_errors)  # (said, or no longer so)
        if self._lister.failed:
            self._pid_errors[_UNLISTED] = CollectError(
                "proc", f"cannot list {self.proc_root}: processes that started or ended since it last could "
                "are not seen")
        else:
            self._pid_errors.pop(_UNLISTED, None)
        if self._settled and not everyone:  # (a new pid is read anyway: every pid is new at first sight)
            due = due - self._settled
        self.looked_all = everyone or self._rota.ticks == 1
        # A pid listed or no longer listed changes the discovery (its `pids`), even one that exited before
        # its namespace was read.
        changed = bool(new or gone or unlisted)
        if gone:
            self._forget(gone)
        if self._read(new) if new else False:
            changed = True
        if self._read(due) if due else False:
            changed = True
        self.last_reads = len(new) + len(due)
        last = self._last
        if last is not None and not changed and not self.read_mounts:
            return last
        args = (dict(self._pid_netns), list(self._denied), list(self._pid_errors.values()), self.proc_root,
                self._rota.known())
        if last is not None and not self.read_mounts:
            self._last = _patched(last, named, args[0], self._touched, *args[1:])
        else:
            self._last = _assemble(named, *args)
        if self._lister.failed and self._last.pids_complete:  # (a namespace's processes may be missing)
            self._last = replace(self._last, pids_complete=False)
        self._touched = set()
        return self._last

    def _forget(self, pids: set[int]) -> None:
        """Drop what is known of processes that exited."""
        pid_netns, denied, errs = self._pid_netns, self._denied, self._pid_errors
        for pid in pids:
            inode = pid_netns.pop(pid, None)
            if inode is not None:
                self._touched.add(inode)
            denied.discard(pid)
            errs.pop(pid, None)

    def _read(self, pids: set[int]) -> bool:
        """Read the namespace of `pids`; True if anything differs from what was known."""
        changed = False
        pid_netns, denied, errs = self._pid_netns, self._denied, self._pid_errors
        root = self.proc_root
        for pid in pids:
            path = f"{root}/{pid}/ns/net"
            try:
                inode = read_link_inode(path)
            except PermissionError:
                if pid not in denied:
                    denied.add(pid)
                    changed = True
                continue
            except OSError as exc:  # anything else odd about one process: say so, go on
                err = CollectError(f"pid {pid}", f"cannot read {path}: {exc.strerror}")
                if errs.get(pid) != err:
                    errs[pid] = err
                    changed = True
                continue
            if pid in denied:
                denied.discard(pid)
                changed = True
            if errs and errs.pop(pid, None) is not None:
                changed = True
            was = pid_netns.get(pid)
            if was == inode:
                continue
            if was is not None:
                self._touched.add(was)
            if inode is None:  # the process exited meanwhile
                del pid_netns[pid]
            else:
                pid_netns[pid] = inode
                self._touched.add(inode)
            changed = True
        return changed

    def close(self) -> None:
        self._lister.close()
        if self._mount_fd is not None:
            os.close(self._mount_fd)
            self._mount_fd = None
            self._mount_poll = None


def with_held(disc: Discovery, held: Mapping[int, Sequence[NsFd]], proc_root: str = "/proc") -> Discovery:
    """`disc` with the processes' fds on namespaces (`ProcScan.ns_fds`) added: to the namespaces found
    otherwise as one more way in, and as new entries (path `/proc/PID/fd/N`) for those kept alive by
    nothing else. Same order as `discover`: root first, then by inode."""
    if not held:
        return disc
    entries = []
    for entry in disc.namespaces:
        fds = held.get(entry.inode)
        entries.append(replace(entry, fds=_sorted_fds(fds)) if fds else entry)
    known = {e.inode for e in disc.namespaces}
    for inode, fds in held.items():
        if inode not in known and fds:
            first = _sorted_fds(fds)
            entries.append(NsEntry(inode, (), False, f"{proc_root}/{first[0].pid}/fd/{first[0].fd}", (),
                                   fds=first))
    entries.sort(key=lambda e: (not e.root, e.inode))
    return replace(disc, namespaces=tuple(entries))


def _sorted_fds(fds: Sequence[NsFd]) -> tuple[NsFd, ...]:
    return tuple(sorted(fds, key=lambda h: (h.pid, h.fd)))


def candidate_paths(entry: NsEntry, proc_root: str = "/proc") -> list[str]:
    """Every path that should open `entry`'s namespace, best first (its pids may exit any moment).

    Whoever opens one must check the opened file's inode: a pid can be reused by another process.
    """
    out = [entry.path]
    out += [p for p in (f"{proc_root}/{pid}/ns/net" for pid in entry.pids) if p != entry.path]
    out += [p for p in entry.mounts if p != entry.path]
    out += [p for p in (f"{proc_root}/{h.pid}/fd/{h.fd}" for h in entry.fds) if p != entry.path]
    return out


def netns_dirs_signature(dirs: Iterable[str]) -> frozenset[tuple[str, int, int]]:
    """(path, st_dev, st_ino) of every file in `dirs`: it changes when a namespace's bind mount
    appears or goes, which `events.EventHub` checks when the mount table signals a change."""
    sig: set[tuple[str, int, int]] = set()
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            sig.add((path, st.st_dev, st.st_ino))
    return frozenset(sig)
