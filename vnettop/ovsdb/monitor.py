"""A live replica of the four OVSDB tables vnettop shows, kept current by RFC 7047 `monitor` updates.

One `monitor` call returns the tables' rows; afterwards ovsdb-server pushes an `update` notification for
every committed change, so an unchanged database costs nothing to watch: `poll()` reads the socket only
when it is readable (`fileno()` belongs in the caller's event loop) and `view()` rebuilds the frozen
records only after a change, returning the same object otherwise.

Statistics columns are not monitored: ovs-vswitchd rewrites them every few seconds, which would turn a
quiet switch into a stream of updates.
"""

from __future__ import annotations

from typing import Any

from vnettop.ovsdb import datum
from vnettop.ovsdb.jsonrpc import Connection, OvsdbError
from vnettop.ovsdb.view import OvsBridge, OvsInterface, OvsPort, OvsView, Pairs

DATABASE = "Open_vSwitch"
MONITOR_ID = "vnettop"
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

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.conn = Connection(path, timeout)
        self.tables: dict[str, Rows] = {t: {} for t in COLUMNS}
        self._view: OvsView | None = None
        self._builder = ViewBuilder(path)
        try:
            schema = self.conn.call("get_schema", [DATABASE])
            have = schema.get("tables", {}) if isinstance(schema, dict) else {}
            request = {}
            for table, cols in COLUMNS.items():
                known = have.get(table, {}).get("columns", {})
                request[table] = {"columns": [c for c in cols if c in known]}
            initial = self.conn.call("monitor", [DATABASE, MONITOR_ID, request])
            self._apply(initial)
        except OvsdbError:
            self.conn.close()
            raise

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self) -> None:
        self.conn.close()

    def poll(self) -> bool:
        """Apply every update that has arrived; True if anything changed. Never blocks."""
        changed = False
        for note in self.conn.notifications():
            params = note.get("params")
            is_update = note.get("method") == "update" and isinstance(params, list) and len(params) == 2
            if is_update and params[0] == MONITOR_ID:  # type: ignore[index]
                self._apply(params[1])  # type: ignore[index]
                changed = True
        if changed:
            self._view = None
        return changed

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
