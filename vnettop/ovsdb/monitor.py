"""A live replica of the four OVSDB tables vnettop shows, kept current by RFC 7047 `monitor` updates.

One `monitor` call returns the tables' rows; afterwards ovsdb-server pushes an `update` notification for
every committed change, so an unchanged database costs nothing to watch: `poll()` reads the socket only
when it is readable (`fileno()` belongs in the caller's event loop) and `view()` rebuilds the frozen
records only after a change, returning the same object otherwise.

Interface `statistics` is watched by a second monitor (`STATS_ID`) on the same connection, apart from
the structure: ovs-vswitchd rewrites that column every stats-update-interval (5 s by default), and in
the structure's replica it would rebuild the view (and every view of it) each time. Its updates only
replace entries of a small counters map (`statistics()`, uuid -> `OvsCounters`, stamped with the time
the update arrived); `poll()` reports them apart (`stats_version`), and `view()` stays the same object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vnettop.model import OvsCounters, OvsStatistics
from vnettop.ovsdb import datum
from vnettop.ovsdb.jsonrpc import Connection, OvsdbError
from vnettop.ovsdb.view import OvsBridge, OvsInterface, OvsPort, OvsView, Pairs

DATABASE = "Open_vSwitch"
MONITOR_ID = "vnettop"
#: The second monitor: Interface statistics only, kept out of the structure's replica.
STATS_ID = "vnettop-statistics"
#: Columns wanted per table; those the server's schema lacks (an older OVS) are left out.
COLUMNS: dict[str, tuple[str, ...]] = {
    "Open_vSwitch": ("ovs_version", "external_ids", "bridges"),
    "Bridge": ("name", "datapath_type", "fail_mode", "external_ids", "ports"),
    "Port": ("name", "tag", "trunks", "external_ids", "other_config", "interfaces"),
    "Interface": ("name", "type", "ofport", "admin_state", "link_state", "mac_in_use", "options",
                  "external_ids", "ifindex"),
}

Rows = dict[str, dict[str, Any]]  # uuid -> column -> wire value


class Monitor:
    """A monitored OVSDB. Raises OvsdbError (one line, naming the socket) when it cannot be read."""

    def __init__(self, path: str, timeout: float = 2.0, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.conn = Connection(path, timeout)
        self.tables: dict[str, Rows] = {t: {} for t in COLUMNS}
        self._view: OvsView | None = None
        self._builder = ViewBuilder(path)
        self.clock = clock
        self.counters = Counters()
        try:
            schema = self.conn.call("get_schema", [DATABASE])
            have = schema.get("tables", {}) if isinstance(schema, dict) else {}
            request = {}
            for table, cols in COLUMNS.items():
                known = have.get(table, {}).get("columns", {})
                request[table] = {"columns": [c for c in cols if c in known]}
            initial = self.conn.call("monitor", [DATABASE, MONITOR_ID, request])
            self._apply(initial)
            if "statistics" in have.get("Interface", {}).get("columns", {}):
                stats = self.conn.call("monitor", [DATABASE, STATS_ID,
                                                   {"Interface": {"columns": ["statistics"]}}])
                self.counters.read_all = True
                self.counters.apply(stats, None, self.path)  # written before we came: when is unknown
        except OvsdbError:
            self.conn.close()
            raise

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self) -> None:
        self.conn.close()

    def poll(self) -> bool:
        """Apply every update that has arrived; True if the structure changed (a statistics update only
        bumps `stats_version`). Never blocks."""
        changed = False
        now: float | None = None
        for note in self.conn.notifications():
            params = note.get("params")
            is_update = note.get("method") == "update" and isinstance(params, list) and len(params) == 2
            if not is_update:
                continue
            if params[0] == MONITOR_ID:  # type: ignore[index]
                self._apply(params[1])  # type: ignore[index]
                changed = True
            elif params[0] == STATS_ID:  # type: ignore[index]
                now = self.clock() if now is None else now
                self.counters.apply(params[1], now, self.path)  # type: ignore[index]
        if changed:
            self._view = None
        return changed

    @property
    def stats_version(self) -> int:
        """Grows with every statistics update applied (the caller's cue to take `statistics()` again)."""
        return self.counters.version

    def statistics(self) -> OvsStatistics | None:
        """Every interface's counters; the same object until a statistics update. None: the server's
        schema has no statistics column (not read)."""
        return self.counters.snapshot() if self.counters.read_all else None

    def _apply(self, updates: Any) -> None:
        if not isinstance(updates, dict):
            raise OvsdbError(f"{self.path}: a monitor update that is not an object")
        for table, rows in updates.items():
            if table not in self.tables or not isinstance(rows, dict):
                continue
            cache = self.tables[table]
            self._builder.dirty[table].update(rows)
            for uuid, change in rows.items():
                new = change.get("new") if isinstance(change, dict) else None
                if new is None:
                    cache.pop(uuid, None)
                else:
                    cache.setdefault(uuid, {}).update(new)

    def view(self) -> OvsView:
        """The tables as frozen records; the same object until an update changes something."""
        if self._view is None:
            self._view = self._builder.build(self.tables)
        return self._view


class Counters:
    """The statistics monitor's replica: uuid -> `OvsCounters`, and when the last update arrived.

    Deliberately apart from the structure's tables: an update here touches only the rows it names (one
    small frozen record each) and never the view; `snapshot()` hands out an immutable copy, made once
    per update, for the snapshot's section."""

    def __init__(self) -> None:
        self.by_iface: dict[str, OvsCounters] = {}
        self.seen_at: float | None = None
        self.version = 0
        self.read_all = False  # the statistics monitor is running
        self._snapshot: OvsStatistics | None = None

    def apply(self, updates: Any, at: float | None, path: str) -> None:
        if not isinstance(updates, dict):
            raise OvsdbError(f"{path}: a statistics update that is not an object")
        rows = updates.get("Interface")
        if isinstance(rows, dict):
            for uuid, change in rows.items():
                new = change.get("new") if isinstance(change, dict) else None
                if new is None:
                    self.by_iface.pop(uuid, None)
                    continue
                if "statistics" not in new:
                    continue
                values = tuple(sorted((k, v) for k, v in datum.as_map(new["statistics"]).items()
                                      if isinstance(v, int) and not isinstance(v, bool)))
                if values:
                    self.by_iface[uuid] = OvsCounters(values, at)
                else:  # not written yet (a new interface): unknown, not zeros
                    self.by_iface.pop(uuid, None)
        if at is not None:
            self.seen_at = at
        self.version += 1
        self._snapshot = None

    def snapshot(self) -> OvsStatistics:
        if self._snapshot is None:
            self._snapshot = OvsStatistics(dict(self.by_iface), self.seen_at)
        return self._snapshot


def _pairs(value: Any) -> Pairs:
    return tuple(sorted((k, str(v)) for k, v in datum.as_map(value).items()))


def _int_or_none(value: Any) -> int | None:
    got = datum.optional(value)
    return got if isinstance(got, int) and not isinstance(got, bool) else None


def _str_or_none(value: Any) -> str | None:
    got = datum.optional(value)
    return got if isinstance(got, str) else None


class ViewBuilder:
    """Frozen records from the replica, rebuilding only rows an update touched.

    With 1000 ports, a rebuild of everything costs ~13 ms; a change touches one or two rows. A port's
    record is rebuilt when its row or one of its interfaces' rows changed; every other record is reused
    by identity (so the UI's equality checks stop at the first `is`). `build_view` (a fresh builder) is
    the reference the tests compare every incremental result with.
    """

    def __init__(self, db: str) -> None:
        self.db = db
        self._ifaces: dict[str, OvsInterface] = {}
        self._ports: dict[str, OvsPort] = {}
        self._bridges: dict[str, OvsBridge] = {}
        self.dirty: dict[str, set[str]] = {t: set() for t in COLUMNS}
        self.everything = True

    def _interface(self, uuid: str, row: dict[str, Any]) -> OvsInterface:
        ofport = _int_or_none(row.get("ofport"))
        return OvsInterface(
            name=str(row.get("name", "")), uuid=uuid, type=str(row.get("type", "")),
            ofport=ofport if ofport is None or ofport >= 0 else None,  # -1: could not be added
            admin_state=_str_or_none(row.get("admin_state")), link_state=_str_or_none(row.get("link_state")),
            mac_in_use=_str_or_none(row.get("mac_in_use")), options=_pairs(row.get("options")),
            external_ids=_pairs(row.get("external_ids")), ifindex=_int_or_none(row.get("ifindex")))

    def _port(self, uuid: str, row: dict[str, Any]) -> OvsPort:
        refs = datum.as_set(row.get("interfaces", ["set", []]))
        members = [self._ifaces[u] for u in refs if u in self._ifaces]
        trunks = sorted(t for t in datum.as_set(row.get("trunks", ["set", []])) if isinstance(t, int))
        return OvsPort(name=str(row.get("name", "")), uuid=uuid, tag=_int_or_none(row.get("tag")),
                       trunks=tuple(trunks), interfaces=tuple(sorted(members, key=lambda i: i.name)),
                       external_ids=_pairs(row.get("external_ids")),
                       other_config=_pairs(row.get("other_config")))

    def build(self, tables: dict[str, Rows]) -> OvsView:
        ifaces, ports, bridges = tables["Interface"], tables["Port"], tables["Bridge"]
        dirty_ifaces = set(ifaces) if self.everything else self.dirty["Interface"]
        for uuid in dirty_ifaces:
            if uuid in ifaces:
                self._ifaces[uuid] = self._interface(uuid, ifaces[uuid])
            else:
                self._ifaces.pop(uuid, None)
        dirty_ports = set(ports) if self.everything else set(self.dirty["Port"])
        if dirty_ifaces and not self.everything:
            dirty_ports |= {u for u, row in ports.items()
                            if not dirty_ifaces.isdisjoint(datum.as_set(row.get("interfaces", ["set", []])))}
        for uuid in dirty_ports:
            if uuid in ports:
                self._ports[uuid] = self._port(uuid, ports[uuid])
            else:
                self._ports.pop(uuid, None)
        dirty_bridges = set(bridges) if self.everything else set(self.dirty["Bridge"])
        if dirty_ports and not self.everything:
            dirty_bridges |= {u for u, row in bridges.items()
                              if not dirty_ports.isdisjoint(datum.as_set(row.get("ports", ["set", []])))}
        for uuid in dirty_bridges:
            row = bridges.get(uuid)
            if row is None:
                self._bridges.pop(uuid, None)
                continue
            refs = datum.as_set(row.get("ports", ["set", []]))
            members = [self._ports[u] for u in refs if u in self._ports]
            self._bridges[uuid] = OvsBridge(name=str(row.get("name", "")), uuid=uuid,
                                            datapath_type=str(row.get("datapath_type", "")),
                                            fail_mode=_str_or_none(row.get("fail_mode")),
                                            ports=tuple(sorted(members, key=lambda p: p.name)),
                                            external_ids=_pairs(row.get("external_ids")))
        for table in self.dirty.values():
            table.clear()
        self.everything = False
        root = next(iter(tables["Open_vSwitch"].values()), {})
        ids = dict(_pairs(root.get("external_ids")))
        return OvsView(db=self.db, ovs_version=_str_or_none(root.get("ovs_version")),
                       system_id=ids.get("system-id"),
                       bridges=tuple(sorted(self._bridges.values(), key=lambda b: b.name)))


def build_view(db: str, tables: dict[str, Rows]) -> OvsView:
    """Frozen records from the replica, all built afresh: bridges by name, their ports and interfaces."""
    return ViewBuilder(db).build(tables)


def read_once(path: str, timeout: float = 2.0) -> OvsView:
    """One look at OVSDB (for `vnettop dump`): connect, monitor, take the view, disconnect."""
    mon = Monitor(path, timeout)
    try:
        return mon.view()
    finally:
        mon.close()
