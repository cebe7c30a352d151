"""The one door to the kernel's write side: `Mutator.apply(plan)`.

Order of checks in `apply`, each recorded in the journal when it stops the plan:
1. read-only: refused before any syscall on the network side (no netlink socket, no setns, no
   /dev/net/tun, no mount, no pyroute2 import); only the journal line recording the refusal is written;
2. validation of the plan's fields;
3. guards: warnings (SSH route, physical NIC, held tap) the caller has not confirmed;
4. the kernel: one pyroute2 request on a thread inside the device's namespace (or the tun ioctl, or
   the namespace mount); its refusal becomes one clear line (`ApplyResult(ok=False, ...)`).

Namespaces are opened only through `netnsfs.open_netns`, which never creates one. A device named by a
plan that came from a screen carries the ifindex the screen saw; if the name now has another index the
plan is refused as "replaced since the screen drew it" instead of acting on a different device.

Names are handed to pyroute2 as raw bytes when they are not UTF-8 (`vnettop.names.for_kernel`):
pyroute2 encodes a str as strict UTF-8, which refuses the escaped bytes of such a name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vnettop import names
from vnettop.actions import guards, netnsfs, privilege
from vnettop.actions import plans as p
from vnettop.actions import validate as v
from vnettop.actions.errno_text import explain
from vnettop.actions.guards import GuardWarning, SshContext
from vnettop.actions.journal import Journal
from vnettop.actions.ovs_plans import OvsPlan
from vnettop.errors import ActionError, NotFoundError, ReadOnlyError, ValidationError, VnettopError
from vnettop.model import Snapshot

SnapshotProvider = Callable[[], Snapshot]
RouteLookup = Callable[[str], int | None]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What happened to one plan: ok, one human line, and the equivalent `ip` command."""

    ok: bool
    message: str
    ip_command: str
    duration_ms: float = 0.0


def _where(netns: str | None) -> str:
    return "the root namespace" if netns is None else f"namespace {netns}"


def _ipr() -> Any:
    """A pyroute2 IPRoute bound to the calling thread's namespace (imported lazily: it is slow)."""
    from pyroute2.iproute.linux import IPRoute

    return IPRoute()


def _lookup(ipr: Any, name: str, netns: str | None, seen: int | None = None) -> int:
    """ifindex of `name`, checking it is still the device a screen saw (`seen`)."""
    found = ipr.link_lookup(ifname=names.for_kernel(name))  # bytes for a name that is not UTF-8
    if not found:
        raise NotFoundError(f"no device {name} in {_where(netns)} (deleted or moved since the screen "
                            f"was drawn?)")
    index = int(found[0])
    if seen is not None and index != seen:
        raise NotFoundError(f"{name} in {_where(netns)} was replaced since the screen drew it (ifindex "
                            f"{seen} then, {index} now): refresh and try again")
    return index


def _kind(ipr: Any, index: int) -> str | None:
    msg = ipr.link("get", index=index)[0]
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def _partial_snapshot(plan: p.Plan) -> Snapshot:
    """Root and the namespaces `plan` names, with tun/tap holders: what the guards need, read live.

    The live collector itself, limited to those namespaces (a full collect at 200 namespaces takes
    seconds), so the guards see the kernel exactly as the screen does. Never creates or changes anything.
    """
    from vnettop.collect.collector import LiveCollector

    wanted = {getattr(plan, attr, None) for attr in ("netns", "to_netns")}
    if isinstance(plan, p.DeleteNamespace):
        wanted.add(plan.name)
    with LiveCollector(sources=(), only=lambda e: e.root or bool(wanted.intersection(e.names))) as collector:
        return collector.collect()


def _ovs_snapshot(ovsdb: str) -> Snapshot:
    """The root namespace joined with OVSDB (the `ovs` source alone): what the OVS guards need. The SSH
    route's device is in the root namespace; an OVSDB that cannot be read leaves the section None, which
    the guard reports as unknown."""
    from vnettop.collect.collector import LiveCollector
    from vnettop.collect.sources.registry import make_sources

    sources = [s for s in make_sources("/", {"ovs": {"db": ovsdb}}) if getattr(s, "name", "") == "ovs"]
    with LiveCollector(sources=sources, only=lambda e: e.root) as collector:
        return collector.collect()


