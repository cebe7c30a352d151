"""`vnettop export --textfile-dir DIR`: one atomic file for node_exporter, or one clear line and no file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vnettop.errors import VnettopError
from vnettop.textfile import write_atomically


def vnettop(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", *argv], capture_output=True, text=True, timeout=60)


def test_export_writes_what_dump_prints_and_nothing_else(tmp_path: Path) -> None:
    done = vnettop("export", "--textfile-dir", str(tmp_path), "--demo")
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
    assert os.listdir(tmp_path) == ["vnettop.prom"]
    dumped = vnettop("dump", "--demo", "--format", "prom")
    assert (tmp_path / "vnettop.prom").read_text() == dumped.stdout
    assert (tmp_path / "vnettop.prom").stat().st_mode & 0o777 == 0o644


def test_export_replaces_the_file_by_rename(tmp_path: Path) -> None:
    target = tmp_path / "vnettop.prom"
    target.write_text("# old\n")
    before = target.stat().st_ino
    with open(target) as reader:  # a scrape in progress keeps reading the old file whole
        assert vnettop("export", "--textfile-dir", str(tmp_path), "--demo").returncode == 0
        assert reader.read() == "# old\n"
    assert target.stat().st_ino != before
    assert target.read_text().startswith("# HELP vnettop_build_info")


@pytest.mark.parametrize(("args", "message"), [
    (["--textfile-dir", "/nonexistent-vnt/dir"], "cannot write metrics to /nonexistent-vnt/dir: no such directory"),
    (["--textfile-dir", "{tmp}", "--name", "vnettop.txt"], "vnettop.txt: node_exporter reads only files ending in .prom"),
    (["--textfile-dir", "{tmp}", "--name", "../x.prom"], "not a file name: '../x.prom'"),
])
def test_bad_destinations_are_one_line_and_write_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    done = vnettop("export", *[a.replace("{tmp}", str(tmp_path)) for a in args], "--demo")
    assert done.returncode == 1
    assert done.stderr == f"vnettop: {message}\n"
    assert os.listdir(tmp_path) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(VnettopError, match="No space left on device"):
        write_atomically(str(tmp_path), "vnettop.prom", "x 1\n")
    assert os.listdir(tmp_path) == []


def test_the_temporary_file_is_one_node_exporter_ignores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomically(str(tmp_path), "vnettop.prom", "x 1\n")
    assert len(seen) == 1 and not seen[0].endswith(".prom") and seen[0].startswith(".")
