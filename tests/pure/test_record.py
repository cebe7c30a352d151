"""The recording format, rotation, cut-off lines, keyframes, gaps, time parsing and the reading API.

Synthetic snapshot objects (the compute node of tests/fixtures_snapshots.py, edited step by step) are fed
to the real `Recorder`; every moment is then rebuilt by the real reader and compared with the object
that was recorded at that moment, field by field (counters and pids only at sampled moments: they are
sampled by design).
"""

from __future__ import annotations

import copy
import errno
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_snapshots import QDHCP_NAME, compute_node
from vnettop import cli
from vnettop.record import delta
from vnettop.record.reader import Recording, RecordingError
from vnettop.record.recorder import Recorder
from vnettop.record.timefmt import TimeFormatError, parse_time, stamp_epoch
from vnettop.record.writer import RecordingFile, RecordingWriteError
from vnettop.render.json import snapshot_from_dict, snapshot_to_dict, snapshot_to_json

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ROOT = 4026531840
QDHCP = 4026532323
Doc = dict[str, Any]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


def link(doc: Doc, name: str, netns: int = ROOT) -> Doc:
    return next(v for v in doc["links"] if v["name"] == name and v["netns"] == netns)


def norm(doc: Doc, volatile: bool = False) -> Doc:
    """A snapshot object as read back by vnettop, without its moment (and counters/pids unless asked)."""
    d = snapshot_to_dict(snapshot_from_dict(json.loads(json.dumps(doc))))
    d.pop("taken_at")
    d["links"].sort(key=lambda v: (v["netns"], v["ifindex"]))  # the schema's order
    if not volatile:
        for v in d["links"]:
            v.pop("stats")
        for n in d["namespaces"]:
            n.pop("pids")
    return d


def owner(kind: str, name: str, **kw: Any) -> Doc:
    """An entry of the `owners` section (SNAPSHOT-SCHEMA.md "Owners")."""
    return {"kind": kind, "name": name, "id": None, "runtime": "libvirt" if kind == "vm" else "docker",
            "source": "test", "exact": True, "details": {}, "links": [], "namespaces": [], "pids": [],
            "parent": None, **kw}


def script() -> list[tuple[float, Callable[[Doc], None]]]:
    """Edits of a snapshot object, each at a time: every kind of change the recorder must keep."""
    def veth_pair(d: Doc) -> None:
        a = copy.deepcopy(link(d, "vethx"))
        a.update(ifindex=40, name="vntA", mac="02:00:00:00:00:40", peer={"netns": ROOT, "ifindex": 41, "name": "vntB"})
        b = copy.deepcopy(a)
        b.update(ifindex=41, name="vntB", mac="02:00:00:00:00:41", peer={"netns": ROOT, "ifindex": 40, "name": "vntA"})
        d["links"] += [a, b]

    def move_b(d: Doc) -> None:
        b = link(d, "vntB")
        b.update(netns=QDHCP, ifindex=7)
        link(d, "vntA")["peer"] = {"netns": QDHCP, "ifindex": 7, "name": "vntB"}

    def enslave(d: Doc) -> None:
        link(d, "vntA")["master"] = {"netns": ROOT, "ifindex": 3, "name": "br0"}
        link(d, "br0")["bridge"]["ports"] = sorted([*link(d, "br0")["bridge"]["ports"], 40])

    def holder_gone(d: Doc) -> None:
        link(d, "tap0")["tun"]["holders"] = []

    def owners(d: Doc) -> None:
        d["owners"] = [owner("vm", "web-1", links=[[ROOT, 5]])]

    def owner_more(d: Doc) -> None:
        d["owners"].append(owner("container", "db", links=[[QDHCP, 7]], namespaces=[QDHCP]))

    def counters(d: Doc) -> None:
        link(d, "tap0")["stats"]["rx_bytes"] += 12345
        d["namespaces"][0]["pids"] = [1, 2, 3]

    def delete(d: Doc) -> None:
        d["links"] = [v for v in d["links"] if v["name"] not in ("vntA", "vntB")]
        link(d, "br0")["bridge"]["ports"] = [p for p in link(d, "br0")["bridge"]["ports"] if p != 40]

    def address(d: Doc) -> None:
        link(d, "veth-b", QDHCP)["addresses"] = ["10.9.9.9/24"]
        d["namespaces"][1]["names"] = [QDHCP_NAME, "alias"]

    return [(1, veth_pair), (2, move_b), (3, enslave), (5, holder_gone), (6, owners), (8, owner_more),
            (9, counters), (12, delete), (13, address)]