def route_lookup_root(client: str) -> int | None:
    """`ip route get CLIENT` in vnettop's own namespace: the ifindex of the outgoing device, or None."""
    try:
        with _ipr() as ipr:
            for msg in ipr.route("get", dst=client):
                oif = msg.get_attr("RTA_OIF")
                if oif:
                    return int(oif)
    except Exception:  # no route, odd address: the guard then simply has nothing to protect
        return None
    return None


def _safe_command(plan: p.Plan) -> str:
    """The plan's ip command, even for a plan whose fields are of the wrong type (then a placeholder)."""
    try:
        return plan.ip_command()
    except Exception:
        return f"({type(plan).__name__} with invalid fields)"


class Mutator:
    """Applies plans to the kernel, or refuses them. Thread-safe enough for one UI worker at a time."""

    def __init__(self, read_only: bool, journal: Journal | None = None,
                 snapshot_provider: SnapshotProvider | None = None,
                 environ: Mapping[str, str] | None = None,
                 route_lookup: RouteLookup | None = None, ovsdb: str | None = None) -> None:
        self._read_only = bool(read_only)
        #: ovsdb-server's socket for OVS plans (None: $VNETTOP_OVSDB or the usual place); never opened
        #: in read-only mode.
        self.ovsdb = ovsdb
        self.journal = journal
        self._snapshot_provider = snapshot_provider
        self._environ = os.environ if environ is None else environ
        self._route_lookup = route_lookup or route_lookup_root
        self.journal_error: str | None = None

    @property
    def read_only(self) -> bool:
        return self._read_only

    @classmethod
    def for_cli(cls, read_only_flag: bool, journal_path: str | None,
                snapshot_provider: SnapshotProvider | None = None,
                ovsdb: str | None = None) -> tuple[Mutator, str | None]:
        """The mutator the CLI builds, and a one-line notice when it is read-only for a reason the user
        did not ask for (VNETTOP_READ_ONLY=1, or no CAP_NET_ADMIN). None means no notice is needed."""
        journal = Journal(journal_path)
        if read_only_flag:
            return cls(True, journal, snapshot_provider, ovsdb=ovsdb), None
        if os.environ.get("VNETTOP_READ_ONLY", "").strip() not in ("", "0"):
            return cls(True, journal, snapshot_provider, ovsdb=ovsdb), "read-only: VNETTOP_READ_ONLY is set"
        notice = privilege.missing_privilege_notice()
        if notice is not None:
            return cls(True, journal, snapshot_provider, ovsdb=ovsdb), notice
        return cls(False, journal, snapshot_provider, ovsdb=ovsdb), None

    def ovsdb_path(self) -> str:
        """The socket OVS plans are written to."""
        from vnettop.ovsdb.jsonrpc import default_socket

        return self.ovsdb or default_socket()

    # -- guards ---------------------------------------------------------------------------------

    def ssh_context(self) -> SshContext | None:
        """The SSH client of this session and the root device carrying its route (None: not over SSH)."""
        ssh = guards.ssh_from_env(self._environ)
        if ssh is None:
            return None
        client, server = ssh
        return SshContext(client, server, self._route_lookup(client))

    def check(self, plan: p.Plan, snapshot: Snapshot | None = None) -> list[GuardWarning]:
        """The warnings `plan` needs confirmed. In read-only mode: none, and no syscall is made."""
        if self._read_only:
            return []
        if not guards.can_warn(plan):
            return []
        snap = snapshot
        if snap is None:
            try:
                snap = self._snapshot_provider() if self._snapshot_provider else \
                    _ovs_snapshot(self.ovsdb_path()) if isinstance(plan, OvsPlan) else _partial_snapshot(plan)
            except Exception as exc:  # cannot look: say so, and let the user decide
                target = plan.target.name if plan.target else getattr(plan, "name", "?")
                return [GuardWarning("guard-unavailable", str(target),
                                     f"could not read the system to check what this would break ({exc}); "
                                     f"go ahead only if you know")]
        return guards.check(plan, snap, self.ssh_context())

    # -- the gate -------------------------------------------------------------------------------

    def apply(self, plan: p.Plan, confirmed_warnings: Iterable[GuardWarning | str] = (),
              snapshot: Snapshot | None = None) -> ApplyResult:
        """Apply one plan. Raises ReadOnlyError, ValidationError or guards.UnconfirmedWarnings when it
        refuses before the kernel; returns ApplyResult(ok=False) when the kernel refuses."""
        if self._read_only:
            command = _safe_command(plan)
            msg = f"read-only: not done: {command}"
            self._record(plan, command, "refused-read-only", False, msg)
            raise ReadOnlyError(msg)
        try:
            plan.validate()
        except ValidationError as exc:
            self._record(plan, _safe_command(plan), "refused-invalid", False, str(exc))
            raise
        command = plan.ip_command()
        pending = guards.unconfirmed(self.check(plan, snapshot), confirmed_warnings)
        if pending:
            err = guards.UnconfirmedWarnings(pending)
            self._record(plan, command, "refused-unconfirmed", False, str(err))
            raise err
        start = time.perf_counter()
        try:
            if isinstance(plan, OvsPlan):
                from vnettop.actions import ovs_executor

                detail = ovs_executor.execute(plan, self.ovsdb_path())
            else:
                detail = _execute(plan)
            ok, message = True, plan.describe() + (f": {detail}" if detail else ": done")
        except VnettopError as exc:
            ok, message = False, str(exc)
        except OSError as exc:  # pyroute2's NetlinkError is turned into OSError on the way
            ok, message = False, explain(plan, exc)
        except Exception as exc:  # a library surprise: still one line, never a traceback in the UI
            ok, message = False, f"{plan.describe()} failed: unexpected error: {exc!r}"
        elapsed = (time.perf_counter() - start) * 1000
        self._record(plan, command, "applied" if ok else "failed", ok, message, elapsed)
        if self.journal_error:
            message += f" (journal not written: {self.journal_error})"
        return ApplyResult(ok, message, command, elapsed)

    def _record(self, plan: p.Plan, command: str, outcome: str, ok: bool, message: str,
                duration_ms: float | None = None) -> None:
        if self.journal is None:
            return
        try:
            self.journal.record(plan.to_dict(), command, outcome, ok, message, duration_ms)
            self.journal_error = None
        except OSError as exc:
            self.journal_error = f"{self.journal.path}: {exc.strerror or exc}"


