"""OVSDB values (RFC 7047 section 5.1) as plain Python: atoms, `["set", …]`, `["map", …]`, `["uuid", …]`.

A column holding "an optional integer" is a set of 0 or 1 integers on the wire; `optional` turns that
into a value or None, which is what the rest of vnettop means by it.
"""

from __future__ import annotations

from typing import Any

Atom = str | int | float | bool


def atom(value: Any) -> Any:
    """A wire atom as Python: `["uuid", U]` and `["named-uuid", U]` become the uuid string."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("uuid", "named-uuid"):
        return value[1]
    return value


def as_set(value: Any) -> list[Any]:
    """A set column as a list (a single atom is a set of one)."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return [atom(v) for v in value[1]]
    return [atom(value)]


def as_map(value: Any) -> dict[str, Any]:
    """A map column as a dict (keys as text: OVS maps used here are string-keyed)."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {str(atom(k)): atom(v) for k, v in value[1]}
    return {}


def optional(value: Any) -> Any:
    """A set of at most one element as its element or None."""
    items = as_set(value)
    return items[0] if items else None
