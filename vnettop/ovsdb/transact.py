"""The write path to OVSDB: RFC 7047 `transact`, built the way `ovs-vsctl` builds its transactions.

Only `vnettop.actions.ovs_executor` uses this module, and only after the actions gate (read-only mode,
validation, guards) let a plan through: the reading side (`jsonrpc.Connection.call`, `monitor`) still
refuses `transact`, so nothing that merely looks at OVSDB can write.

Each change is two round trips, as in `ovs-vsctl`: a read of the rows it is about (`select` ops,
nothing written), then one transaction that first re-checks with `wait` ops (timeout 0) that those rows
are still as read, then changes them, so a concurrent `ovs-vsctl` can never be overwritten: OVSDB
then refuses the whole transaction and nothing is changed. Rows are attached and detached with
`mutate` (insert/delete into a set) rather than `ovs-vsctl`'s rewrite of the whole set; a Bridge, Port
or Interface row no longer referenced is removed by OVSDB's garbage collection (none is a root table).

After the commit, `Open_vSwitch.next_cfg` (bumped in the same transaction) is compared with `cur_cfg`,
which ovs-vswitchd sets once it has applied the database: like `ovs-vsctl` without `--no-wait`, but
bounded in time, and with the `error` column of each new interface read back (ovs-vswitchd's reason
for a port it could not add, such as a missing kernel device).
"""

from __future__ import annotations

import select
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from vnettop.ovsdb import datum
from vnettop.ovsdb.jsonrpc import Connection, OvsdbError

DATABASE = "Open_vSwitch"


class TransactionError(OvsdbError):
    """OVSDB refused a transaction (or it could not be made); nothing was changed. One line."""


class StateError(OvsdbError):
    """The change does not fit what OVSDB holds now (no such bridge, a port of that name exists)."""


@dataclass
class PortRow:
    uuid: str
    name: str
    interfaces: list[str]
    tag: int | None


@dataclass
class Switch:
    """The rows a change is about, as read just before it (a `select` of four tables' key columns)."""

    root: str  # the Open_vSwitch row's uuid
    root_bridges: list[str]
    next_cfg: int
    cur_cfg: int = 0  # what ovs-vswitchd last applied (0: it never ran on this database)
    bridges: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (uuid, port uuids)
    ports: dict[str, PortRow] = field(default_factory=dict)  # uuid -> row
    interfaces: dict[str, str] = field(default_factory=dict)  # uuid -> name

    def port_named(self, name: str) -> PortRow | None:
        return next((p for p in self.ports.values() if p.name == name), None)

    def bridge_of(self, port_uuid: str) -> str | None:
        return next((b for b, (_u, ports) in self.bridges.items() if port_uuid in ports), None)

    def interface_named(self, name: str) -> str | None:
        return next((u for u, n in self.interfaces.items() if n == name), None)


def _uuid(value: str) -> list[str]:
    return ["uuid", value]


def _set(items: list[Any]) -> list[Any]:
    return ["set", items]


def _map(pairs: tuple[tuple[str, str], ...]) -> list[Any]:
    return ["map", [[k, v] for k, v in pairs]]


def _named() -> str:
    """A fresh uuid-name for a row inserted in this transaction (an id, not a value)."""
    return "row" + uuidlib.uuid4().hex


