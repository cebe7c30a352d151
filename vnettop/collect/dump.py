"""One namespace's devices, addresses and bridge FDBs: RTM_GETLINK / RTM_GETADDR / AF_BRIDGE RTM_GETNEIGH.

Why a socket of its own: the collector's IPRoute may be subscribed to notifications, and reading replies
from it would steal them; a `counters.StatsSocket` in the same namespace (the caller's, or the one
`counters` keeps beside the IPRoute) carries these dumps and the counters. Unlike pyroute2 this client
sees a failed dump's errno in NLMSG_DONE, and it retries dumps the kernel flags NLM_F_DUMP_INTR. The
messages are parsed by `rtnl_parser` as they arrive (no copy), except those it leaves to pyroute2; if no
such socket can be had (no root for SIOCGSKNS, a fake `ipr` without fileno) or it breaks mid-dump,
pyroute2 does it all (`decode.dump_namespace_pyroute2`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

from vnettop.collect import counters, rtnl_parser
from vnettop.collect.decode import (
    NamespaceDump,
    address_map,
    dump_namespace_pyroute2,
    fdb_map,
    fdb_order,
    join_dump,
)
from vnettop.collect.rtnl_parser import (
    AF_BRIDGE,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    parse_address,
    parse_link,
    parse_neigh,
)
from vnettop.collect.types import LinkDraft
from vnettop.linux.netlink import NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, DumpError, check_end, messages
from vnettop.model import CollectError, FdbEntry

TRIES = 3  # dumps flagged NLM_F_DUMP_INTR are retried, as in decode._dump

_I32 = struct.Struct("=i")
_DUMP_REQ = struct.Struct("=IHHII16s")  # nlmsghdr + a zeroed family header of up to 16 bytes


def build_request(msg_type: int, family: int, header_size: int) -> Callable[[int], bytes]:
    """A dump request: nlmsghdr + the family's header (ifinfomsg 16, ifaddrmsg 8, ndmsg 12), all zero but
    the family -- no filter, exactly what pyroute2's `link/addr/fdb('dump')` ask for."""
    def request(seq: int) -> bytes:
        body = bytes([family]) + bytes(header_size - 1)
        return _DUMP_REQ.pack(16 + header_size, msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0,
                              body)[:16 + header_size]

    return request


class Reply:
    """The messages of one dump answer, split into what the struct parser took and what it left."""

    def __init__(self, want: int, parse: Callable[[memoryview, int, int], Any]) -> None:
        self.want, self.parse = want, parse
        self.items: list[Any] = []
        self.left: list[bytes] = []  # raw messages the parser handed back (Fallback)
        self.interrupted = False

    def __call__(self, buf: memoryview, seq: int | None) -> bool:
        """Consume one datagram; True once NLMSG_DONE arrived. Raises DumpError on a kernel error."""
        for off, length, mtype, flags in messages(buf, seq):
            if flags & NLM_F_DUMP_INTR:
                self.interrupted = True
            if mtype == self.want:
                try:
                    self.items.append(self.parse(buf, off, length))
                except Exception:  # Fallback, or anything odd: pyroute2 decides (and reports)
                    self.left.append(bytes(buf[off:off + length]))
            elif check_end(buf, off, length, mtype, "dump failed"):
                return True
        return False


def _run(sock: counters.StatsSocket, what: str, request: Callable[[int], bytes], want: int,
         parse: Callable[[memoryview, int, int], Any], netns: int,
         errors: list[CollectError]) -> Reply | None:
    """One dump, retried while flagged inconsistent; None (with an error) if the kernel refused it.

    Socket failures (OSError other than DumpError) propagate: the caller falls back to pyroute2.
    """
    reply = None
    for _ in range(TRIES):
        reply = Reply(want, parse)
        try:
            sock.exchange(request, reply)
        except DumpError as exc:
            why = os.strerror(exc.errno or 0)
            errors.append(CollectError(f"netns {netns}", f"{what} dump failed: {why}"))
            return None
        if not reply.interrupted:
            return reply
    errors.append(CollectError(f"netns {netns}", f"{what} dump kept changing; it may be incomplete"))
    return reply


LINK_REQUEST = build_request(RTM_GETLINK, 0, 16)
ADDR_REQUEST = build_request(RTM_GETADDR, 0, 8)
FDB_REQUEST = build_request(RTM_GETNEIGH, AF_BRIDGE, 12)