def record(path: Path, **kw: Any) -> tuple[Recorder, list[tuple[float, Doc]]]:
    """Record the script, one tick a second for 15 s; return the recorder and (time, object) seen."""
    out = RecordingFile(str(path), kw.pop("max_size", 1 << 30), kw.pop("keep", 3))
    rec = Recorder(out, **{"sample_every": 4.0, "alive_every": 2.0, **kw})
    doc = snapshot_to_dict(compute_node())
    rec.start(copy.deepcopy(doc), T0)
    seen = [(0.0, copy.deepcopy(doc))]
    edits = dict(script())
    for s in range(1, 16):
        if s in edits:
            doc = copy.deepcopy(doc)
            edits[s](doc)
        rec.tick(copy.deepcopy(doc), T0 + s)
        seen.append((float(s), copy.deepcopy(doc)))
    rec.stop(T0 + 16, "test over")
    out.close()
    return rec, seen


def lines(path: Path) -> list[Doc]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_every_moment_rebuilds_what_was_recorded(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    with Recording.open(str(path)) as rec:
        assert rec.notes == []
        for s, doc in record(tmp_path / "again.jsonl")[1]:
            for dt in (0.0, 0.5):  # at the tick and between ticks
                got = snapshot_to_dict(rec.snapshot_at(at(s + dt)))
                assert norm(got) == norm(doc), f"at +{s + dt}s"


def test_counters_and_pids_are_sampled_not_logged(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    changes = [x for x in lines(path) if x["type"] == "change"]
    assert all("stats" not in json.dumps(c["changes"]) for c in changes if c["t"].startswith("2027-01-15T08:00:09"))
    samples = [x for x in lines(path) if x["type"] == "sample"]
    assert samples, "no sample line"
    with Recording.open(str(path)) as rec:
        # the counter moved at +9 s; the next sample (every 4 s, at +12 s) carries it
        before = rec.snapshot_at(at(11))
        after = rec.snapshot_at(at(12))
    tap0 = next(x for x in after.links if x.name == "tap0")
    assert tap0.stats.rx_bytes == next(x for x in before.links if x.name == "tap0").stats.rx_bytes + 12345
    assert after.namespaces[0].pids == (1, 2, 3)


def test_change_items_say_what_changed(tmp_path: Path) -> None:
    from vnettop.record.changelog import item_text

    path = tmp_path / "rec.jsonl"
    record(path)
    with Recording.open(str(path)) as rec:
        texts = [item_text(i) for cs in rec.changes() for i in cs.items]
    assert "+ device root/vntA (veth)" in texts
    assert f"> device {QDHCP_NAME}/vntB (veth): moved from root" in texts
    assert any(t.startswith("~ device root/vntA (veth): master - -> br0") for t in texts), texts
    assert "~ device root/br0 (bridge): bridge.ports +40" in texts
    assert any(t.startswith("~ device root/tap0 (tap): tun.holders -qemu-kvm[") for t in texts), texts
    assert "+ owners: added vm web-1" in texts and "~ owners: added container db" in texts
    assert any("addresses" in t and "10.9.9.9/24" in t for t in texts)


def test_keyframes_by_count_and_each_line_names_its_keyframe(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path, keyframe_changes=2)
    raw = path.read_bytes()
    heads = lines(path)
    offsets = [0]
    for line in raw.splitlines(keepends=True)[:-1]:
        offsets.append(offsets[-1] + len(line))
    keyframes = [off for off, h in zip(offsets, heads, strict=True) if h["type"] == "keyframe"]
    assert len(keyframes) >= 4
    for off, h in zip(offsets, heads, strict=True):
        if h["type"] != "header":
            assert h["base"] == max(k for k in keyframes if k <= off)
    with Recording.open(str(path)) as rec:
        for s, doc in record(tmp_path / "b.jsonl")[1]:
            assert norm(snapshot_to_dict(rec.snapshot_at(at(s)))) == norm(doc)


def test_keyframe_by_time(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path, keyframe_seconds=5.0)
    assert sum(1 for x in lines(path) if x["type"] == "keyframe") >= 3


def test_rotation_keeps_n_files_each_readable_alone(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _, seen = record(path, max_size=7_000, keep=2)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["rec.jsonl", "rec.jsonl.1"]  # the first file (3 were written) was deleted
    for p in (path, tmp_path / "rec.jsonl.1"):
        first = lines(p)[:2]
        assert first[0]["type"] == "header" and first[1]["type"] == "keyframe"
    assert lines(path)[0]["continues"] is True
    with Recording.open(str(path)) as rec:
        start = rec.start
        assert start > at(0)  # the first files were rotated away
        for s, doc in seen:
            if at(s) >= start:
                assert norm(snapshot_to_dict(rec.snapshot_at(at(s)))) == norm(doc)
        with pytest.raises(RecordingError, match="before the recording starts"):
            rec.snapshot_at(at(0))


def test_a_cut_off_last_line_is_ignored_and_said(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _, seen = record(path)
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"t":"2027-01-15T08:00:17.000000Z","type":"change","base":3')
    with Recording.open(str(path)) as rec:
        assert rec.notes and "cut off" in rec.notes[0]
        assert norm(snapshot_to_dict(rec.snapshot_at(at(15)))) == norm(seen[-1][1])
    said: list[str] = []
    RecordingFile(str(path), 1 << 30, 3, say=said.append).close()  # the next run cuts it before appending
    assert path.read_bytes() == whole and "cut-off" in said[0]


def test_outside_and_gaps_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _, seen = record(path)
    out = RecordingFile(str(path), 1 << 30, 3)  # a second run, 100 s later, appends to the same file
    rec2 = Recorder(out)
    rec2.start(seen[-1][1], T0 + 100)
    rec2.tick(seen[-1][1], T0 + 101)
    out.close()
    with Recording.open(str(path)) as rec:
        with pytest.raises(RecordingError, match="before the recording starts"):
            rec.snapshot_at(at(-1))
        with pytest.raises(RecordingError, match=r"gap of the recording.*not running from 2027-01-15T08:00:16"):
            rec.snapshot_at(at(50))
        with pytest.raises(RecordingError, match="after the recording's last line"):
            rec.snapshot_at(at(200))
        assert norm(snapshot_to_dict(rec.snapshot_at(at(100)))) == norm(seen[-1][1])
        with pytest.raises(RecordingError, match="after the recording's last line"):
            rec.snapshot_at(at(100.5))  # the second run wrote nothing after its keyframe: not known


def test_reading_api_steps_between_changes(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    with Recording.open(str(path)) as rec:
        times = [cs.t for cs in rec.changes()]
        assert times == [at(s) for s, _ in script() if s != 9]  # +9 s moved only counters: sampled
        assert rec.next_change(at(0)) == at(1)
        assert rec.next_change(at(1)) == at(2)
        assert rec.previous_change(at(2)) == at(1)
        assert rec.previous_change(at(1)) is None
        assert rec.next_change(at(13)) is None
        assert [cs.t for cs in rec.changes(at(3), at(8))] == [at(3), at(5), at(6), at(8)]


def test_not_a_recording(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(snapshot_to_json(compute_node()))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    binary = tmp_path / "bin"
    binary.write_bytes(os.urandom(300))
    for p, msg in ((snap, "is not a vnettop recording"), (empty, "is empty"), (binary, "not a vnettop recording"),
                   (tmp_path / "nope", "no such file")):
        with pytest.raises(RecordingError, match=msg):
            Recording.open(str(p))
    with pytest.raises(Exception, match=r"not a vnettop recording.*not touching it"):
        RecordingFile(str(snap), 1 << 30, 3)
    assert snap.read_text() == snapshot_to_json(compute_node())


def test_a_malformed_line_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    text = path.read_text().splitlines(keepends=True)
    text[4] = '{"t":"2027-01-15T08:00:02.000000Z","type":"change","base":380,"changes":[{"op":"added","what"\n'
    path.write_text("".join(text))
    with Recording.open(str(path)) as rec, pytest.raises(RecordingError, match=r"not valid JSON|cannot be applied"):
        rec.snapshot_at(at(15))


def test_a_full_disk_leaves_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rec.jsonl"
    out = RecordingFile(str(path), 1 << 30, 3)
    rec = Recorder(out)
    doc = snapshot_to_dict(compute_node())
    rec.start(doc, T0)
    good = path.read_bytes()
    real_write = os.write

    def half_then_enospc(fd: int, data: bytes) -> int:
        if len(data) > 10:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    changed = copy.deepcopy(doc)
    link(changed, "tap0")["mtu"] = 9000
    with pytest.raises(RecordingWriteError, match="No space left on device") as e:
        rec.tick(changed, T0 + 1)
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == good  # the half line was cut back
    monkeypatch.undo()
    out.close()
    with Recording.open(str(path)) as r:
        assert r.notes == []


def test_unknown_sections_are_kept_generically() -> None:
    old = {"namespaces": [], "links": [], "ovs": {"bridges": [{"name": "br-int", "ports": ["a", "b"]}]}}
    new = copy.deepcopy(old)
    new["ovs"]["bridges"][0]["ports"].append("c")
    new["ovs"]["version"] = "3.1"
    items = delta.diff_docs(old, new)
    assert [i["key"] for i in items] == ["ovs"]
    rebuilt = copy.deepcopy(old)
    delta.apply_items(rebuilt, json.loads(json.dumps(items)))
    assert rebuilt == new
    gone = delta.diff_docs(new, {"namespaces": [], "links": []})
    delta.apply_items(rebuilt, gone)
    assert "ovs" not in rebuilt


@pytest.mark.parametrize(("old", "new"), [
    ([1, 2, 3], [1, 3, 4]), ([], [{"a": 1}]), ({"a": [1], "b": 2}, {"a": [1, 2], "c": None}), ("x", 3),
    ([{"k": 1}, {"k": 2}], [{"k": 2}, {"k": 1}, {"k": 3}]),
])
def test_patch_round_trip(old: object, new: object) -> None:
    p = delta.patch(old, new)
    assert p is not None and delta.apply_patch(old, json.loads(json.dumps(p))) == new
    assert delta.patch(new, new) is None


def test_compact_is_exact() -> None:
    doc = snapshot_to_dict(compute_node())
    for v in doc["links"]:
        assert delta.expand(delta.compact(v, delta.DEFAULTS["device"]), delta.DEFAULTS["device"]) == v
    odd = {"netns": 1, "ifindex": 2, "mtu": 1500}  # lacks fields the defaults name: kept whole
    assert delta.expand(delta.compact(odd, delta.DEFAULTS["device"]), delta.DEFAULTS["device"]) == odd


# -- time --------------------------------------------------------------------------------------------

START, END = datetime(2026, 12, 3, 22, 0, tzinfo=timezone.utc), datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "expect"), [
    ("2026-12-04T03:12:00Z", datetime(2026, 12, 4, 3, 12, tzinfo=timezone.utc)),
    ("2026-12-04T05:12:00+02:00", datetime(2026, 12, 4, 3, 12, tzinfo=timezone.utc)),
    ("2026-12-04 03:12", datetime(2026, 12, 4, 3, 12, tzinfo=timezone.utc)),  # no zone: UTC
    ("2026-12-04", datetime(2026, 12, 4, tzinfo=timezone.utc)),
    ("03:12", datetime(2026, 12, 4, 3, 12, tzinfo=timezone.utc)),  # the latest 03:12 at or before the end
    ("23:30", datetime(2026, 12, 3, 23, 30, tzinfo=timezone.utc)),  # after the end's time of day: the day before
    ("09:59:30.5", datetime(2026, 12, 4, 9, 59, 30, 500000, tzinfo=timezone.utc)),
    ("start", START), ("end", END), ("end-5m", END - timedelta(minutes=5)), ("-1h", END - timedelta(hours=1)),
    ("start+90s", START + timedelta(seconds=90)), ("END-1.5h", END - timedelta(hours=1.5)),
])
def test_time_forms(text: str, expect: datetime) -> None:
    assert parse_time(text, START, END) == expect


def test_now_forms() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)
    assert parse_time("now-10m", START, END, now=now) == now - timedelta(minutes=10)


@pytest.mark.parametrize("text", ["yesterday", "25:00", "12:61", "end-5", "end-xm", "2026-13-01", ""])
def test_bad_times(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(text, START, END)


def test_written_times_are_fixed_width_and_never_go_back(tmp_path: Path) -> None:
    assert stamp_epoch(T0 + 0.1234567) == "2027-01-15T08:00:00.123000Z"
    out = RecordingFile(str(tmp_path / "r"), 1 << 30, 1)
    rec = Recorder(out)
    doc = snapshot_to_dict(compute_node())
    rec.start(doc, T0 + 10)
    changed = copy.deepcopy(doc)
    link(changed, "tap0")["mtu"] = 9000
    rec.tick(changed, T0 + 5)  # the clock stepped back
    out.close()
    times = [x["t"] for x in lines(tmp_path / "r")]
    assert times == sorted(times) and times[-1] == stamp_epoch(T0 + 10)


# -- the commands -------------------------------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.startswith("vnettop: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_dump_at(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _, seen = record(path)
    code, out, _ = run_main(capsys, "dump", "--load", str(path), "--at", "2027-01-15T08:00:02.5Z", "-f", "json")
    assert code == 0
    assert norm(json.loads(out)) == norm(seen[2][1])
    assert json.loads(out)["taken_at"] == "2027-01-15T08:00:02.500Z"
    code, out, _ = run_main(capsys, "dump", "--load", str(path), "--at", "08:00:03", "-f", "text")
    assert code == 0 and "vntA" in out and "vntB" in out
    code, out, _ = run_main(capsys, "dump", "--load", str(path), "-f", "json")  # no --at: the last moment
    assert code == 0 and norm(json.loads(out)) == norm(seen[-1][1])
    code, out, _ = run_main(capsys, "dump", "--load", str(path), "--at", "end", "-f", "prom")
    assert code == 0 and "vnettop_" in out


def test_dump_at_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    snap = tmp_path / "snap.json"
    snap.write_text(snapshot_to_json(compute_node()))
    for argv, code_expected, msg in (
        (["--at", "2026-01-01T00:00Z"], 1, "before the recording starts"),
        (["--at", "end+1h"], 1, "after the recording's last line"),
        (["--at", "teatime"], 2, "not a time"),
    ):
        code, out, err = run_main(capsys, "dump", "--load", str(path), *argv)
        assert (code, out) == (code_expected, "") and msg in one_line(err)
    code, _, err = run_main(capsys, "dump", "--load", str(snap), "--at", "end")
    assert code == 2 and "not one" in one_line(err)
    code, _, err = run_main(capsys, "dump", "--at", "end")
    assert code == 2 and "needs --load" in one_line(err)


def test_changes_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    code, out, _ = run_main(capsys, "changes", str(path))
    assert code == 0 and out.splitlines()[0] == "2027-01-15T08:00:01.000Z  + device root/vntA (veth)"
    code, out, _ = run_main(capsys, "changes", str(path), "--device", "vntB")
    assert code == 0 and [x.split("  ", 1)[1] for x in out.splitlines()] == [
        "+ device root/vntB (veth)", f"> device {QDHCP_NAME}/vntB (veth): moved from root",
        f"- device {QDHCP_NAME}/vntB (veth)  [db]"]
    code, out, _ = run_main(capsys, "changes", str(path), "--netns", QDHCP_NAME, "--since", "08:00:03")
    assert code == 0 and all(QDHCP_NAME in x for x in out.splitlines()) and "moved" not in out
    code, out, _ = run_main(capsys, "changes", str(path), "--owner", "db")
    assert code == 0 and out.splitlines() == ["2027-01-15T08:00:08.000Z  ~ owners: added container db",
                                              f"2027-01-15T08:00:12.000Z  - device {QDHCP_NAME}/vntB (veth)  [db]",
                                              f"2027-01-15T08:00:13.000Z  ~ namespace {QDHCP_NAME}: names "
                                              f"{QDHCP_NAME} -> {QDHCP_NAME} alias  [db]"]
    code, out, _ = run_main(capsys, "changes", str(path), "--until", "start+2s", "-f", "json")
    doc = json.loads(out)
    assert doc["schema"] == "vnettop.changes/1" and {c["t"][:19] for c in doc["changes"]} == {
        "2027-01-15T08:00:01", "2027-01-15T08:00:02"}
    code, _, err = run_main(capsys, "changes", str(path), "--since", "end+1m")
    assert code == 1 and "after the recording's last line" in one_line(err)
    code, _, err = run_main(capsys, "changes", str(path), "--device", "a", "--owner", "b")
    assert code == 2
    code, _, err = run_main(capsys, "changes", str(tmp_path / "missing"))
    assert code == 1 and "no such file" in one_line(err)


def test_diff_from_to_and_the_old_diff_still_works(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    record(path)
    code, out, _ = run_main(capsys, "diff", str(path), "--from", "start", "--to", "08:00:03")
    assert code == 0
    assert "+ device root/vntA (veth)" in out and f"+ device {QDHCP_NAME}/vntB (veth)" in out
    code, out, _ = run_main(capsys, "diff", str(path), "--from", "start", "--to", "end", "-f", "json")
    doc = json.loads(out)
    assert doc["a"].endswith("@2027-01-15T08:00:00.000Z") and any(
        c["name"] == "veth-b" and c["op"] == "changed" for c in doc["changes"])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(snapshot_to_json(compute_node()))
    b.write_text(snapshot_to_json(compute_node()))
    assert run_main(capsys, "diff", str(a), str(b))[:2] == (0, "")
    for argv in (["diff", str(path), "--from", "start"], ["diff", str(a), str(b), "--from", "start", "--to", "end"],
                 ["diff", str(a)], ["diff", str(path), str(a)]):
        code, _, err = run_main(capsys, *argv)
        assert code == 2, argv
        one_line(err)


@pytest.mark.parametrize(("argv", "msg"), [
    (["--max-size", "1K"], "at least 64K"), (["--max-size", "lots"], "not a size"), (["--keep", "0"], "from 1"),
    (["--interval", "0"], "positive"),
])
def test_record_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    code, _, err = run_main(capsys, "record", "-o", "/tmp/never-written", *argv)
    assert code == 2 and msg in one_line(err)
    assert not os.path.exists("/tmp/never-written")


def test_reading_a_recording_never_touches_the_kernel(tmp_path: Path) -> None:
    """Browsed offline (another host, no root): the live collector is never even imported."""
    import subprocess
    import sys

    path = tmp_path / "rec.jsonl"
    record(path)
    code = ("import sys\nfrom vnettop import cli\n"
            f"for argv in (['dump', '--load', {str(path)!r}, '--at', '08:00:05', '-f', 'text'],\n"
            f"             ['changes', {str(path)!r}], ['diff', {str(path)!r}, '--from', 'start', '--to', 'end']):\n"
            "    assert cli.main(argv) == 0, argv\n"
            "assert not [m for m in sys.modules if m.startswith('vnettop.collect')], 'collect imported'\n"
            "assert 'pyroute2' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "vntA" in proc.stdout


def test_a_run_that_died_without_an_end_line_is_followed_by_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    doc = snapshot_to_dict(compute_node())
    out = RecordingFile(str(path), 1 << 30, 3)
    first = Recorder(out, alive_every=1.0)
    first.start(doc, T0)
    first.tick(doc, T0 + 1)  # an `alive`, then the process dies (no `end`)
    out.close()
    out = RecordingFile(str(path), 1 << 30, 3)
    Recorder(out).start(doc, T0 + 50)
    out.close()
    with Recording.open(str(path)) as rec:
        assert rec.snapshot_at(at(1)) is not None
        with pytest.raises(RecordingError, match=r"gap of the recording.*from 2027-01-15T08:00:01.000Z to "
                                                 r"2027-01-15T08:00:50.000Z"):
            rec.snapshot_at(at(20))