# -- the kernel side, one function per plan --------------------------------------------------------


def _as_oserror(exc: Exception) -> Exception:
    """pyroute2's NetlinkError (not an OSError in 0.9.7) -> OSError with the same errno."""
    code = getattr(exc, "code", None)
    if isinstance(exc, OSError) or not isinstance(code, int):
        return exc
    return OSError(abs(code), os.strerror(abs(code)))


def _in_netns(netns: str | None, fn: Callable[[Any], str | None]) -> str | None:
    """Run `fn(ipr)` with an IPRoute inside namespace `netns` (a throwaway thread entered there)."""
    from vnettop.linux.nsenter import call_in

    fd = netnsfs.open_netns(netns)
    try:
        def body() -> str | None:
            with _ipr() as ipr:
                try:
                    return fn(ipr)
                except Exception as exc:
                    raise _as_oserror(exc) from exc

        return call_in(fd, body)
    finally:
        os.close(fd)


def _execute(plan: p.Plan) -> str | None:
    """Do what `plan` says; return an optional detail for the success message. Raises on refusal."""
    if isinstance(plan, p.CreateNamespace):
        netnsfs.create_netns(plan.name)
        return None
    if isinstance(plan, p.DeleteNamespace):
        netnsfs.delete_netns(plan.name)
        return None
    if isinstance(plan, p.CreateTunTap):
        return _create_tuntap(plan)
    if isinstance(plan, p.CreateVethPair):
        return _create_veth(plan)
    if isinstance(plan, p.MoveToNamespace):
        return _move(plan)
    return _in_netns(getattr(plan, "netns", None), lambda ipr: _simple(ipr, plan))