def _wait(table: str, where: list[Any], columns: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`wait` with timeout 0: the transaction fails at once unless the rows matching `where` are `rows`."""
    return {"op": "wait", "table": table, "where": where, "columns": columns, "until": "==", "rows": rows,
            "timeout": 0}


def _verify_root(sw: Switch) -> dict[str, Any]:
    return _wait("Open_vSwitch", [["_uuid", "==", _uuid(sw.root)]], ["bridges"],
                 [{"bridges": _set([_uuid(u) for u in sw.root_bridges])}])


def _verify_bridge(sw: Switch, name: str) -> dict[str, Any]:
    buuid, ports = sw.bridges[name]
    return _wait("Bridge", [["_uuid", "==", _uuid(buuid)]], ["name", "ports"],
                 [{"name": name, "ports": _set([_uuid(u) for u in ports])}])


def _verify_absent(table: str, name: str) -> dict[str, Any]:
    return _wait(table, [["name", "==", name]], ["name"], [])


# -- the changes (pure: a Switch in, operations out) ---------------------------------------------------


def _check_new_name(sw: Switch, name: str, what: str) -> None:
    if name in sw.bridges:
        raise StateError(f"cannot create {what} {name}: a bridge named {name} already exists")
    port = sw.port_named(name)
    if port is not None:
        on = sw.bridge_of(port.uuid)
        raise StateError(f"cannot create {what} {name}: a port named {name} already exists"
                         + (f" on bridge {on}" if on else ""))
    if sw.interface_named(name) is not None:
        raise StateError(f"cannot create {what} {name}: an interface named {name} already exists")


def add_bridge(sw: Switch, name: str, datapath_type: str | None) -> list[dict[str, Any]]:
    """`ovs-vsctl add-br NAME [-- set bridge NAME datapath_type=T]`: Bridge + its local Port and internal
    Interface (all named NAME), attached to Open_vSwitch.bridges."""
    _check_new_name(sw, name, "bridge")
    iface, port, bridge = _named(), _named(), _named()
    row: dict[str, Any] = {"name": name, "ports": ["named-uuid", port]}
    if datapath_type:
        row["datapath_type"] = datapath_type
    return [
        _verify_absent("Bridge", name), _verify_absent("Port", name), _verify_absent("Interface", name),
        {"op": "insert", "table": "Interface", "uuid-name": iface, "row": {"name": name, "type": "internal"}},
        {"op": "insert", "table": "Port", "uuid-name": port,
         "row": {"name": name, "interfaces": ["named-uuid", iface]}},
        {"op": "insert", "table": "Bridge", "uuid-name": bridge, "row": row},
        {"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", _uuid(sw.root)]],
         "mutations": [["bridges", "insert", _set([["named-uuid", bridge]])]]},
    ]


def del_bridge(sw: Switch, name: str) -> list[dict[str, Any]]:
    """`ovs-vsctl del-br NAME`: detach it from Open_vSwitch.bridges; OVSDB collects the bridge, its ports
    and their interfaces (no other row refers to them)."""
    if name not in sw.bridges:
        raise StateError(f"no OVS bridge named {name}")
    buuid, _ports = sw.bridges[name]
    return [
        _verify_bridge(sw, name),
        {"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", _uuid(sw.root)]],
         "mutations": [["bridges", "delete", _set([_uuid(buuid)])]]},
    ]


def add_port(sw: Switch, bridge: str, name: str, iface_type: str, tag: int | None,
             options: tuple[tuple[str, str], ...] = (),
             external_ids: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    """`ovs-vsctl add-port BRIDGE NAME [tag=T] -- set interface NAME type=… options:…=… external_ids:…=…`:
    Port + Interface named NAME, attached to the bridge's ports (the external_ids go on the Interface,
    where Nova/os-vif and ovn-controller put and read them)."""
    if bridge not in sw.bridges:
        raise StateError(f"no OVS bridge named {bridge}")
    _check_new_name(sw, name, "port")
    buuid, _ports = sw.bridges[bridge]
    iface, port = _named(), _named()
    irow: dict[str, Any] = {"name": name}
    if iface_type:
        irow["type"] = iface_type
    if options:
        irow["options"] = _map(options)
    if external_ids:
        irow["external_ids"] = _map(external_ids)
    prow: dict[str, Any] = {"name": name, "interfaces": ["named-uuid", iface]}
    if tag is not None:
        prow["tag"] = tag
    return [
        _verify_bridge(sw, bridge), _verify_absent("Port", name), _verify_absent("Interface", name),
        _verify_absent("Bridge", name),
        {"op": "insert", "table": "Interface", "uuid-name": iface, "row": irow},
        {"op": "insert", "table": "Port", "uuid-name": port, "row": prow},
        {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", _uuid(buuid)]],
         "mutations": [["ports", "insert", _set([["named-uuid", port]])]]},
    ]


def _port(sw: Switch, name: str, bridge: str | None) -> tuple[PortRow, str]:
    """The port named `name` and the bridge holding it (which must be `bridge` when one is given)."""
    port = sw.port_named(name)
    if port is None:
        raise StateError(f"no OVS port named {name}")
    on = sw.bridge_of(port.uuid)
    if on is None:
        raise StateError(f"OVS port {name} is on no bridge")
    if bridge is not None and on != bridge:
        raise StateError(f"OVS port {name} is on bridge {on}, not on {bridge}")
    if on == name:
        raise StateError(f"{name} is the local port of bridge {on}: delete the bridge instead")
    return port, on


def del_port(sw: Switch, name: str, bridge: str | None) -> list[dict[str, Any]]:
    """`ovs-vsctl del-port [BRIDGE] NAME`: detach the port from its bridge (OVSDB collects its rows)."""
    port, on = _port(sw, name, bridge)
    buuid, _ports = sw.bridges[on]
    return [
        _verify_bridge(sw, on),
        {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", _uuid(buuid)]],
         "mutations": [["ports", "delete", _set([_uuid(port.uuid)])]]},
    ]


def set_tag(sw: Switch, name: str, tag: int | None) -> list[dict[str, Any]]:
    """`ovs-vsctl set port NAME tag=T` (or `clear port NAME tag` for None: the port then trunks)."""
    port = sw.port_named(name)
    if port is None:
        raise StateError(f"no OVS port named {name}")
    if tag is None and port.tag is None:
        raise StateError(f"OVS port {name} has no tag to clear")
    return [
        _wait("Port", [["_uuid", "==", _uuid(port.uuid)]], ["name"], [{"name": name}]),
        {"op": "update", "table": "Port", "where": [["_uuid", "==", _uuid(port.uuid)]],
         "row": {"tag": tag if tag is not None else _set([])}},
    ]


# -- the connection --------------------------------------------------------------------------------


def _error_line(err: Any) -> str:
    if isinstance(err, dict):
        text = str(err.get("error", "error"))
        details = err.get("details")
        return f"{text}: {details}" if details else text
    return str(err)


class Writer:
    """A connection that may write. Every failure is an OvsdbError of one line naming the socket."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self.conn = Connection(path, timeout)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transact(self, ops: list[dict[str, Any]]) -> list[Any]:
        result = self.conn._request("transact", [DATABASE, *ops])
        if not isinstance(result, list):
            raise TransactionError(f"{self.path}: a transact reply that is not a list")
        return result

    def read(self) -> Switch:
        """The key columns of Open_vSwitch, Bridge, Port and Interface (a transaction of `select`s only)."""
        wanted = {"Open_vSwitch": ["_uuid", "bridges", "next_cfg", "cur_cfg"],
                  "Bridge": ["_uuid", "name", "ports"], "Port": ["_uuid", "name", "interfaces", "tag"],
                  "Interface": ["_uuid", "name"]}
        ops: list[dict[str, Any]] = [{"op": "select", "table": table, "where": [], "columns": cols}
                                     for table, cols in wanted.items()]
        result = self._transact(ops)
        for item in result:
            if isinstance(item, dict) and item.get("error"):
                raise TransactionError(f"{self.path}: cannot read the switch: {_error_line(item)}")
        try:
            roots, bridges, ports, ifaces = (item["rows"] for item in result[:4])
            if not roots:
                raise TransactionError(f"{self.path}: OVSDB has no Open_vSwitch row (run `ovs-vsctl init`)")
            root = roots[0]
            sw = Switch(root=datum.atom(root["_uuid"]), root_bridges=datum.as_set(root["bridges"]),
                        next_cfg=int(root.get("next_cfg", 0)), cur_cfg=int(root.get("cur_cfg", 0)))
            for row in bridges:
                sw.bridges[str(row["name"])] = (datum.atom(row["_uuid"]), datum.as_set(row["ports"]))
            for row in ports:
                tag = datum.optional(row["tag"])
                sw.ports[datum.atom(row["_uuid"])] = PortRow(datum.atom(row["_uuid"]), str(row["name"]),
                                                             datum.as_set(row["interfaces"]),
                                                             tag if isinstance(tag, int) else None)
            for row in ifaces:
                sw.interfaces[datum.atom(row["_uuid"])] = str(row["name"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise TransactionError(f"{self.path}: an unexpected reply to a select ({exc!r})") from None
        return sw

    def commit(self, sw: Switch, ops: list[dict[str, Any]], comment: str) -> tuple[list[Any], int]:
        """Run `ops` as one transaction, with next_cfg bumped and a comment (shown in ovsdb-server's log);
        returns each op's result and the next_cfg ovs-vswitchd must reach. TransactionError when OVSDB
        refuses (then nothing was changed)."""
        where = [["_uuid", "==", _uuid(sw.root)]]
        full = [*ops,
                {"op": "mutate", "table": "Open_vSwitch", "where": where,
                 "mutations": [["next_cfg", "+=", 1]]},
                {"op": "select", "table": "Open_vSwitch", "where": where, "columns": ["next_cfg"]},
                {"op": "comment", "comment": comment}]
        try:
            result = self._transact(full)
        except OvsdbError as exc:
            if "within" in str(exc) or "lost" in str(exc) or "closed" in str(exc):
                raise TransactionError(f"{exc}; the change was sent and may or may not have been made: "
                                       f"look with `ovs-vsctl show`") from None
            raise
        for i, item in enumerate(result):
            if isinstance(item, dict) and item.get("error"):
                if i < len(full) and full[i].get("op") == "wait":
                    raise TransactionError(f"{self.path}: OVSDB changed while the change was prepared "
                                           f"(another client?); nothing was changed: try again")
                raise TransactionError(f"{self.path}: OVSDB refused the change: {_error_line(item)}; "
                                       f"nothing was changed")
        if len(result) < len(full):
            raise TransactionError(f"{self.path}: OVSDB answered {len(result)} of {len(full)} operations; "
                                   f"nothing was changed")
        for op, item in zip(full, result, strict=False):
            if op.get("op") in ("mutate", "update") and isinstance(item, dict) and item.get("count") == 0:
                raise TransactionError(f"{self.path}: the rows to change were gone when OVSDB committed")
        try:
            next_cfg = int(result[len(ops) + 1]["rows"][0]["next_cfg"])
        except (KeyError, TypeError, ValueError, IndexError):
            next_cfg = sw.next_cfg + 1
        return result, next_cfg

    def wait_applied(self, next_cfg: int, timeout: float) -> bool:
        """Whether ovs-vswitchd applied the database up to `next_cfg` (its `cur_cfg`) within `timeout`."""
        reply = self.conn._request("monitor", [DATABASE, "vnettop-cfg",
                                               {"Open_vSwitch": {"columns": ["cur_cfg"]}}])
        if _cur_cfg(reply) >= next_cfg:
            return True
        deadline = time.monotonic() + timeout
        while True:
            for note in self.conn.notifications():
                params = note.get("params")
                if note.get("method") == "update" and isinstance(params, list) and len(params) == 2 \
                        and _cur_cfg(params[1]) >= next_cfg:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller = select.poll()
            poller.register(self.conn.fileno(), select.POLLIN)
            poller.poll(left * 1000)

    def interface_errors(self, uuids: list[str]) -> dict[str, str]:
        """name -> ovs-vswitchd's `error` for each of these interfaces that has one."""
        if not uuids:
            return {}
        ops = [{"op": "select", "table": "Interface", "where": [["_uuid", "==", _uuid(u)]],
                "columns": ["name", "error"]} for u in uuids]
        out: dict[str, str] = {}
        for item in self._transact(ops):
            for row in item.get("rows", []) if isinstance(item, dict) else []:
                err = datum.optional(row.get("error"))
                if isinstance(err, str) and err:
                    out[str(row.get("name"))] = err
        return out


def _cur_cfg(updates: Any) -> int:
    """The highest cur_cfg in a monitor reply or update (0 when there is none)."""
    best = 0
    rows = updates.get("Open_vSwitch", {}) if isinstance(updates, dict) else {}
    for change in rows.values() if isinstance(rows, dict) else ():
        new = change.get("new") if isinstance(change, dict) else None
        value = new.get("cur_cfg") if isinstance(new, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            best = max(best, value)
    return best


def inserted_interfaces(ops: list[dict[str, Any]], result: list[Any]) -> list[str]:
    """The uuids OVSDB gave the Interface rows `ops` inserted."""
    out = []
    for op, item in zip(ops, result, strict=False):
        if op.get("op") == "insert" and op.get("table") == "Interface" and isinstance(item, dict):
            got = datum.atom(item.get("uuid"))
            if isinstance(got, str):
                out.append(got)
    return out
