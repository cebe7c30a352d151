"""The three forgeries a hostile tester showed, each through the command a user runs.

A process may name itself `x\\nerrors (0)\\n` (prctl PR_SET_NAME needs no privilege), root may have made
`ip netns add $'a\\nFAKE'` on someone's say-so, and a file name may hold an escape sequence. None of them
may add a line to vnettop's output or reach the terminal as a control.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures_snapshots import QDHCP, compute_node
from vnettop import cli
from vnettop.model import Snapshot
from vnettop.render.json import snapshot_to_json
from vnettop.ui.filtering import Filter
from vnettop.ui.widgets.header import HeaderState, header_text


def _save(tmp_path: Path, snap: Snapshot, name: str = "snap.json") -> str:
    path = tmp_path / name
    path.write_text(snapshot_to_json(snap), encoding="utf-8")
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _renamed_process(comm: str) -> Snapshot:
    snap = compute_node()
    root = snap.namespaces[0]
    procs = tuple(replace(p, comm=comm, cmdline=comm + " --x") if p.comm == "qemu-kvm" else p
                  for p in root.processes)
    links = tuple(
        replace(link, tun=replace(link.tun, holders=tuple(replace(h, comm=comm) for h in link.tun.holders)))
        if link.tun is not None and link.tun.holders and link.tun.holders[0].pid == 7748 else link
        for link in snap.links)
    return replace(snap, namespaces=(replace(root, processes=procs), *snap.namespaces[1:]), links=links)


def _renamed_namespace(name: str) -> Snapshot:
    snap = compute_node()
    namespaces = tuple(replace(ns, names=(name,)) if ns.inode == QDHCP else ns for ns in snap.namespaces)
    return replace(snap, namespaces=namespaces)


def test_a_process_name_cannot_forge_a_line_of_the_text_dump(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    forged = _run(capsys, "dump", "--load", _save(tmp_path, _renamed_process("x\nerrors (0)\n")), "-f", "text")
    plain = _run(capsys, "dump", "--load", _save(tmp_path, _renamed_process("x")), "-f", "text")
    lines = forged.splitlines()
    assert "errors (0)" not in lines
    assert len(lines) == len(plain.splitlines())
    assert "x\\nerrors (0)\\n[7748]" in forged  # shown, escaped, where the name is


def test_a_namespace_name_cannot_split_a_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    forged = _run(capsys, "trace", "veth-a", "--load", _save(tmp_path, _renamed_namespace("a\nFAKE")))
    plain = _run(capsys, "trace", "veth-a", "--load", _save(tmp_path, _renamed_namespace("aFAKE")))
    assert not any(line.startswith("FAKE") for line in forged.splitlines())
    assert len(forged.splitlines()) == len(plain.splitlines())
    assert "namespace a\\nFAKE" in forged


def test_a_file_name_cannot_retitle_the_terminal_from_the_header(tmp_path: Path) -> None:
    # What `vnettop --load $'t\x1b]2;PWNED\x07.json'` puts in the header (cli.cmd_tui: the basename).
    label = Path(_save(tmp_path, compute_node(), "t\x1b]2;PWNED\x07.json")).name
    text = header_text(compute_node(), HeaderState(read_only=True, source=label, interval=1.0, paused=False,
                                                   filter=Filter()))
    assert "\x1b" not in text.plain and "\x07" not in text.plain
    assert "t\\x1b]2;PWNED\\x07.json" in text.plain
