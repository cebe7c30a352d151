"""The difference between two snapshots as JSON objects, and how to apply it: the heart of a recording.

Why the JSON form and not the Snapshot dataclasses: a recording must keep every section a snapshot has
(devices, namespaces, and any section added later, such as owners or OVS), and the JSON object of
SNAPSHOT-SCHEMA.md is the one form that is complete by contract. Rebuilding a moment is then "apply the
records to the keyframe's object, read it with `snapshot_from_dict`", which checks every field as any
snapshot file is checked.

Namespaces are matched by inode and devices by (namespace inode, ifindex), as the kernel names them on
one host, so a change says exactly which object changed. A device that leaves one namespace and appears
in another with the same name and MAC in one tick is told as "moved". Any other top-level section is
diffed generically (objects key by key, lists by a sequence match), so a section added tomorrow is
recorded without a change here.

Two things are volatile and kept out of change items: a device's counters (`stats`) and a namespace's
`pids` (the root namespace's list changes with every process started). They are sampled
(`volatile_delta`) every few minutes and written whole in keyframes.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

JsonObj = dict[str, Any]

#: Fields of a device that are sampled, not logged per change.
LINK_VOLATILE = ("stats",)
#: Fields of a namespace that are sampled, not logged per change.
NS_VOLATILE = ("pids",)
#: Top-level fields that are not state (the moment, the schema) and are never diffed.
NOT_STATE = ("schema", "taken_at", "duration_ms")


#: Values most devices and namespaces have. A recording's header carries them ("defaults"), and a
#: device or namespace written whole (in a keyframe or a change) leaves out every field equal to its
#: default, which halves the bytes of a typical container's devices. Restoring is exact: an object
#: that lacks one of these fields is written whole and marked `"_full": true`.
#: A device's counters as written in a sample: a list in this order (the header says it again).
STATS_FIELDS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped",
                "tx_dropped")
DEFAULTS: JsonObj = {
    "device": {"mtu": 1500, "admin_up": True, "oper_state": "up", "carrier": True, "master": None,
               "lower": None, "peer": None, "addresses": [], "bridge": None, "bridge_port": None, "tun": None,
               "info": {}, "stats": dict.fromkeys(STATS_FIELDS, 0)},
    "namespace": {"names": [], "root": False, "processes": [], "readable": True, "unreadable_reason": None,
                  "mounts": [], "fds": [], "pids_complete": True},
}
#: A changed field whose value is a large object or list (a bridge's ports, its fdb) is written as a
#: patch both ways rather than as two whole values.
PATCH_OVER = 120


def compact(obj: JsonObj, defaults: JsonObj) -> JsonObj:
    """`obj` without the fields equal to `defaults` (see DEFAULTS); exact to `expand`."""
    if not all(k in obj for k in defaults):
        return {**obj, "_full": True}
    return {k: v for k, v in obj.items() if k not in defaults or defaults[k] != v}


def expand(obj: JsonObj, defaults: JsonObj) -> JsonObj:
    """The object `compact` was given."""
    if obj.get("_full"):
        return {k: v for k, v in obj.items() if k != "_full"}
    return {**defaults, **obj}


def compact_snapshot(doc: JsonObj, defaults: JsonObj) -> JsonObj:
    out = dict(doc)
    out["namespaces"] = [compact(n, defaults["namespace"]) for n in doc.get("namespaces", [])]
    out["links"] = [compact(v, defaults["device"]) for v in doc.get("links", [])]
    return out


def expand_snapshot(doc: JsonObj, defaults: JsonObj) -> JsonObj:
    out = dict(doc)
    out["namespaces"] = [expand(n, defaults.get("namespace", {})) for n in doc.get("namespaces", [])]
    out["links"] = [expand(v, defaults.get("device", {})) for v in doc.get("links", [])]
    return out


def stats_out(stats: object) -> object:
    """Counters as a sample writes them: a list in STATS_FIELDS order (or as they are, if other keys)."""
    if isinstance(stats, dict) and tuple(stats) == STATS_FIELDS:
        return list(stats.values())
    return stats


def stats_in(value: object, fields: tuple[str, ...] = STATS_FIELDS) -> object:
    if isinstance(value, list):
        return dict(zip(fields, value, strict=False))
    return value


def link_key(link: JsonObj) -> str:
    """A device's key in a recording: "NETNS/IFINDEX" (a string so it can key a JSON object)."""
    return f"{link['netns']}/{link['ifindex']}"


