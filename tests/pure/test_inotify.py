"""DirWatch: the sources' change fd fires on a new, written or removed entry and follows a directory
that appears later (tmp directories only)."""

from __future__ import annotations

import select
from pathlib import Path

from vnettop.linux.inotify import DirWatch


def _readable(watch: DirWatch, timeout: float = 2.0) -> bool:
    fd = watch.fileno()
    assert fd is not None
    return bool(select.select([fd], [], [], timeout)[0])


def test_fires_on_create_write_and_delete(tmp_path: Path) -> None:
    watch = DirWatch([str(tmp_path)])
    try:
        assert watch.fileno() is not None
        assert not _readable(watch, 0) and not watch.drain()
        (tmp_path / "a.xml").write_text("x")
        assert _readable(watch) and watch.drain()
        assert not _readable(watch, 0)  # drained
        (tmp_path / "a.xml").unlink()
        assert _readable(watch) and watch.drain()
    finally:
        watch.close()
    assert watch.fileno() is None


def test_a_directory_made_later_is_followed_after_ensure(tmp_path: Path) -> None:
    later = tmp_path / "later"
    watch = DirWatch([str(tmp_path / "never"), str(later)])
    try:
        assert watch.fileno() is None  # nothing to watch: the caller falls back to its period
        later.mkdir()
        watch.ensure()
        assert watch.watching.keys() == {str(later)}
        (later / "c.json").write_text("{}")
        assert _readable(watch) and watch.drain()
    finally:
        watch.close()


def test_a_removed_directory_is_forgotten_and_found_again(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    watch = DirWatch([str(d)])
    try:
        d.rmdir()
        assert _readable(watch) and watch.drain()
        assert watch.watching == {}
        d.mkdir()
        watch.drain()  # ensure() again at each read
        assert str(d) in watch.watching
    finally:
        watch.close()