def _simple(ipr: Any, plan: p.Plan) -> str | None:
    """Plans that are one request on a socket in the device's own namespace."""
    if isinstance(plan, p.CreateBridge):
        kw: dict[str, Any] = {"ifname": names.for_kernel(plan.name), "kind": "bridge"}
        if plan.stp:
            kw["br_stp_state"] = 1
        if plan.mtu is not None:
            kw["mtu"] = plan.mtu
        if plan.mac is not None:
            kw["address"] = plan.mac
        ipr.link("add", **kw)
        return None
    assert isinstance(plan, p._DevicePlan)
    index = _lookup(ipr, plan.device, plan.netns, plan.ifindex)
    if isinstance(plan, p.SetMaster):
        bridge = _lookup(ipr, plan.bridge, plan.netns, plan.bridge_ifindex)
        kind = _kind(ipr, bridge)
        if kind != "bridge":
            raise ActionError(f"{plan.bridge} in {_where(plan.netns)} is not a bridge "
                              f"(it is a {kind or 'device without a kind'})")
        ipr.link("set", index=index, master=bridge)
    elif isinstance(plan, p.ClearMaster):
        master = ipr.link("get", index=index)[0].get_attr("IFLA_MASTER")
        if not master:
            raise ActionError(f"{plan.device} in {_where(plan.netns)} is not a port of any bridge")
        ipr.link("set", index=index, master=0)
    elif isinstance(plan, p.SetLinkState):
        ipr.link("set", index=index, state="up" if plan.up else "down")
    elif isinstance(plan, (p.AddAddress, p.DelAddress)):
        addr, _, prefix = v.check_address(plan.address).partition("/")  # the normalised form
        ipr.addr("add" if isinstance(plan, p.AddAddress) else "del", index=index, address=addr,
                 prefixlen=int(prefix))
    elif isinstance(plan, p.DeleteLink):
        ipr.link("del", index=index)
    else:  # pragma: no cover - every plan type is handled above
        raise ActionError(f"{type(plan).__name__}: no kernel action for this plan")
    return None


def _create_tuntap(plan: p.CreateTunTap) -> str | None:
    from vnettop.actions.tuntap import create_tuntap
    from vnettop.linux.nsenter import call_in

    fd = netnsfs.open_netns(plan.netns)
    try:
        call_in(fd, lambda: create_tuntap(plan.name, plan.mode, plan.owner, plan.group, plan.multi_queue,
                                          plan.vnet_hdr, plan.pi, plan.persist))
    finally:
        os.close(fd)
    return None


def _create_veth(plan: p.CreateVethPair) -> str | None:
    """One RTM_NEWLINK: the first end in its namespace, the peer created straight in its own.

    The kernel makes both ends or neither; if the pair cannot be found whole afterwards (a namespace
    deleted meanwhile), what exists is deleted again so nothing is left half-done.
    """
    peer_fd = netnsfs.open_netns(plan.peer_netns)
    try:
        def add(ipr: Any) -> str | None:
            peer: dict[str, Any] = {"ifname": names.for_kernel(plan.peer)}
            if plan.peer_netns != plan.netns:
                peer["net_ns_fd"] = peer_fd
            kw: dict[str, Any] = {"ifname": names.for_kernel(plan.name), "kind": "veth", "peer": peer}
            if plan.mtu is not None:
                kw["mtu"] = plan.mtu
                peer["mtu"] = plan.mtu
            ipr.link("add", **kw)
            return None

        _in_netns(plan.netns, add)
    finally:
        os.close(peer_fd)
    try:
        _in_netns(plan.peer_netns, lambda ipr: str(_lookup(ipr, plan.peer, plan.peer_netns)))
    except (VnettopError, OSError) as exc:
        try:
            _in_netns(plan.netns, lambda ipr: ipr.link("del", index=_lookup(ipr, plan.name, plan.netns)))
        except (VnettopError, OSError):
            pass
        raise ActionError(f"the veth pair was not created whole ({exc}); what was made was removed") from exc
    return None


def _move(plan: p.MoveToNamespace) -> str | None:
    dest_fd = netnsfs.open_netns(plan.to_netns)
    try:
        def move(ipr: Any) -> str | None:
            index = _lookup(ipr, plan.device, plan.netns, plan.ifindex)
            ipr.link("set", index=index, net_ns_fd=dest_fd)
            return None

        return _in_netns(plan.netns, move)
    finally:
        os.close(dest_fd)
