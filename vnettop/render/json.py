"""The Snapshot as JSON: the contract of SNAPSHOT-SCHEMA.md, written and read back.

Writing follows the schema key for key (extensions are only added, never renamed). Reading is strict:
a snapshot file from another host or another version is checked field by field, and anything wrong
becomes one `SnapshotFormatError` naming the path of the bad field, never a traceback.

Names that are not UTF-8 (SNAPSHOT-SCHEMA.md "Names that are not text"; `vnettop.names`): a link's or
a LinkRef's `name` is written with each undecodable byte as `\\xNN` and the object gets
`"name_bytes": "<hex of the raw name>"` (only then). A namespace's `names` stay a list of written
strings; when any of them is not UTF-8 the namespace gets `"names_bytes"`, a list parallel to `names`
holding the hex of each raw name, or null for a name that is text. Reading restores the exact name from
the hex (and refuses hex that does not match the written name). Free text that may hold such bytes
(process names and command lines, messages) is written the same way, without the hex.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from vnettop import names
from vnettop.errors import SnapshotFormatError
from vnettop.model import (
    SECTIONS,
    BridgeInfo,
    BridgePort,
    CollectError,
    FdbEntry,
    Host,
    Link,
    LinkRef,
    Listening,
    Namespace,
    NsFd,
    OvsBridgeEntry,
    OvsCounters,
    OvsDatapathDevice,
    OvsIfaceEntry,
    OvsPeer,
    OvsPortEntry,
    OvsSection,
    OvsStatistics,
    Owner,
    Process,
    Snapshot,
    Stats,
    TunHolder,
    TunInfo,
)

SCHEMA = "vnettop.snapshot/1"
_STATS_FIELDS = tuple(Stats.__dataclass_fields__)

# --------------------------------------------------------------------------------------------
# writing


def _iso(ts: datetime) -> str:
    ts = ts.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _name(name: str) -> dict[str, str]:
    """`{"name": written}`, plus `"name_bytes"` (the raw name in hex) when the name is not UTF-8."""
    if name.isascii():
        return {"name": name}
    raw = names.hex_bytes(name)
    return {"name": names.written(name)} if raw is None else {"name": names.written(name), "name_bytes": raw}


def _ns_names(ns_names: tuple[str, ...]) -> dict[str, Any]:
    """`{"names": [...]}`, plus the parallel `"names_bytes"` when any name is not UTF-8."""
    raws = [names.hex_bytes(n) for n in ns_names]
    out: dict[str, Any] = {"names": [names.written(n) for n in ns_names]}
    if any(raw is not None for raw in raws):
        out["names_bytes"] = raws
    return out


def _ref(ref: LinkRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    if ref.name is None:
        return {"netns": ref.netns, "ifindex": ref.ifindex, "name": None}
    return {"netns": ref.netns, "ifindex": ref.ifindex, **_name(ref.name)}


def _process(p: Process) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "comm": p.comm,
        "cmdline": p.cmdline,
        "user": p.user,
        "listening": [{"proto": s.proto, "address": s.address, "port": s.port} for s in p.listening],
    }


def _link(link: Link) -> dict[str, Any]:
    br = link.bridge
    port = link.bridge_port
    tun = link.tun
    return {
        "netns": link.netns,
        "ifindex": link.ifindex,
        **_name(link.name),
        "kind": link.kind,
        "mac": link.mac,
        "mtu": link.mtu,
        "admin_up": link.admin_up,
        "oper_state": link.oper_state,
        "carrier": link.carrier,
        "master": _ref(link.master),
        "lower": _ref(link.lower),
        "peer": _ref(link.peer),
        "addresses": list(link.addresses),
        "stats": {f: getattr(link.stats, f) for f in _STATS_FIELDS},
        "bridge": None
        if br is None
        else {
            "stp": br.stp,
            "vlan_filtering": br.vlan_filtering,
            "ports": list(br.ports),
            "fdb": [{"mac": e.mac, "port": e.port, "state": e.state, "vlan": e.vlan} for e in br.fdb],
        },
        "bridge_port": None
        if port is None
        else {"state": port.state, "cost": port.cost, "priority": port.priority},
        "tun": None
        if tun is None
        else {
            "type": tun.type,
            "persist": tun.persist,
            "multi_queue": tun.multi_queue,
            "vnet_hdr": tun.vnet_hdr,
            "pi": tun.pi,
            "owner": tun.owner,
            "group": tun.group,
            "num_queues": tun.num_queues,
            # null: not every process could be checked and none found holds it (SNAPSHOT-SCHEMA.md
            # "Unknown is not empty"); holders_complete false: these hold it, more may.
            "holders": None if tun.holders is None else [
                {"pid": h.pid, "comm": h.comm, "fds": list(h.fds), "exact": h.exact,
                 "vhost_fds": list(h.vhost_fds)}
                for h in tun.holders
            ],
            "holders_complete": tun.holders_complete,
        },
        "info": dict(link.info),
    }


def snapshot_to_dict(snap: Snapshot) -> dict[str, Any]:
    """The snapshot as the plain JSON object of SNAPSHOT-SCHEMA.md."""
    return {
        "schema": SCHEMA,
        "taken_at": _iso(snap.taken_at),
        "host": {"hostname": snap.host.hostname, "kernel": snap.host.kernel},
        "namespaces": [
            {
                "inode": ns.inode,
                **_ns_names(ns.names),
                "root": ns.root,
                "pids": list(ns.pids),
                "processes": [_process(p) for p in ns.processes],
                "readable": ns.readable,  # false: could not be entered, its devices are unknown
                "unreadable_reason": ns.unreadable_reason,
                "mounts": list(ns.mounts),
                "fds": [{"pid": h.pid, "fd": h.fd} for h in ns.fds],
                "pids_complete": ns.pids_complete,  # false: others' processes could not be read
            }
            for ns in snap.namespaces
        ],
        "links": _links(snap),
        "errors": [{"scope": e.scope, "message": e.message} for e in snap.errors],
        **_sections(snap),
    }


def _links(snap: Snapshot) -> list[dict[str, Any]]:
    """The links; with an `ovs` section, each gets `ovs_port` (its OVS bridge and port, or null), written
    here from the section (the kernel picture itself knows nothing of OVS). No section: no key (unknown)."""
    out = [_link(link) for link in snap.links]
    if snap.ovs is not None:
        for link, doc in zip(snap.links, out, strict=True):
            found = snap.ovs_port_of(link.key)
            doc["ovs_port"] = None if found is None else {"bridge": found[0].name, "port": found[1].name}
    return out


def _epoch_iso(at: float | None) -> str | None:
    return None if at is None else _iso(datetime.fromtimestamp(at, timezone.utc))


def _ovs_iface(i: OvsIfaceEntry, stats: OvsStatistics | None) -> dict[str, Any]:
    doc = {"name": i.name, "uuid": i.uuid, "type": i.type, "ofport": i.ofport, "admin_state": i.admin_state,
           "link_state": i.link_state, "mac_in_use": i.mac_in_use, "options": dict(i.options),
           "external_ids": dict(i.external_ids), "link": _ref(i.link),
           "peer": None if i.peer is None else {"bridge": i.peer.bridge, "port": i.peer.port,
                                                "interface": i.peer.interface}}
    if stats is not None:  # statistics read: null for an interface ovs-vswitchd has not written them for
        c = stats.by_iface.get(i.uuid)
        doc["statistics"] = (None if c is None
                             else {"counters": dict(c.values), "written_at": _epoch_iso(c.at)})
    return doc


def _ovs(o: OvsSection) -> dict[str, Any]:
    st = o.statistics
    doc = {"db": o.db, "ovs_version": o.ovs_version, "system_id": o.system_id,
           "bridges": [{"name": b.name, "uuid": b.uuid, "datapath_type": b.datapath_type,
                        "fail_mode": b.fail_mode, "external_ids": dict(b.external_ids),
                        "ports": [{"name": p.name, "uuid": p.uuid, "tag": p.tag, "trunks": list(p.trunks),
                                   "external_ids": dict(p.external_ids),
                                   "other_config": dict(p.other_config),
                                   "interfaces": [_ovs_iface(i, st) for i in p.interfaces]} for p in b.ports]}
                       for b in o.bridges],
           # An extension of the schema: the kernel devices that are the datapath's own, and why.
           "datapath_devices": [{"link": _ref(d.link), "role": d.role} for d in o.datapath_devices]}
    if st is not None:  # absent: statistics not read (unknown); null: no statistics update seen yet
        doc["statistics_seen_at"] = _epoch_iso(st.seen_at)
    return doc


def _owner(o: Owner) -> dict[str, Any]:
    return {"kind": o.kind, "name": o.name, "id": o.id, "runtime": o.runtime, "source": o.source,
            "exact": o.exact, "details": dict(o.details), "links": [list(key) for key in o.links],
            "namespaces": list(o.namespaces), "pids": list(o.pids), "parent": o.parent}


#: How each section of `model.SECTIONS` is written (the reader's table is `_SECTION_READERS`).
_SECTION_WRITERS: dict[str, Callable[[Any], Any]] = {
    "owners": lambda owners: [_owner(o) for o in owners],
    "ovs": _ovs,
}


def _sections(snap: Snapshot) -> dict[str, Any]:
    """The sections a source filled, by name; a section no source was asked for is left out (unknown),
    which a reader tells from an empty list (asked: none found)."""
    return {name: _SECTION_WRITERS[name](value) for name, value in zip(SECTIONS, snap.sections(), strict=True)
            if value is not None}


def snapshot_to_json(snap: Snapshot, indent: int | None = 2) -> str:
    """The JSON text of a snapshot, newline-terminated (one `write`, which is much faster than json.dump)."""
    # Names carry their exact bytes in `name_bytes`; any other string that holds an undecodable byte
    # (a process name, a message quoting a name) is written in the same `\xNN` form, so the text can
    # always be encoded as UTF-8.
    # check_circular=False: the document is a tree of fresh dicts and lists (snapshot_to_dict makes each
    # one), so the encoder's id() bookkeeping per container only cost time (~2 of 24 ms at 5000 devices).
    text = json.dumps(snapshot_to_dict(snap), indent=indent, ensure_ascii=False, check_circular=False)
    return names.json_written(text) + "\n"


# --------------------------------------------------------------------------------------------
# reading

T = TypeVar("T")


#: Where a field is, for error messages: a string, or (parent, key) / (parent, key, index) flattened only
#: when a message is made. Formatting every field's path up front was most of the cost of reading a
#: large file (a fleet file holds a thousand snapshots) for a string that is almost never shown.
Where = str | tuple[Any, ...]


def _where(w: Where) -> str:
    if isinstance(w, str):
        return w
    if len(w) == 2:
        return f"{_where(w[0])}.{w[1]}"
    return f"{_where(w[0])}.{w[1]}[{w[2]}]"


class _Reader:
    """Typed access to one JSON object, with the path of every field for error messages."""

    __slots__ = ("obj", "where")

    def __init__(self, obj: object, where: Where) -> None:
        if not isinstance(obj, Mapping):
            raise SnapshotFormatError(f"{_where(where)}: expected an object, found {_kind(obj)}")
        self.obj = obj
        self.where = where

    @property
    def path(self) -> str:
        return _where(self.where)

    def _get(self, key: str, optional: bool) -> object:
        if key not in self.obj:
            if optional:
                return None
            raise SnapshotFormatError(f"{self.path}.{key}: missing")
        return self.obj[key]

    def _typed(self, key: str, optional: bool, item: Callable[[object, Where], T]) -> T | None:
        """The field checked by `item` (which names the field's path when it refuses); None if absent/null."""
        v = self._get(key, optional)
        if v is None and optional:
            return None
        return item(v, (self.where, key))

    def opt_int(self, key: str, optional: bool = True) -> int | None:
        return self._typed(key, optional, _int_item)

    def opt_str(self, key: str, optional: bool = True) -> str | None:
        return self._typed(key, optional, _str_item)

    def opt_bool(self, key: str, optional: bool = True) -> bool | None:
        return self._typed(key, optional, _bool_item)

    def req_int(self, key: str) -> int:
        return _int_item(self._get(key, False), (self.where, key))

    def req_str(self, key: str) -> str:
        return _str_item(self._get(key, False), (self.where, key))

    def req_bool(self, key: str) -> bool:
        return _bool_item(self._get(key, False), (self.where, key))

    def seq(self, key: str, item: Callable[[object, Where], T], optional: bool = False) -> tuple[T, ...]:
        v = self._get(key, optional)
        if v is None and optional:
            return ()
        if not isinstance(v, list):
            raise SnapshotFormatError(f"{self.path}.{key}: expected a list, found {_kind(v)}")
        where = self.where
        return tuple([item(x, (where, key, i)) for i, x in enumerate(v)])

    def obj_or_none(self, key: str) -> _Reader | None:
        v = self._get(key, True)
        return None if v is None else _Reader(v, (self.where, key))


def _kind(v: object) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _int_item(v: object, path: Where) -> int:
    if type(v) is not int:  # bool is a subclass of int, and not an integer here
        raise SnapshotFormatError(f"{_where(path)}: expected an integer, found {_kind(v)}")
    return v


def _bool_item(v: object, path: Where) -> bool:
    if not isinstance(v, bool):
        raise SnapshotFormatError(f"{_where(path)}: expected true or false, found {_kind(v)}")
    return v


def _str_item(v: object, path: Where) -> str:
    if not isinstance(v, str):
        raise SnapshotFormatError(f"{_where(path)}: expected a string, found {_kind(v)}")
    return v


def _exact_name(written: str, raw: str | None, path: Where) -> str:
    """The internal name from its written form and, if present, the hex of its raw bytes."""
    if raw is None:
        return written
    try:
        name = names.from_hex(raw)
    except ValueError:
        raise SnapshotFormatError(f"{_where(path)}: not hex: {raw!r}") from None
    if names.written(name) != written:
        raise SnapshotFormatError(f"{_where(path)}: the bytes {raw} are not the name {written!r}")
    return name


def _read_name(r: _Reader, optional: bool = False) -> str | None:
    written = r.opt_str("name") if optional else r.req_str("name")
    if written is None:
        return None
    raw = r.obj.get("name_bytes")
    if raw is None:
        return written
    return _exact_name(written, _str_item(raw, (r.where, "name_bytes")), (r.where, "name_bytes"))


def _read_ns_names(r: _Reader) -> tuple[str, ...]:
    written = r.seq("names", _str_item)
    raws = r.seq("names_bytes", lambda v, p: None if v is None else _str_item(v, p), optional=True)
    if not raws:
        return written
    if len(raws) != len(written):
        raise SnapshotFormatError(f"{r.path}.names_bytes: {len(raws)} entries for {len(written)} names")
    return tuple(_exact_name(w, raw, f"{r.path}.names_bytes[{i}]")
                 for i, (w, raw) in enumerate(zip(written, raws, strict=True)))


def _read_ref(r: _Reader | None) -> LinkRef | None:
    if r is None:
        return None
    return LinkRef(r.req_int("netns"), r.req_int("ifindex"), _read_name(r, optional=True))


def _read_process(v: object, path: Where) -> Process:
    r = _Reader(v, path)

    def listening(x: object, p: Where) -> Listening:
        s = _Reader(x, p)
        return Listening(s.req_str("proto"), s.req_str("address"), s.req_int("port"))

    return Process(
        pid=r.req_int("pid"),
        comm=r.req_str("comm"),
        cmdline=r.opt_str("cmdline") or "",
        user=r.opt_str("user"),
        listening=r.seq("listening", listening, optional=True),
    )


def _read_ns_fd(v: object, path: Where) -> NsFd:
    r = _Reader(v, path)
    return NsFd(r.req_int("pid"), r.req_int("fd"))


def _read_namespace(v: object, path: Where) -> Namespace:
    r = _Reader(v, path)
    readable = r.opt_bool("readable")
    return Namespace(
        inode=r.req_int("inode"),
        names=_read_ns_names(r),
        root=r.req_bool("root"),
        pids=r.seq("pids", _int_item, optional=True),
        processes=r.seq("processes", _read_process, optional=True),
        readable=True if readable is None else readable,  # files from before the field: readable
        unreadable_reason=r.opt_str("unreadable_reason"),
        mounts=r.seq("mounts", _str_item, optional=True),
        fds=r.seq("fds", _read_ns_fd, optional=True),
        pids_complete=r.opt_bool("pids_complete") is not False,
    )


def _read_fdb(v: object, path: Where) -> FdbEntry:
    r = _Reader(v, path)
    return FdbEntry(r.req_str("mac"), r.opt_int("port"), r.req_str("state"),
                    r.opt_int("vlan"))


def _read_holder(v: object, path: Where) -> TunHolder:
    r = _Reader(v, path)
    exact = r.opt_bool("exact")
    return TunHolder(r.req_int("pid"), r.req_str("comm"), r.seq("fds", _int_item),
                     True if exact is None else exact, r.seq("vhost_fds", _int_item, optional=True))


def _read_link(v: object, path: Where) -> Link:
    r = _Reader(v, path)
    stats_r = r.obj_or_none("stats")
    stats = Stats()
    if stats_r is not None:
        stats = Stats(**{f: stats_r.opt_int(f) or 0 for f in _STATS_FIELDS})
    br_r = r.obj_or_none("bridge")
    bridge = None
    if br_r is not None:
        bridge = BridgeInfo(br_r.req_bool("stp"), br_r.req_bool("vlan_filtering"),
                            br_r.seq("ports", _int_item), br_r.seq("fdb", _read_fdb, optional=True))
    port_r = r.obj_or_none("bridge_port")
    port = None if port_r is None else BridgePort(port_r.req_str("state"), port_r.req_int("cost"),
                                                   port_r.req_int("priority"))
    tun_r = r.obj_or_none("tun")
    tun = None
    if tun_r is not None:
        holders = None if tun_r.obj.get("holders", []) is None else tun_r.seq("holders", _read_holder, True)
        complete = tun_r.opt_bool("holders_complete")
        tun = TunInfo(
            type=tun_r.req_str("type"),
            persist=tun_r.req_bool("persist"),
            multi_queue=tun_r.req_bool("multi_queue"),
            vnet_hdr=tun_r.req_bool("vnet_hdr"),
            pi=tun_r.req_bool("pi"),
            owner=tun_r.opt_int("owner"),
            group=tun_r.opt_int("group"),
            num_queues=tun_r.opt_int("num_queues"),
            holders=holders,
            # absent (files from before the field): complete exactly when the list is there
            holders_complete=holders is not None and complete is not False,
        )
    info_raw = r.obj.get("info") or {}
    if not isinstance(info_raw, Mapping):
        raise SnapshotFormatError(f"{_where(path)}.info: expected an object, found {_kind(info_raw)}")
    return Link(
        netns=r.req_int("netns"),
        ifindex=r.req_int("ifindex"),
        name=_read_name(r) or "",
        kind=r.req_str("kind"),
        mac=r.opt_str("mac"),
        mtu=r.req_int("mtu"),
        admin_up=r.req_bool("admin_up"),
        oper_state=r.req_str("oper_state"),
        master=_read_ref(r.obj_or_none("master")),
        lower=_read_ref(r.obj_or_none("lower")),
        peer=_read_ref(r.obj_or_none("peer")),
        addresses=r.seq("addresses", _str_item, optional=True),
        stats=stats,
        bridge=bridge,
        bridge_port=port,
        tun=tun,
        carrier=r.opt_bool("carrier"),
        info=tuple(sorted((str(k), str(val)) for k, val in info_raw.items())),
    )


def _read_owner(v: object, path: Where) -> Owner:
    r = _Reader(v, path)
    details = r.obj_or_none("details")
    pairs: list[tuple[str, str]] = []
    if details is not None:
        pairs = [(str(k), details.req_str(str(k))) for k in details.obj]

    def key(item: object, where: Where) -> tuple[int, int]:
        if not isinstance(item, list) or len(item) != 2:
            raise SnapshotFormatError(f"{_where(where)}: expected [netns, ifindex], found {_kind(item)}")
        return _int_item(item[0], where), _int_item(item[1], where)

    return Owner(kind=r.req_str("kind"), name=r.req_str("name"), id=r.opt_str("id"),
                 runtime=r.req_str("runtime"), source=r.req_str("source"), exact=r.req_bool("exact"),
                 details=tuple(sorted(pairs)), links=r.seq("links", key, optional=True),
                 namespaces=r.seq("namespaces", _int_item, optional=True),
                 pids=r.seq("pids", _int_item, optional=True), parent=r.opt_int("parent"))


def _pairs(r: _Reader, key: str) -> tuple[tuple[str, str], ...]:
    m = r.obj_or_none(key)
    return () if m is None else tuple(sorted((str(k), m.req_str(str(k))) for k in m.obj))


def _read_ovs_counters(r: _Reader) -> OvsCounters | None:
    st = r.obj_or_none("statistics")
    if st is None:
        return None
    counters = st.obj_or_none("counters")
    if counters is None:
        raise SnapshotFormatError(f"{st.path}.counters: missing")
    values = tuple(sorted((str(k), counters.req_int(str(k))) for k in counters.obj))
    written = st.opt_str("written_at")
    at = None if written is None else _read_taken_at(written, f"{st.path}.written_at").timestamp()
    return OvsCounters(values, at)


def _read_ovs_iface(v: object, path: Where, stats: dict[str, OvsCounters] | None = None) -> OvsIfaceEntry:
    r = _Reader(v, path)
    if stats is not None:
        counters = _read_ovs_counters(r)
        if counters is not None:
            stats[r.req_str("uuid")] = counters
    peer_r = r.obj_or_none("peer")
    peer = None if peer_r is None else OvsPeer(peer_r.req_str("bridge"), peer_r.req_str("port"),
                                               peer_r.req_str("interface"))
    return OvsIfaceEntry(name=r.req_str("name"), uuid=r.req_str("uuid"), type=r.req_str("type"),
                         ofport=r.opt_int("ofport"), admin_state=r.opt_str("admin_state"),
                         link_state=r.opt_str("link_state"), mac_in_use=r.opt_str("mac_in_use"),
                         options=_pairs(r, "options"), external_ids=_pairs(r, "external_ids"),
                         link=_read_ref(r.obj_or_none("link")), peer=peer)


def _read_ovs_port(v: object, path: Where, stats: dict[str, OvsCounters] | None = None) -> OvsPortEntry:
    r = _Reader(v, path)
    return OvsPortEntry(name=r.req_str("name"), uuid=r.req_str("uuid"), tag=r.opt_int("tag"),
                        trunks=r.seq("trunks", _int_item, optional=True),
                        interfaces=r.seq("interfaces", lambda x, w: _read_ovs_iface(x, w, stats)),
                        external_ids=_pairs(r, "external_ids"), other_config=_pairs(r, "other_config"))


def _read_ovs_bridge(v: object, path: Where, stats: dict[str, OvsCounters] | None = None) -> OvsBridgeEntry:
    r = _Reader(v, path)
    return OvsBridgeEntry(name=r.req_str("name"), uuid=r.req_str("uuid"),
                          datapath_type=r.req_str("datapath_type"), fail_mode=r.opt_str("fail_mode"),
                          ports=r.seq("ports", lambda x, w: _read_ovs_port(x, w, stats)),
                          external_ids=_pairs(r, "external_ids"))


def _read_datapath_device(v: object, path: Where) -> OvsDatapathDevice:
    r = _Reader(v, path)
    ref = _read_ref(r.obj_or_none("link"))
    if ref is None:
        raise SnapshotFormatError(f"{r.path}.link: missing")
    return OvsDatapathDevice(ref, r.req_str("role"))


def _read_ovs(v: object, path: Where) -> OvsSection:
    """The section; `statistics` only when the file says they were read (`statistics_seen_at` present:
    files from before the field have none, which is unknown, not zero)."""
    r = _Reader(v, path)
    read_stats = "statistics_seen_at" in r.obj
    stats: dict[str, OvsCounters] | None = {} if read_stats else None
    seen = r.opt_str("statistics_seen_at")
    section = OvsSection(db=r.req_str("db"), ovs_version=r.opt_str("ovs_version"),
                         system_id=r.opt_str("system_id"),
                         bridges=r.seq("bridges", lambda x, w: _read_ovs_bridge(x, w, stats)),
                         datapath_devices=r.seq("datapath_devices", _read_datapath_device, optional=True))
    if stats is None:
        return section
    at = None if seen is None else _read_taken_at(seen, f"{r.path}.statistics_seen_at").timestamp()
    return replace(section, statistics=OvsStatistics(stats, at))


#: Section name -> how the section's JSON value is read (the parent reader, the key).
_SECTION_READERS: dict[str, Callable[[_Reader, str], Any]] = {
    "owners": lambda r, key: _check_parents(r.seq(key, _read_owner)),
    "ovs": lambda r, key: _read_ovs(r.obj[key], (r.where, key)),
}


def _check_parents(owners: tuple[Owner, ...]) -> tuple[Owner, ...]:
    for i, owner in enumerate(owners):
        if owner.parent is not None and not (0 <= owner.parent < len(owners) and owner.parent != i):
            raise SnapshotFormatError(f"owners[{i}].parent: {owner.parent} is not another entry's index")
    return owners


def _read_taken_at(text: str, path: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotFormatError(f"{path}: not an ISO 8601 time: {text!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def snapshot_from_dict(obj: object, source: str = "snapshot") -> Snapshot:
    """Rebuild a Snapshot from its JSON object, checking every field; raises SnapshotFormatError."""
    r = _Reader(obj, source)
    schema = r.opt_str("schema", optional=False)
    if schema != SCHEMA:
        raise SnapshotFormatError(f"{source}: schema is {schema!r}; this vnettop reads {SCHEMA!r}")
    host_r = r.obj_or_none("host")
    if host_r is None:
        raise SnapshotFormatError(f"{source}.host: missing")
    namespaces = r.seq("namespaces", _read_namespace)
    links = r.seq("links", _read_link)

    def error(v: object, path: Where) -> CollectError:
        e = _Reader(v, path)
        return CollectError(e.req_str("scope"), e.req_str("message"))

    duration = r.obj.get("duration_ms", 0.0)
    sections: dict[str, Any] = {name: read(r, name) if name in r.obj and r.obj[name] is not None else None
                                for name, read in _SECTION_READERS.items()}
    return Snapshot(
        host=Host(host_r.req_str("hostname"), host_r.req_str("kernel")),
        namespaces=namespaces,
        links=links,
        errors=r.seq("errors", error, optional=True),
        taken_at=_read_taken_at(r.req_str("taken_at"), f"{source}.taken_at"),
        duration_ms=float(duration) if isinstance(duration, (int, float)) else 0.0,
        **sections,
    )


def read_text(path: str, kind: str = "snapshot file", expected: str = "JSON from `vnettop dump`") -> str:
    """The whole text of a file vnettop reads (`-`: standard input), or one SnapshotFormatError naming
    the file and what is wrong with it (missing, a directory, unreadable, not text)."""
    try:
        if path == "-":
            import sys

            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise SnapshotFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SnapshotFormatError(f"{path}: is a directory, not a {kind}") from None
    except PermissionError:
        raise SnapshotFormatError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise SnapshotFormatError(f"{path}: not a text file (expected {expected})") from None
    except OSError as e:
        raise SnapshotFormatError(f"{path}: cannot read: {e.strerror or e}") from None


def load_snapshot(path: str) -> Snapshot:
    """Read a snapshot file written by `vnettop dump --format json` (or `-` for stdin).

    Every failure (missing file, unreadable, not JSON, wrong schema, bad field) is one
    SnapshotFormatError whose message names the file and what is wrong.
    """
    text = read_text(path)
    try:
        obj = json.loads(text)
    except RecursionError:
        raise SnapshotFormatError(f"{path}: nested too deeply to be a vnettop snapshot") from None
    except json.JSONDecodeError as e:
        msg = f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        raise SnapshotFormatError(msg) from None
    return snapshot_from_dict(obj, source=path)