def ns_label(ns: JsonObj) -> str:
    """What an operator calls a namespace, as `vnettop diff` does: "root", its first name, or net:[INODE]."""
    if ns.get("root"):
        return "root"
    names = ns.get("names") or []
    return str(names[0]) if names else f"net:[{ns['inode']}]"


def _without(obj: JsonObj, fields: tuple[str, ...]) -> JsonObj:
    return {k: v for k, v in obj.items() if k not in fields}


#: Fields of a whole device or namespace in a change item that the item already says (its key, name,
#: kind): left out of its "value", put back by `apply_items`.
_IN_ITEM = {"device": ("netns", "ifindex", "name", "kind"), "namespace": ("inode",)}


def _added_link(link: JsonObj) -> JsonObj:
    """A new device as written in a change, counters included (left out when all zero, the default)."""
    return _without(compact(link, DEFAULTS["device"]), _IN_ITEM["device"])


def _fields_change(item: JsonObj, a: JsonObj, b: JsonObj) -> JsonObj:
    """Put the fields that differ between `a` and `b` into a change item: small ones as their values
    before and after ("set"/"was", "unset" for a field gone), large objects and lists as patches both
    ways ("patch"/"unpatch")."""
    fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    item["set"], item["was"] = {}, {}
    for f in fields:
        old, new = a.get(f), b.get(f)
        if f in a and f in b and isinstance(old, (dict, list)) and type(old) is type(new) \
                and len(json.dumps(new)) > PATCH_OVER:
            item.setdefault("patch", {})[f] = patch(old, new)
            item.setdefault("unpatch", {})[f] = patch(new, old)
        else:
            if f in b:
                item["set"][f] = new
            else:
                item.setdefault("unset", []).append(f)
            item["was"][f] = old
    return item


def _movable(link: JsonObj) -> bool:
    """Whether a device can have moved (a loopback cannot; without a MAC nothing tells it apart)."""
    return link.get("kind") != "loopback" and link.get("mac") not in (None, "00:00:00:00:00:00")


def _ref_labels(item: JsonObj, labels: dict[int, str]) -> JsonObj:
    """Add the labels of the namespaces a changed device's master/peer/lower point into (for the log)."""
    refs = {}
    for side in ("set", "was"):
        for f in ("master", "peer", "lower"):
            ref = item.get(side, {}).get(f)
            if isinstance(ref, dict) and isinstance(ref.get("netns"), int):
                refs[str(ref["netns"])] = labels.get(ref["netns"], f"net:[{ref['netns']}]")
    if refs:
        item["ns_of"] = refs
    return item


def _owner_index(doc: JsonObj) -> tuple[dict[str, list[str]], dict[int, list[str]]]:
    """Owner names by device key and by namespace inode, from an `owners` section if there is one."""
    by_link: dict[str, list[str]] = {}
    by_ns: dict[int, list[str]] = {}
    owners = doc.get("owners")
    if not isinstance(owners, list):
        return by_link, by_ns
    for owner in owners:
        if not isinstance(owner, dict) or not isinstance(owner.get("name"), str):
            continue
        for key in owner.get("links") or []:
            if isinstance(key, list) and len(key) == 2:
                by_link.setdefault(f"{key[0]}/{key[1]}", []).append(owner["name"])
        for inode in owner.get("namespaces") or []:
            if isinstance(inode, int):
                by_ns.setdefault(inode, []).append(owner["name"])
    return by_link, by_ns


