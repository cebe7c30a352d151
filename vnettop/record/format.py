"""The recording's lines (`vnettop.recording/1`, JSON Lines), written and recognised.

Every line is one JSON object that begins, byte for byte, `{"t":"<time>","type":"<type>"` and (all but
the header) `,"base":<offset>`: the reader finds a moment by a binary search over the file comparing the
heads of lines, and jumps to the keyframe a line builds on (`base`, its byte offset in the same file)
without decoding anything else. Types:

- `header`: the first line of each run of the recorder (schema, host, settings; `continues` is true
  when the run only started a new file because the old one reached --max-size).
- `keyframe`: a whole snapshot (`snapshot`, as SNAPSHOT-SCHEMA.md), counters included.
- `change`: the change items seen at one tick (`changes`; see `delta.diff_docs`).
- `sample`: the counters (`stats`, by "NETNS/IFINDEX") and namespace pids (`pids`, by inode) that moved
  since the last sample.
- `alive`: nothing changed; the recorder was running (so a moment after it is known to be unchanged).
- `end`: the run stopped cleanly (`reason`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from vnettop import names

SCHEMA = "vnettop.recording/1"
TYPES = ("header", "keyframe", "change", "sample", "alive", "end")
_HEAD = re.compile(rb'^\{"t":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)","type":"([a-z]+)"(?:,"base":(\d+))?')


def encode(t: str, type_: str, base: int | None, body: dict[str, Any]) -> bytes:
    """One whole line, newline included, as UTF-8 bytes (free text with undecodable bytes is written
    `\\xNN`, as in a snapshot file)."""
    head = f'{{"t":"{t}","type":"{type_}"' + ("" if base is None else f',"base":{base}')
    rest = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body else "{}"
    text = head + ("}" if rest == "{}" else "," + rest[1:])
    return (names.json_written(text) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class Head:
    """The head of one line: where it is, its time (as written), its type, its keyframe's offset."""

    offset: int
    length: int  # bytes, newline included
    t: str
    type: str
    base: int | None


def read_head(line: bytes, offset: int) -> Head | None:
    """The head of a line, or None when the line is not a recording line."""
    m = _HEAD.match(line)
    if m is None or m.group(2).decode() not in TYPES:
        return None
    base = m.group(3)
    return Head(offset, len(line), m.group(1).decode(), m.group(2).decode(),
                None if base is None else int(base))


def looks_like_recording(first_bytes: bytes) -> bool:
    """True when a file's first bytes are a recording's header (to tell a recording from a snapshot)."""
    head = read_head(first_bytes, 0)
    return head is not None and head.type == "header"
