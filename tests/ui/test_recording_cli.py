"""`vnettop --load REC [--at TIME]` on the command line: which moment opens, what is refused and how
it is said (one line, nothing opened), and the real thing in a terminal.

The argument tests stop where the screen would open (`vnettop.ui.app.run` is replaced by one that
records what it was given); the tmux test runs the whole command in a real terminal.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_snapshots import compute_node
from tests.kernelkit import poll_until
from tests.tmuxkit import Tmux
from tests.ui.fleet_fixture import fleet_text
from tests.ui.recording_fixture import END, at, write_recording
from vnettop import cli
from vnettop.record.reader import Recording
from vnettop.render.json import snapshot_to_dict, snapshot_to_json
from vnettop.ui.timeline import RecordingCollector

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "vnt.rec")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """A terminal as far as the CLI can tell (once capsys has replaced standard output), and `run`
    replaced: each call's arguments are kept."""
    calls: list[dict[str, Any]] = []

    def fake_run(collector: Any, mutator: Any, **kw: Any) -> int:
        calls.append({"collector": collector, "mutator": mutator, **kw})
        return 0

    # capsys swaps its standard output object between the fixture and the test: its class is patched.
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda _self: True)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("vnettop.ui.app.run", fake_run)
    return calls


def one_line(err: str) -> str:
    assert err.startswith("vnettop: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_at_opens_that_moment_and_no_at_the_last_one(rec: Path, opened: list[dict[str, Any]],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--load", str(rec), "--at", "10:00:04"]) == 0
    assert cli.main(["--load", str(rec)]) == 0
    assert cli.main(["--load", str(rec), "--at", "start+6s", "--read-only"]) == 0
    assert capsys.readouterr().err == ""
    with Recording.open(str(rec)) as recording:
        for call, moment in zip(opened, (at(4), at(END), at(6)), strict=True):
            collector = call["collector"]
            assert isinstance(collector, RecordingCollector) and call["timeline"] is collector.timeline
            assert collector.timeline.moment == moment
            shown = collector.collect()
            assert snapshot_to_dict(shown) == snapshot_to_dict(recording.snapshot_at(moment))
            assert call["read_only"] is True and call["source_label"] == "vnt.rec"
            assert call["notice"] == ("browsing a recording (vnt.rec: 2026-12-04T10:00:00.000Z to "
                                      "2026-12-04T10:00:10.000Z, 4 changes; [ and ] step): read-only")
            assert call["mutator"] is None or call["mutator"].read_only
            collector.close()


def test_at_before_or_after_the_command_picks_the_moment(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from vnettop.render.json import snapshot_to_dict

    with Recording.open(str(rec)) as recording:
        want = snapshot_to_dict(recording.snapshot_at(at(4)))
    for argv in (["--load", str(rec), "--at", "10:00:04", "dump"], ["--load", str(rec), "dump", "--at", "10:00:04"]):
        assert cli.main([*argv, "-f", "json"]) == 0, argv
        got = json.loads(capsys.readouterr().out)
        assert got["links"] == want["links"], argv  # not the last moment's picture
    assert cli.main(["--load", str(rec), "--at", "10:00:04", "trace", "vntB", "-f", "json"]) == 0
    assert "qdhcp" in capsys.readouterr().out  # at +4 s vntB is in the qdhcp namespace
    for command in (["changes", str(rec)], ["diff", str(rec), "--from", "start", "--to", "end"]):
        assert cli.main(["--at", "10:00:04", *command]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "shows none" in one_line(err)


def test_a_cut_off_last_line_is_said_once_in_the_notice(rec: Path, opened: list[dict[str, Any]],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with open(rec, "ab") as f:
        f.write(b'{"t":"2026-12-04T10:00:11.000000Z","type":"change","base":')
    assert cli.main(["--load", str(rec)]) == 0
    notice = opened[0]["notice"]
    assert notice.count("cut off") == 1 and "the last line is cut off" in notice, notice
    assert opened[0]["collector"].timeline.moment == at(END)
    opened[0]["collector"].close()


def test_bad_moments_and_files_are_one_line_and_open_nothing(rec: Path, tmp_path: Path,
                                                             opened: list[dict[str, Any]],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(snapshot_to_json(compute_node()))
    fleet = tmp_path / "fleet.jsonl"
    fleet.write_text(fleet_text())
    broken = tmp_path / "broken.rec"
    lines = rec.read_bytes().splitlines(keepends=True)
    broken.write_bytes(b"".join([*lines[:3], lines[3][:70] + b"\n", *lines[4:]]))
    not_a_line = tmp_path / "garbled.rec"
    not_a_line.write_bytes(b"".join([*lines[:3], b"garbage\n", *lines[4:]]))
    for argv, code, words in (
        (["--load", str(rec), "--at", "2026-12-04T09:00:00Z"], 1, "is before the recording starts "
                                                                   "(2026-12-04T10:00:00.000Z)"),
        (["--load", str(rec), "--at", "end+1h"], 1, "is after the recording's last line"),
        (["--load", str(rec), "--at", "teatime"], 2, "--at: not a time: 'teatime'"),
        (["--load", str(snap), "--at", "end"], 2, "picks a moment of a recording, and"),
        (["--load", str(fleet), "--at", "end"], 2, "is a fleet file"),
        (["--demo", "--at", "end"], 2, "--at TIME needs --load RECORDING"),
        (["--at", "end"], 2, "--at TIME needs --load RECORDING"),
        (["--load", str(broken)], 1, "is not valid JSON"),
        (["--load", str(not_a_line), "--at", "10:00:09"], 1, "is not a recording line"),
        (["--load", str(tmp_path / "missing.rec"), "--at", "end"], 1, "no such file"),
    ):
        assert cli.main(argv) == code, argv
        out, err = capsys.readouterr()
        assert out == "" and words in one_line(err), (argv, err)
    assert opened == []


def test_a_recording_in_a_real_terminal(tmux: Tmux, rec: Path, tmp_path: Path) -> None:
    status = tmp_path / "status"
    command = f"{shlex.quote(sys.executable)} -m vnettop --load {shlex.quote(str(rec))} --at 10:00:04"
    script = f"cd {shlex.quote(str(REPO))} && {command}; echo $? > {shlex.quote(str(status))}; sleep 60"
    tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", script)

    def drawn(words: str) -> str:
        screen = tmux.screen()
        if status.exists():
            raise AssertionError(f"exited {status.read_text().strip()}:\n{screen.strip()}")
        return screen if words in screen else ""

    screen = poll_until(lambda: drawn("(change 2 of 4)"), timeout=30, interval=0.1)
    lines = screen.splitlines()
    assert "READ-ONLY" in lines[0] and "NOT LIVE" in lines[0], screen
    assert lines[1].startswith(" recording vnt.rec · 2026-12-04 10:00:04.000 UTC (change 2 of 4)"), screen
    assert "[ Prev change" in screen
    tmux("send-keys", "-t", "t", "]")
    poll_until(lambda: drawn("10:00:06.000 UTC (change 3 of 4)"), timeout=15, interval=0.1)
    tmux("send-keys", "-t", "t", "q")
    code = poll_until(lambda: status.exists() and status.read_text().strip(), timeout=15, interval=0.1)
    assert code == "0", tmux.screen()