def item_label(item: object) -> str:
    """A short name for one element of a generic section (an owner: "container web-1")."""
    if isinstance(item, dict):
        parts = [str(item[k]) for k in ("kind", "name") if isinstance(item.get(k), (str, int))]
        if not parts and isinstance(item.get("comm"), str):  # a process (a tun/tap's holder)
            parts = [f"{item['comm']}[{item.get('pid')}]"]
        if not parts and isinstance(item.get("mac"), str):  # an fdb entry
            parts = [str(item["mac"])]
        if parts:
            return " ".join(parts)
    text = json.dumps(item, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


# -- generic patches (any section) ---------------------------------------------------------------


def _canon(v: object) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def patch(old: object, new: object) -> JsonObj | None:
    """A patch turning `old` into `new`, or None when they are equal.

    {"=": value}: replace; {"o": {key: patch}, "x": [removed keys]}: an object key by key;
    {"l": [[i1, i2, [items]], ...]}: a list, each replacing old[i1:i2] (in old's indices) by the items.
    """
    if old == new:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        inner = {k: p for k in new if (p := patch(old.get(k, _MISSING), new[k])) is not None}
        gone = [k for k in old if k not in new]
        out: JsonObj = {}
        if inner:
            out["o"] = inner
        if gone:
            out["x"] = gone
        return out
    if isinstance(old, list) and isinstance(new, list):
        a, b = [_canon(x) for x in old], [_canon(x) for x in new]
        ops = [[i1, i2, new[j1:j2]]
               for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
               if tag != "equal"]
        return {"l": ops}
    return {"=": new}


class _Missing:
    """Stands for a key absent from the old object (never equal to a JSON value)."""


_MISSING: Any = _Missing()


def apply_patch(old: object, p: JsonObj) -> object:
    """`old` with patch `p` applied (see `patch`); `old` itself is not modified."""
    if "=" in p:
        return p["="]
    if "l" in p:
        out = list(old) if isinstance(old, list) else []
        for i1, i2, items in reversed(p["l"]):
            out[i1:i2] = items
        return out
    obj = dict(old) if isinstance(old, dict) else {}
    for k in p.get("x", ()):
        obj.pop(k, None)
    for k, sub in p.get("o", {}).items():
        obj[k] = apply_patch(obj.get(k, _MISSING), sub)
    return obj


def _list_summary(old: object, new: object) -> JsonObj:
    """What was added, removed and changed in a list section, by item label (for the change log)."""
    olds = old if isinstance(old, list) else []
    news = new if isinstance(new, list) else []
    before = {item_label(x): _canon(x) for x in olds}
    after = {item_label(x): _canon(x) for x in news}
    out: JsonObj = {}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    for name, labels in (("added", added), ("removed", removed), ("changed", changed)):
        if labels:
            out[name] = labels
    return out


# -- the structured diff ---------------------------------------------------------------------------


def diff_docs(old: JsonObj, new: JsonObj) -> list[JsonObj]:
    """The change items from `old` to `new` (two snapshot objects), volatile fields left out.

    Each item: {"op": "added"|"removed"|"changed"|"moved", "what": "namespace"|"device"|"section", ...}
    with what is needed to apply it (`apply_items`) and to show it (`vnettop changes`) without
    rebuilding the state: names, the namespace's label, the owners' names when known, and for a change
    each field's value before and after.
    """
    if old is new:
        return []
    items: list[JsonObj] = []
    item: JsonObj
    own_link, own_ns = _owner_index(new)
    old_own_link, old_own_ns = _owner_index(old)

    old_ns = {n["inode"]: n for n in old.get("namespaces", [])}
    new_ns = {n["inode"]: n for n in new.get("namespaces", [])}
    labels = {**{i: ns_label(n) for i, n in old_ns.items()}, **{i: ns_label(n) for i, n in new_ns.items()}}

    def with_owners(item: JsonObj, names: list[str] | None) -> JsonObj:
        if names:
            item["owners"] = sorted(set(names))
        return item

    for inode in sorted(old_ns.keys() - new_ns.keys()):
        items.append(with_owners({"op": "removed", "what": "namespace", "key": inode, "ns": labels[inode]},
                                 old_own_ns.get(inode)))
    for inode in sorted(new_ns.keys() - old_ns.keys()):
        value = _without(new_ns[inode], NS_VOLATILE)
        if new_ns[inode].get("pids"):
            value["pids"] = new_ns[inode]["pids"]
        value = _without(compact(value, DEFAULTS["namespace"]), _IN_ITEM["namespace"])
        items.append(with_owners({"op": "added", "what": "namespace", "key": inode, "ns": labels[inode],
                                  "value": value}, own_ns.get(inode)))
    for inode in sorted(old_ns.keys() & new_ns.keys()):
        if old_ns[inode] == new_ns[inode]:  # the common case, compared in C
            continue
        a, b = _without(old_ns[inode], NS_VOLATILE), _without(new_ns[inode], NS_VOLATILE)
        if a != b:
            item = {"op": "changed", "what": "namespace", "key": inode, "ns": labels[inode]}
            items.append(with_owners(_fields_change(item, a, b), own_ns.get(inode)))

    old_links = {link_key(v): v for v in old.get("links", [])}
    new_links = {link_key(v): v for v in new.get("links", [])}
    gone = sorted(old_links.keys() - new_links.keys())
    came = sorted(new_links.keys() - old_links.keys())
    moved: dict[str, str] = {}  # new key -> old key
    for nk in came:
        n = new_links[nk]
        for ok in gone:
            o = old_links[ok]
            if ok not in moved.values() and o["netns"] != n["netns"] and o.get("name") == n.get("name") \
                    and o.get("mac") == n.get("mac") and o.get("kind") == n.get("kind") and _movable(n):
                moved[nk] = ok
                break
    for ok in gone:
        if ok in moved.values():
            continue
        o = old_links[ok]
        items.append(with_owners({"op": "removed", "what": "device", "key": ok, "name": o.get("name"),
                                  "kind": o.get("kind"), "ns": labels.get(o["netns"], f"net:[{o['netns']}]")},
                                 old_own_link.get(ok)))
    for nk in came:
        n = new_links[nk]
        item = {"op": "added", "what": "device", "key": nk, "name": n.get("name"),
                         "kind": n.get("kind"), "ns": labels.get(n["netns"], f"net:[{n['netns']}]"),
                         "value": _added_link(n)}
        if nk in moved:
            o = old_links[moved[nk]]
            item["op"] = "moved"
            item["from"] = moved[nk]
            item["from_ns"] = labels.get(o["netns"], f"net:[{o['netns']}]")
        items.append(with_owners(item, own_link.get(nk)))
    for k in sorted(old_links.keys() & new_links.keys()):
        if old_links[k] == new_links[k]:
            continue
        a, b = _without(old_links[k], LINK_VOLATILE), _without(new_links[k], LINK_VOLATILE)
        if a != b:
            item = {"op": "changed", "what": "device", "key": k, "name": b.get("name"), "kind": b.get("kind"),
                    "ns": labels.get(b["netns"], f"net:[{b['netns']}]")}
            _fields_change(item, a, b)
            items.append(with_owners(_ref_labels(item, labels), own_link.get(k)))

    for section in sorted((old.keys() | new.keys()) - {"namespaces", "links", *NOT_STATE}):
        a, b = old.get(section, _MISSING), new.get(section, _MISSING)
        if section not in new:
            items.append({"op": "removed", "what": "section", "key": section})
            continue
        p = patch(a, b)
        if p is None:
            continue
        item = {"op": "added" if section not in old else "changed", "what": "section", "key": section,
                "patch": p}
        if isinstance(b, list):
            item.update(_list_summary(a if section in old else [], b))
        items.append(item)
    return items


class Tables:
    """A snapshot object being rebuilt, keyed (namespaces by inode, devices by "NETNS/IFINDEX"), so that
    applying a record costs what the record holds, not the size of the snapshot; `finish` writes the
    sorted lists back once, after the last record."""

    def __init__(self, doc: JsonObj, defaults: JsonObj | None = None) -> None:
        self.doc = doc
        self.defaults = DEFAULTS if defaults is None else defaults
        self.nss: dict[Any, JsonObj] = {n["inode"]: n for n in doc.get("namespaces", [])}
        self.links: dict[Any, JsonObj] = {link_key(v): v for v in doc.get("links", [])}

    def apply(self, items: list[JsonObj]) -> None:
        """Apply change items (from `diff_docs`). Volatile fields of a changed device or namespace are
        kept as they were (they come from samples)."""
        doc, defaults = self.doc, self.defaults
        for item in items:
            what, op = item["what"], item["op"]
            if what == "section":
                if op == "removed":
                    doc.pop(item["key"], None)
                else:
                    doc[item["key"]] = apply_patch(doc.get(item["key"], _MISSING), item["patch"])
                continue
            table = self.nss if what == "namespace" else self.links
            key = item["key"]
            if op == "removed":
                table.pop(key, None)
            elif op in ("added", "moved"):
                if op == "moved":
                    table.pop(item["from"], None)
                value = expand(item["value"], defaults["device" if what == "device" else "namespace"])
                if what == "device":
                    netns, ifindex = str(key).split("/")
                    value.update(netns=int(netns), ifindex=int(ifindex), name=item.get("name"),
                                 kind=item.get("kind"))
                    value.setdefault("stats", {})
                else:
                    value["inode"] = key
                table[key] = value
            elif op == "changed":
                obj = dict(table[key])
                for f in item.get("unset", ()):
                    obj.pop(f, None)
                obj.update(item.get("set") or {})
                for f, p in (item.get("patch") or {}).items():
                    obj[f] = apply_patch(obj.get(f, _MISSING), p)
                table[key] = obj
            else:
                raise ValueError(f"unknown change op {op!r}")

    def sample(self, stats: dict[str, Any], pids: dict[str, Any],
               fields: tuple[str, ...] = STATS_FIELDS) -> None:
        """Set sampled counters and pids on the devices and namespaces that exist."""
        for k, s in stats.items():
            link = self.links.get(k)
            if link is not None:
                self.links[k] = {**link, "stats": stats_in(s, fields)}
        for k, p in pids.items():
            ns = self.nss.get(int(k))
            if ns is not None:
                self.nss[int(k)] = {**ns, "pids": p}

    def finish(self) -> JsonObj:
        self.doc["namespaces"] = sorted(self.nss.values(), key=lambda n: (not n.get("root"), n["inode"]))
        self.doc["links"] = sorted(self.links.values(), key=lambda v: (v["netns"], v["ifindex"]))
        return self.doc


def apply_items(doc: JsonObj, items: list[JsonObj], defaults: JsonObj | None = None) -> None:
    """Apply change items (from `diff_docs`) to a snapshot object in place (see `Tables`)."""
    tables = Tables(doc, defaults)
    tables.apply(items)
    tables.finish()


# -- volatile fields: sampled -------------------------------------------------------------------


def volatile_of(doc: JsonObj) -> tuple[dict[str, Any], dict[str, Any]]:
    """(counters by device key, pids by namespace inode as text) of a snapshot object."""
    stats = {link_key(v): v.get("stats") for v in doc.get("links", [])}
    pids = {str(n["inode"]): n.get("pids", []) for n in doc.get("namespaces", [])}
    return stats, pids


def volatile_delta(old: JsonObj, new: JsonObj) -> tuple[dict[str, Any], dict[str, Any]]:
    """The counters and pids in `new` that differ from `old` (what a sample record holds)."""
    os_, op = volatile_of(old)
    ns_, np_ = volatile_of(new)
    return ({k: v for k, v in ns_.items() if os_.get(k) != v},
            {k: v for k, v in np_.items() if op.get(k) != v})


def apply_volatile(doc: JsonObj, stats: dict[str, Any], pids: dict[str, Any],
                   fields: tuple[str, ...] = STATS_FIELDS) -> None:
    """Set sampled counters and pids on the devices and namespaces that exist (in place)."""
    if stats:
        for v in doc.get("links", []):
            s = stats.get(link_key(v))
            if s is not None:
                v["stats"] = stats_in(s, fields)
    if pids:
        for n in doc.get("namespaces", []):
            p = pids.get(str(n["inode"]))
            if p is not None:
                n["pids"] = p
