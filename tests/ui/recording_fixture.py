"""A small recording for the UI tests: the demo host, then scripted changes one tick apart, written by
vnettop's own `Recorder` (the file `vnettop record` writes). Every change lands on its own second, so
each recorded moment is a distinct picture; the tests compare what the app shows with
`Recording.snapshot_at` at the same moment."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vnettop.demo import QDHCP, ROOT, demo_snapshot
from vnettop.record.recorder import Recorder
from vnettop.record.writer import RecordingFile
from vnettop.render.json import snapshot_to_dict

T0 = 1_796_378_400.0  # 2026-12-04T10:00:00Z
Doc = dict[str, Any]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


def _link(doc: Doc, name: str, netns: int = ROOT) -> Doc:
    return next(v for v in doc["links"] if v["name"] == name and v["netns"] == netns)


def _veth_pair(d: Doc) -> None:
    a = copy.deepcopy(_link(d, "vethd41c2e"))
    a.update(ifindex=40, name="vntA", mac="02:00:00:00:00:40", master=None, bridge_port=None,
             peer={"netns": ROOT, "ifindex": 41, "name": "vntB"})
    b = copy.deepcopy(a)
    b.update(ifindex=41, name="vntB", mac="02:00:00:00:00:41", peer={"netns": ROOT, "ifindex": 40, "name": "vntA"})
    d["links"] += [a, b]


def _move_b(d: Doc) -> None:
    _link(d, "vntB").update(netns=QDHCP, ifindex=7)
    _link(d, "vntA")["peer"] = {"netns": QDHCP, "ifindex": 7, "name": "vntB"}


def _tap0_down(d: Doc) -> None:
    _link(d, "tap0").update(admin_up=False, oper_state="down")


def _remove_pair(d: Doc) -> None:
    d["links"] = [v for v in d["links"] if v["name"] not in ("vntA", "vntB")]


#: (second, what it does, the edit): four changes at +2, +4, +6 and +8 s.
SCRIPT: list[tuple[int, str, Callable[[Doc], None]]] = [
    (2, "veth pair vntA/vntB added", _veth_pair),
    (4, "vntB moved to the qdhcp namespace", _move_b),
    (6, "tap0 set down", _tap0_down),
    (8, "vntA and vntB removed", _remove_pair),
]
#: The recording runs from +0 to END seconds.
END = 10


def write_recording(path: Path) -> Path:
    """The demo host from +0 s to +10 s with SCRIPT's changes, one tick a second."""
    out = RecordingFile(str(path), 1 << 30, 3)
    rec = Recorder(out, alive_every=1.0)
    doc = snapshot_to_dict(demo_snapshot())
    rec.start(copy.deepcopy(doc), T0)
    edits = {s: edit for s, _, edit in SCRIPT}
    for s in range(1, END):
        if s in edits:
            doc = copy.deepcopy(doc)
            edits[s](doc)
        rec.tick(copy.deepcopy(doc), T0 + s)
    rec.stop(T0 + END, "test over")
    out.close()
    return path
