"""The fleet file, `vnettop.fleet/1` JSON Lines: one line per host, in the order the hosts were given.

`{"schema": "vnettop.fleet/1", "host": ALIAS, "ok": true, "ms": 412, "snapshot": {...}}` or
`{"schema": "vnettop.fleet/1", "host": ALIAS, "ok": false, "ms": 30000, "error": "one line"}`
(SNAPSHOT-SCHEMA.md, "A fleet file").

Reading is tolerant where a person would be and strict where a script depends on it: blank lines are
skipped, a line cut off at the end (a fan-out killed mid-write) is reported as such, and any other bad
line is one FleetFormatError naming the file and line. A host's snapshot is parsed only when asked for
(`HostEntry.snapshot()`), and a line is not even parsed as JSON until someone needs it: a question over
1000 hosts pays only for the hosts it looks at in full (`HostEntry.may_contain` lets it skip the rest).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vnettop.errors import VnettopError
from vnettop.model import Snapshot

SCHEMA = "vnettop.fleet/1"


class FleetFormatError(VnettopError):
    """A fleet file that is not one (names the file and the line)."""


#: The start of a line as `entry_line` writes it: enough to know the host without parsing the snapshot.
_HEAD = re.compile(r'^\{"schema":"vnettop\.fleet/1","host":("(?:[^"\\]|\\.)*"),'
                   r'"ok":true,"ms":(\d+),"snapshot":\{')


@dataclass
class HostEntry:
    """One line of a fleet file."""

    host: str
    ok: bool
    ms: int
    error: str | None = None
    _raw: dict[str, Any] | None = field(default=None, repr=False)
    _line: str | None = field(default=None, repr=False)  # the line, until its JSON is needed
    _where: str = field(default="", repr=False)
    _snap: Snapshot | None = field(default=None, repr=False)

    @property
    def raw(self) -> dict[str, Any] | None:
        """The snapshot object as read (parsed on first use; not yet checked field by field)."""
        if self._raw is None and self._line is not None:
            try:
                obj = json.loads(self._line)
            except json.JSONDecodeError as e:
                raise FleetFormatError(f"{self._where}: not valid JSON ({e.msg}, column {e.colno})") from None
            self._raw = _entry(obj, self._where)._raw
            self._line = None
        return self._raw

    def fresh_raw(self) -> dict[str, Any] | None:
        """The snapshot object, parsed afresh from the line and not kept (unlike `raw`): a pass over
        every host (the TUI's hosts view counts each one) then holds one host's objects at a time, not
        the whole file's (a parsed host takes several times its line's memory)."""
        if self._raw is not None or self._line is None:
            return self._raw
        try:
            obj = json.loads(self._line)
        except json.JSONDecodeError as e:
            raise FleetFormatError(f"{self._where}: not valid JSON ({e.msg}, column {e.colno})") from None
        return _entry(obj, self._where)._raw

    def may_contain(self, needle: str) -> bool:
        """False only if `needle` (lower-case, plain printable ASCII) cannot be anywhere in this host's
        snapshot: a substring test on the unparsed line, which JSON escapes would only make fail falsely
        for quotes, backslashes and non-ASCII text — such needles, and lines with `\\u` escapes, say True."""
        line = self._line
        plain = needle.isascii() and needle.isprintable() and '"' not in needle and "\\" not in needle
        if line is None or not plain:
            return True
        if "\\u" in line:
            return True
        return needle in line.lower()

    def snapshot(self) -> Snapshot:
        """The host's Snapshot (checked field by field on first use); VnettopError if it has none."""
        if self._snap is None:
            if not self.ok or self.raw is None:
                raise VnettopError(f"host {self.host}: no snapshot ({self.error or 'not collected'})")
            from vnettop.render.json import snapshot_from_dict

            self._snap = snapshot_from_dict(self.raw, source=f"host {self.host}")
        return self._snap


def entry_line(host: str, ok: bool, ms: int, snapshot: dict[str, Any] | None = None,
               error: str | None = None) -> str:
    """One fleet line (no newline), keys in the documented order."""
    doc: dict[str, Any] = {"schema": SCHEMA, "host": host, "ok": ok, "ms": ms}
    if ok:
        doc["snapshot"] = snapshot
    else:
        doc["error"] = error or "failed"
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def looks_like_fleet(text_start: str) -> bool:
    """True if a file starting with `text_start` is a fleet file rather than one snapshot."""
    head = text_start.lstrip()[:200]
    return head.startswith("{") and f'"schema":"{SCHEMA}"' in head.replace(" ", "")


def _entry(obj: object, where: str) -> HostEntry:
    if not isinstance(obj, dict):
        raise FleetFormatError(f"{where}: expected an object per line")
    if obj.get("schema") != SCHEMA:
        raise FleetFormatError(f"{where}: not a {SCHEMA} line (schema {obj.get('schema')!r})")
    host, ok, ms = obj.get("host"), obj.get("ok"), obj.get("ms", 0)
    ms_ok = isinstance(ms, int) and not isinstance(ms, bool)
    if not isinstance(host, str) or not isinstance(ok, bool) or not ms_ok:
        raise FleetFormatError(f"{where}: needs a string 'host', a boolean 'ok' and a whole number 'ms'")
    if ok:
        snap = obj.get("snapshot")
        if not isinstance(snap, dict):
            raise FleetFormatError(f"{where}: host {host} is ok but has no snapshot object")
        return HostEntry(host, True, ms, _raw=snap)
    error = obj.get("error")
    return HostEntry(host, False, ms, error=error if isinstance(error, str) else "failed")


def parse_fleet(text: str, source: str) -> tuple[list[HostEntry], list[str]]:
    """The hosts of a fleet file's text, and notes for the reader (e.g. a cut-off last line)."""
    lines = text.split("\n")
    entries: list[HostEntry] = []
    notes: list[str] = []
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{source} line {i + 1}"
        head = _HEAD.match(line)
        if head is not None and (i != last or text.endswith("\n")):
            host = json.loads(head.group(1))
            entries.append(HostEntry(host, True, int(head.group(2)), _line=line, _where=where))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last and not text.endswith("\n"):
                notes.append(f"{where}: cut off (the file ends mid-line); ignored")
                continue
            raise FleetFormatError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
        entries.append(_entry(obj, where))
    return entries, notes


def read_fleet(path: str) -> tuple[list[HostEntry], list[str]]:
    """Read a fleet file (`-` for stdin); FleetFormatError / SnapshotFormatError name what is wrong."""
    from vnettop.render.json import read_text

    text = read_text(path, "fleet file", "JSON Lines")
    if text.strip() and not looks_like_fleet(text):
        raise FleetFormatError(f"{path}: not a fleet file (expected {SCHEMA} JSON Lines)")
    return parse_fleet(text, path)


def hosts_named(entries: list[HostEntry], name: str) -> Iterator[HostEntry]:
    return (e for e in entries if e.host == name)
