"""Recorded changes shown to a person (`vnettop changes`), as text or JSON, and filtered.

A change item carries what is needed to show it without rebuilding the state around it: the device's
name and kind, its namespace's label ("root", a name, net:[INODE]), the owners' names when the snapshot
had an `owners` section, and each changed field's value before and after. So `vnettop changes` reads
only the change lines, however long the recording.
"""

from __future__ import annotations

import json
from typing import Any

from vnettop.record.delta import item_label
from vnettop.textsafe import printable_line

JsonObj = dict[str, Any]
_SIGN = {"added": "+", "removed": "-", "changed": "~", "moved": ">"}


def _ref(value: object, here: str, ns_of: dict[str, str]) -> str:
    """A master/peer/lower as its name, with its namespace when that is not the device's own."""
    if not isinstance(value, dict):
        return str(value)
    name = value.get("name")
    text = str(name) if name is not None else f"ifindex {value.get('ifindex')} (unreadable)"
    netns = str(value.get("netns"))
    return text if netns == here else f"{text} @ {ns_of.get(netns, f'net:[{netns}]')}"


def _holders(tun: object) -> str:
    if not isinstance(tun, dict):
        return "-"
    holders = tun.get("holders")
    if holders is None:
        return "unknown"
    comms = sorted({f"{h.get('comm')}[{h.get('pid')}]" for h in holders if isinstance(h, dict)})
    return ", ".join(comms) or "none"


def field_text(name: str, value: object, here: str = "", ns_of: dict[str, str] | None = None) -> str:
    """One field's value as a person reads it (a master as its name, a tun/tap as its holders...).

    `here` is the device's namespace inode (as text), so a peer elsewhere is shown with its namespace.
    """
    if value is None:
        return "-"
    if name in ("master", "peer", "lower"):
        return _ref(value, here, ns_of or {})
    if name == "processes" and isinstance(value, list):
        return ", ".join(f"{p.get('comm')}[{p.get('pid')}]" for p in value if isinstance(p, dict)) or "none"
    if name == "tun":
        return f"holders {_holders(value)}"
    if name == "bridge_port" and isinstance(value, dict):
        return str(value.get("state"))
    if isinstance(value, list) and all(isinstance(x, (str, int)) for x in value):
        return " ".join(str(x) for x in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _patch_words(path: str, fwd: object, rev: object) -> list[str]:
    """A field written as patches both ways, in words: `bridge.ports +300`, `bridge.fdb -aa:bb:...`."""
    if not isinstance(fwd, dict):
        return []
    if "=" in fwd:
        back = rev.get("=") if isinstance(rev, dict) else None
        return [f"{path} {field_text(path, back)} -> {field_text(path, fwd['='])}"]
    if "l" in fwd:
        added = [x for op in fwd["l"] for x in op[2]]
        removed = [x for op in (rev.get("l", []) if isinstance(rev, dict) else []) for x in op[2]]
        words = [f"+{item_label(x)}" for x in added] + [f"-{item_label(x)}" for x in removed]
        return [f"{path} {' '.join(words)}"] if words else []
    out: list[str] = []
    rev_o = rev.get("o", {}) if isinstance(rev, dict) else {}
    for k, sub in fwd.get("o", {}).items():
        out += _patch_words(f"{path}.{k}", sub, rev_o.get(k, {}))
    for k in fwd.get("x", []):
        out.append(f"{path}.{k} removed")
    return out


def item_text(item: JsonObj) -> str:
    """One line, e.g. `~ device root/tap0 (tap): master br0 -> br1`."""
    what, op = item.get("what"), item.get("op", "?")
    sign = _SIGN.get(op, "?")
    if what == "section":
        parts = [f"{k} {', '.join(item[k])}" for k in ("added", "removed", "changed") if item.get(k)]
        return f"{sign} {item.get('key')}" + (": " + "; ".join(parts) if parts else "")
    if what == "namespace":
        text = f"{sign} namespace {item.get('ns')}"
    else:
        text = f"{sign} device {item.get('ns')}/{item.get('name')}"
        if item.get("kind"):
            text += f" ({item.get('kind')})"
    if op == "moved":
        text += f": moved from {item.get('from_ns')}"
    if op == "changed":
        was, now = item.get("was") or {}, item.get("set") or {}
        fields = sorted(set(was) | set(now))
        here, ns_of = str(item.get("key", "")).split("/")[0], item.get("ns_of") or {}
        parts = [f"{f} {field_text(f, was.get(f), here, ns_of)} -> {field_text(f, now.get(f), here, ns_of)}"
                 for f in fields]
        unpatch = item.get("unpatch") or {}
        for f, p in sorted((item.get("patch") or {}).items()):
            parts += _patch_words(f, p, unpatch.get(f))
        text += ": " + "; ".join(parts)
    if item.get("owners"):
        text += f"  [{', '.join(item['owners'])}]"
    return printable_line(text)


def _names_in(value: object) -> list[str]:
    if isinstance(value, dict):
        names = value.get("names")
        return [str(n) for n in names] if isinstance(names, list) else []
    return []


def matches(item: JsonObj, device: str | None = None, owner: str | None = None,
            netns: str | None = None) -> bool:
    """True when the item concerns this device name, owner name and namespace (each if given).

    A namespace is named as `vnettop` names it elsewhere: "root", one of its names, or its inode.
    """
    if device is not None:
        if item.get("what") != "device":
            return False
        was = item.get("was") or {}
        if device not in (item.get("name"), was.get("name")):
            return False
    if owner is not None:
        labels = [*item.get("owners", ())]
        if item.get("what") == "section" and item.get("key") == "owners":
            labels += [lbl.split(" ", 1)[-1]
                       for k in ("added", "removed", "changed") for lbl in item.get(k, ())]
        if owner not in labels:
            return False
    if netns is not None:
        key = item.get("key")
        spots = {item.get("ns"), item.get("from_ns")}
        if item.get("what") == "namespace":
            spots |= {str(key), *_names_in(item.get("value")), *_names_in(item.get("set")),
                      *_names_in(item.get("was"))}
        elif item.get("what") == "device":
            spots |= {str(key).split("/")[0], str(item.get("from", "/")).split("/")[0]}
        else:
            return False
        if netns not in spots:
            return False
    return True