def dump_with(sock: counters.StatsSocket, netns: int) -> NamespaceDump:
    """Links, addresses and bridge FDBs over `sock`. Raises OSError only if the socket itself fails."""
    errors: list[CollectError] = []
    links = _run(sock, "link", LINK_REQUEST, RTM_NEWLINK, lambda b, o, n: parse_link(b, o, n, netns),
                 netns, errors)
    if links is None:
        return NamespaceDump((), tuple(errors))
    drafts: list[LinkDraft] = links.items
    for raw in links.left:
        try:
            drafts.append(rtnl_parser.pyroute2_link(raw, netns))
        except Exception as exc:  # one odd device must not hide the others
            index = _I32.unpack_from(raw, 20)[0] if len(raw) >= 24 else "?"
            errors.append(CollectError(f"netns {netns}", f"cannot decode link {index}: {exc!r}"))
    addrs = read_addresses(sock, netns, errors) or {}
    fdb = (read_fdb(sock, netns, errors) or {}) if any(d.link.bridge is not None for d in drafts) else {}
    return join_dump(drafts, addrs, fdb, errors)


def read_addresses(sock: counters.StatsSocket, netns: int,
                   errors: list[CollectError]) -> dict[int, tuple[str, ...]] | None:
    """ifindex -> addresses of the namespace (`decode.join_dump`'s map); None (with an error) if the
    kernel refused the dump. Also what the partial refreshes (`link_refresh`) read them with."""
    reply = _run(sock, "address", ADDR_REQUEST, RTM_NEWADDR, parse_address, netns, errors)
    if reply is None:
        return None
    theirs = rtnl_parser.pyroute2_addresses(reply.left) if reply.left else {}
    return _merge(address_map(reply.items), theirs,
                  lambda a, b: tuple(sorted(set(a + b), key=_address_order)))


def read_fdb(sock: counters.StatsSocket, netns: int,
             errors: list[CollectError]) -> dict[int, tuple[FdbEntry, ...]] | None:
    """bridge ifindex -> its FDB entries (`decode.join_dump`'s map); None (with an error) if the kernel
    refused the dump. Also what the partial refreshes (`fdb_refresh`, `link_refresh`) read it with."""
    reply = _run(sock, "fdb", FDB_REQUEST, RTM_NEWNEIGH, parse_neigh, netns, errors)
    if reply is None:
        return None
    left = rtnl_parser.pyroute2_fdb(reply.left) if reply.left else {}
    return _merge(fdb_map(reply.items), left, lambda a, b: tuple(sorted(set(a + b), key=fdb_order)))


def _merge(ours: dict[int, Any], theirs: dict[int, Any], both: Callable[[Any, Any], Any]) -> dict[int, Any]:
    """Join the struct parser's map with pyroute2's map of the messages it left (rare: usually empty)."""
    for key, value in theirs.items():
        ours[key] = both(ours[key], value) if key in ours else value
    return ours


def _address_order(text: str) -> tuple[int, Any, Any]:
    import ipaddress  # only for the rare messages the struct parser leaves to pyroute2

    iface = ipaddress.ip_interface(text)
    return iface.version, iface.ip, iface.network


def dump_namespace(ipr: Any, netns: int, sock: Any = None) -> NamespaceDump:
    """Links, addresses (v4 and v6) and bridge FDBs of the namespace `ipr` is bound to. Never raises.

    The struct parser does the work on a socket of its own in that namespace (`sock`, a
    `counters.StatsSocket`, if the caller has one there; else one kept beside `ipr`); pyroute2 decodes
    only the messages of kinds the parser leaves to it. If no such socket can be had or it breaks
    mid-dump, pyroute2 does it all. `ipr` may be None when `sock` is given: then pyroute2's IPRoute is
    never needed.
    """
    dump = dump_fast(ipr, netns, sock)
    if dump is not None:
        return dump
    if ipr is None:  # a caller with only its own socket, and it broke
        broke = CollectError(f"netns {netns}", "link dump failed: the netlink socket broke")
        return NamespaceDump((), (broke,))
    return dump_namespace_pyroute2(ipr, netns)


def dump_fast(ipr: Any, netns: int, sock: Any = None) -> NamespaceDump | None:
    """`dump_namespace` over the struct parser; None if no socket works (the caller uses pyroute2).

    `sock`: a `counters.StatsSocket` already open in that namespace; without it, the one kept beside
    `ipr` (made on first use, closed with `ipr`). A socket that fails mid-dump is dropped, never reused.
    """
    beside = sock is None
    if beside:
        try:
            sock = counters._socket_for(ipr)
        except Exception:  # no fileno, SIOCGSKNS / setns refused (no root): pyroute2's way
            return None
    try:
        return dump_with(sock, netns)
    except OSError:
        if beside:
            counters.forget(ipr)
        return None
    except Exception:  # a bug or a pyroute2 surprise on a left message: pyroute2's way, never raise
        return None
