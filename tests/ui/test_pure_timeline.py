"""The timeline over a recording without the app: positions and steps, the header's words (a hostile file
name escaped), and the reader's block-wise list of change times (equal to reading every line's head, across
block boundaries and with `"type":"change"` inside a line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.recording_fixture import END, at, write_recording
from vnettop.record import reader
from vnettop.record.reader import Recording
from vnettop.ui.timeline import Timeline


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "vnt.rec")


def test_positions_and_steps(rec: Path) -> None:
    with Recording.open(str(rec)) as recording:
        timeline = Timeline(recording, at(END), "vnt.rec")
        assert timeline.total == 4
        assert [timeline.position(at(s)) for s in (0, 2, 3, 8, END)] == [(0, False), (1, True), (1, False),
                                                                         (4, True), (4, False)]
        # `[` from after the last change shows the picture before it; from between two changes, the
        # picture before the earlier one: each step shows a picture other than the one shown.
        assert timeline.step(-1) == at(6)
        timeline.moment = at(5)
        assert (timeline.step(-1), timeline.step(1)) == (at(2), at(6))
        timeline.moment = at(2)
        assert (timeline.step(-1), timeline.step(1)) == (at(0), at(4))
        timeline.moment = at(0)
        assert timeline.step(-1) is None
        timeline.moment = at(8)
        assert timeline.step(1) is None
        assert timeline.label(at(3)) == "recording vnt.rec · 2026-12-04 10:00:03.000 UTC (after change 1 of 4)"


def test_the_file_name_in_the_header_is_one_safe_line(rec: Path) -> None:
    with Recording.open(str(rec)) as recording:
        label = Timeline(recording, at(END), "\x1b[2Jevil\n\u202e.rec").label(at(4))
    assert "\x1b" not in label and "\n" not in label and "\u202e" not in label
    assert label.endswith("(change 2 of 4)")


def test_change_times_in_blocks_equal_every_line_head(rec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = rec.read_bytes().splitlines(keepends=True)
    # A line whose body holds `"type":"change"` (a generic section's field) is not a change line.
    decoy = lines[-1].replace(b'"reason":', b'"x":{"t":"2026-12-04T10:00:09.000000Z","type":"change"},"reason":')
    rec.write_bytes(b"".join([*lines[:-1], decoy]))
    with Recording.open(str(rec)) as recording:
        every_head = [h.t for f in recording.files for h in f.heads_from(0) if h.type == "change"]
        assert len(every_head) == 4
        for block in (7, 50, 64, 333, 1 << 22):  # heads cut by a block's end, at every place
            monkeypatch.setattr(reader, "_BLOCK", block)
            assert recording.files[0].change_times() == every_head, block
