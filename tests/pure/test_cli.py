"""The command line without the kernel: sources (--demo, --load), formats, and every way to get it wrong.

Each mistake must give one line on stderr and a meaningful status (2 usage, 1 not found / bad file /
unwritable), never a traceback. The TUI, the lab and the live collector are replaced by stand-ins in
`sys.modules`, so these tests need neither a terminal nor root nor Textual.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.fixtures_snapshots import QDHCP_NAME, compute_node
from vnettop import __version__, cli
from vnettop.errors import VnettopError
from vnettop.render.json import snapshot_to_json

REPO = Path(__file__).resolve().parents[2]


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line, got {err!r}"
    assert "Traceback" not in err
    assert err.startswith("vnettop: ")
    return err


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "compute.json"
    path.write_text(snapshot_to_json(compute_node()), encoding="utf-8")
    return path


# -- dump -------------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert (code, out.strip()) == (0, f"vnettop {__version__}")


def test_dump_demo_json_is_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "dump", "--demo")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["schema"] == "vnettop.snapshot/1"
    assert any(link["name"] == "tap0" for link in doc["links"])


def test_dump_load_round_trips(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, _ = run_main(capsys, "dump", "--load", str(saved), "--format", "json")
    assert code == 0
    assert json.loads(out) == json.loads(saved.read_text(encoding="utf-8"))
    assert out.count("\n") == 1, "not a terminal: compact JSON, one line"


def test_source_options_work_before_the_command(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, _ = run_main(capsys, "--load", str(saved), "dump", "-f", "text")
    assert code == 0 and "compute01" in out.splitlines()[0]


def test_dump_text_and_dot(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, _ = run_main(capsys, "dump", "--load", str(saved), "-f", "text")
    assert code == 0 and "held by qemu-kvm[7748] P2 fd 26" in out and "⇄ veth-b" in out
    code, out, _ = run_main(capsys, "dump", "--load", str(saved), "-f", "text", "--ascii")
    assert code == 0 and "<-> veth-b" in out
    out.encode("ascii")
    code, out, _ = run_main(capsys, "dump", "--load", str(saved), "-f", "dot")
    assert code == 0 and out.startswith('digraph "vnettop compute01" {') and out.rstrip().endswith("}")


def test_dump_to_a_file(capsys: pytest.CaptureFixture[str], saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    code, out, err = run_main(capsys, "dump", "--load", str(saved), "-f", "text", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    assert "⇄ veth-b" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["dir", "missing-dir", "read-only-file"])
def test_dump_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str) -> None:
    if where == "dir":
        target = tmp_path
    elif where == "missing-dir":
        target = tmp_path / "no" / "such" / "out.json"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write a read-only file")
        target = tmp_path / "ro.json"
        target.write_text("")
        target.chmod(0o444)
    code, out, err = run_main(capsys, "dump", "--demo", "-o", str(target))
    assert code == 1 and out == ""
    assert f"cannot write {target}" in one_line_error(err)


@pytest.mark.parametrize(
    ("content", "expect"),
    [(None, "no such file"), ("{not json", "not valid JSON"), ('{"schema": "other/9"}', "schema")],
)
def test_bad_load_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None,
                       expect: str) -> None:
    path = tmp_path / "snap.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run_main(capsys, "dump", "--load", str(path))
    assert code == 1 and out == ""
    assert expect in one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["dump", "--demo", "--load", "x.json"],
        ["dump", "--format", "yaml"],
        ["--interval", "0"],
        ["--interval", "soon"],
        ["--interval", "nan"],
        ["frobnicate"],
        ["trace"],
        ["trace", "tap0", "--pid", "7748"],
        ["trace", "--pid", "7748", "--netns", "root"],
        ["trace", "--pid", "many"],
        ["lab", "sideways"],
        ["dump", "--no-such-option"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert "--help" in one_line_error(err)


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("inf", "must be a finite number of seconds (from 0.1 to 3600 seconds), got 'inf'"),
        ("-inf", "must be a finite number of seconds"),
        ("1e999", "must be a finite number of seconds"),
        ("nan", "not a number of seconds: 'nan'"),
        ("-1", "must be a positive number of seconds (from 0.1 to 3600 seconds), got '-1'"),
        ("0", "must be a positive number of seconds"),
        ("0.05", "must be at least 0.1 seconds, got '0.05'"),
        ("3600.5", "must be at most 3600 seconds (an hour), got '3600.5'"),
        ("1e9", "must be at most 3600 seconds"),
    ],
)
def test_interval_says_what_is_wrong(capsys: pytest.CaptureFixture[str], value: str, expect: str) -> None:
    """Each wrong --interval is named for what it is: `inf` is not "below 0.1", and an interval past the
    documented maximum is refused instead of freezing the view for days."""
    code, out, err = run_main(capsys, f"--interval={value}", "dump", "--demo")
    assert code == 2 and out == ""
    assert f"argument --interval: {expect}" in one_line_error(err)


@pytest.mark.parametrize("value", ["0.1", "3600", "2.5"])
def test_interval_bounds_are_inclusive(fake_ui: list[dict[str, Any]], value: str) -> None:
    assert cli.main(["--demo", "--interval", value]) == 0
    assert fake_ui[0]["interval"] == float(value)


def test_help_states_the_interval_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    assert "from 0.1 to 3600" in " ".join(out.split())


# -- trace -------------------------------------------------------------------------------------


def test_trace_text(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, err = run_main(capsys, "trace", "tap0", "--load", str(saved))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "trace from tap0 @ root (ifindex 5)"
    assert lines[1].startswith("qemu-kvm[7748]")
    assert any(f"namespace {QDHCP_NAME}" in ln for ln in lines)
    assert "dnsmasq[28795]  listening" in out


def test_trace_json(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, _ = run_main(capsys, "trace", "veth-b", "--load", str(saved), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "vnettop.trace/1"
    assert doc["start"] == {"netns": 4026532323, "ifindex": 2, "name": "veth-b", "namespace": QDHCP_NAME}
    first, second = doc["hops"][:2]
    assert first == {"kind": "link", "label": "veth-b", "depth": 0, "note": first["note"], "owner": None,
                     "netns": 4026532323, "ifindex": 2}
    assert (second["label"], second["netns"], second["ifindex"]) == ("veth-a", 4026531840, 7)
    kinds = {h["kind"] for h in doc["hops"]}
    assert kinds == {"link", "namespace", "process", "service"}
    assert all(("pid" in h) == (h["kind"] in ("process", "service")) for h in doc["hops"])


def test_trace_ambiguous_name_lists_namespaces(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, err = run_main(capsys, "trace", "lo", "--load", str(saved))
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert "3 namespaces" in line and "root" in line and QDHCP_NAME in line and "--netns" in line
    code, out, _ = run_main(capsys, "trace", "lo", "--netns", QDHCP_NAME, "--load", str(saved))
    assert code == 0 and out.startswith(f"trace from lo @ {QDHCP_NAME} (ifindex 1)")


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["trace", "nope"], "no device 'nope' in any namespace"),
        (["trace", "veth-a", "--netns", QDHCP_NAME], f"no device 'veth-a' in namespace {QDHCP_NAME}"),
        (["trace", "lo", "--netns", "ghost"], "no network namespace 'ghost'"),
    ],
)
def test_trace_not_found(capsys: pytest.CaptureFixture[str], saved: Path, argv: list[str],
                         expect: str) -> None:
    code, out, err = run_main(capsys, *argv, "--load", str(saved))
    assert code == 1 and out == ""
    assert expect in one_line_error(err)


def test_trace_from_a_process(capsys: pytest.CaptureFixture[str], saved: Path) -> None:
    code, out, _ = run_main(capsys, "trace", "--pid", "7748", "--load", str(saved))
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == ["trace from qemu-kvm[7748]", "qemu-kvm[7748]  holds tap0 fd 26"]
    assert lines[2].startswith("└─ tap0")
    code, out, _ = run_main(capsys, "trace", "--pid", "28795", "--load", str(saved), "-f", "json")
    doc = json.loads(out)
    assert code == 0 and doc["start"] == {"pid": 28795, "label": "dnsmasq[28795]"}
    (hop,) = doc["hops"]  # dnsmasq holds no tun/tap: the trace is the process alone
    assert (hop["kind"], hop["pid"]) == ("process", 28795) and "udp 0.0.0.0:67" in hop["note"]
    code, out, err = run_main(capsys, "trace", "--pid", "1", "--load", str(saved))
    assert code == 1 and "no process 1" in one_line_error(err)


# -- interruptions, pipes, missing parts ----------------------------------------------------------


def test_ctrl_c_exits_130_quietly(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "one_snapshot", interrupted)
    code, out, err = run_main(capsys, "dump", "--demo")
    assert (code, out, err) == (130, "", "")


def test_broken_pipe_exits_quietly() -> None:
    r, w = os.pipe()
    os.close(r)  # nobody will ever read: the first write fails with EPIPE, like `| head` gone
    try:
        done = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--demo", "-f", "text"],
                              stdout=w, stderr=subprocess.PIPE, cwd=REPO, timeout=60)
    finally:
        os.close(w)
    assert done.returncode == 141
    assert done.stderr == b""


def test_broken_pipe_through_output_exits_quietly_too() -> None:
    """`-o /dev/stdout` into `| head` (a pipe named as a file): the same quiet 141, not "cannot write"."""
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--demo", "-f", "text", "-o",
                               "/dev/stdout"], stdout=w, stderr=subprocess.PIPE, cwd=REPO, timeout=60)
    finally:
        os.close(w)
    assert (done.returncode, done.stderr) == (141, b"")


class FakeAhead:
    """Stands for the child a one-shot command forks (`scan_ahead.ScanAhead`) in tests of the command
    line alone."""

    made: ClassVar[list[FakeAhead]] = []

    def __init__(self) -> None:
        self.cancelled = False
        FakeAhead.made.append(self)

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture(autouse=True)
def fake_child(monkeypatch: pytest.MonkeyPatch) -> None:
    from vnettop.collect import scan_ahead

    FakeAhead.made.clear()
    monkeypatch.setattr(scan_ahead, "worth_forking", lambda: True)
    monkeypatch.setattr(scan_ahead.ScanAhead, "start", classmethod(lambda cls, *args: FakeAhead()))


def test_live_collector_missing_is_one_line(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", None)  # import fails
    code, _, err = run_main(capsys, "dump")
    assert code == 1 and "live collection is unavailable" in one_line_error(err)
    assert FakeAhead.made == []  # (no child is forked for a collector that cannot be imported)


def test_the_child_forked_ahead_is_stopped_when_the_collect_fails(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    class FailingLive:
        def __init__(self, one_shot: bool = False, ahead: Any = None) -> None:
            raise VnettopError("cannot open namespace sockets: no")

    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", types.SimpleNamespace(LiveCollector=FailingLive))
    code, _, err = run_main(capsys, "dump")
    assert code == 1 and "cannot open namespace sockets" in one_line_error(err)
    assert [a.cancelled for a in FakeAhead.made] == [True]


def test_a_one_shot_dump_collects_without_cyclic_gc_and_restores_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic collector only scanned a one-shot picture's objects (they live until exit): off while
    the command runs, on again after (in-process callers such as these tests keep theirs)."""
    import gc

    seen: list[bool] = []

    class FakeLive:
        def __init__(self, one_shot: bool = False, ahead: Any = None) -> None:
            pass

        def collect(self) -> Any:
            seen.append(gc.isenabled())
            return compute_node()

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", types.SimpleNamespace(LiveCollector=FakeLive))
    assert gc.isenabled()
    code, _, _ = run_main(capsys, "dump", "-f", "json")
    assert code == 0 and seen == [False]
    assert gc.isenabled()


def test_live_dump_uses_the_collector_and_closes_it(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    class FakeLive:
        def __init__(self, one_shot: bool = False, ahead: Any = None) -> None:
            # a dump collects once: no event sockets wanted, and a child forked first shares the work
            events.append(f"one_shot={one_shot} ahead={type(ahead).__name__}")

        def collect(self) -> Any:
            events.append("collect")
            return compute_node()

        def close(self) -> None:
            events.append("close")

    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", types.SimpleNamespace(LiveCollector=FakeLive))
    code, out, _ = run_main(capsys, "dump", "-f", "text")
    assert code == 0 and "compute01" in out
    assert events == ["one_shot=True ahead=FakeAhead", "collect", "close"]
    assert [a.cancelled for a in FakeAhead.made] == [True]


# -- the TUI and the lab are handed over, not run -------------------------------------------------


def test_tui_needs_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--demo")
    assert code == 2 and out == ""
    assert "vnettop dump" in one_line_error(err)


@pytest.fixture
def fake_ui(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(collector: Any, mutator: Any, **kw: Any) -> int:
        calls.append({"snapshot": collector.collect(), "mutator": mutator, **kw})
        return 0

    monkeypatch.setitem(sys.modules, "vnettop.ui.app", types.SimpleNamespace(run=run))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    return calls


def test_tui_over_a_loaded_file_is_read_only(fake_ui: list[dict[str, Any]], saved: Path) -> None:
    assert cli.main(["--load", str(saved), "--interval", "2.5"]) == 0
    (call,) = fake_ui
    assert call["snapshot"] == compute_node()
    assert call["read_only"] is True and call["mutator"].read_only
    assert call["source_label"] == "compute.json" and call["interval"] == 2.5
    assert call["notice"] and "read-only" in call["notice"]


def test_tui_demo_and_read_only_flag(fake_ui: list[dict[str, Any]]) -> None:
    assert cli.main(["--demo", "--read-only"]) == 0
    (call,) = fake_ui
    assert call["source_label"] == "demo" and call["read_only"] is True and call["interval"] == 1.0


def test_lab_is_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, bool, str | None]] = []

    def cli_lab(action: str, journal: str | None, ovs: bool = False, ovsdb: str | None = None) -> int:
        calls.append((action, journal, ovs, ovsdb))
        return 7

    monkeypatch.setitem(sys.modules, "vnettop.actions.lab", types.SimpleNamespace(cli_lab=cli_lab))
    assert cli.main(["lab", "status"]) == 7
    assert cli.main(["lab", "up", "--journal", "/tmp/j"]) == 7
    assert cli.main(["--journal", "/tmp/k", "lab", "down"]) == 7
    assert cli.main(["lab", "up", "--ovs", "--ovsdb", "/tmp/db.sock"]) == 7
    assert cli.main(["--ovsdb", "/tmp/d2.sock", "lab", "down"]) == 7
    assert calls == [("status", None, False, None), ("up", "/tmp/j", False, None), ("down", "/tmp/k", False, None),
                     ("up", None, True, "/tmp/db.sock"), ("down", None, False, "/tmp/d2.sock")]


def test_lab_respects_read_only_and_refuses_offline_sources(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "vnettop.actions.lab",
                        types.SimpleNamespace(cli_lab=lambda action, journal, **_kw: calls.append(action) or 0))
    for action in ("up", "down"):
        code, _, err = run_main(capsys, "--read-only", "lab", action)
        assert code == 1 and "--read-only" in one_line_error(err)
    code, _, err = run_main(capsys, "--demo", "lab", "up")
    assert code == 2 and "--demo" in one_line_error(err)
    assert calls == []  # refused before the lab was even imported
    assert run_main(capsys, "--read-only", "lab", "status")[0] == 0 and calls == ["status"]


def test_escape_sequences_in_names_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from dataclasses import replace

    from vnettop.demo import demo_snapshot
    from vnettop.render.json import snapshot_to_json

    snap = demo_snapshot()
    evil = "\x1b[31mEVIL\x1b[0m\x9b2J"
    links = tuple(replace(link, name=evil) if link.name == "tun0" else link for link in snap.links)
    ns = snap.namespaces[0]
    procs = tuple(replace(p, comm=evil, cmdline=evil) for p in ns.processes)
    snap = replace(snap, links=links, namespaces=(replace(ns, processes=procs), *snap.namespaces[1:]))
    path = tmp_path / "evil.json"
    path.write_text(snapshot_to_json(snap))
    for fmt in ("text", "dot", "json"):
        code, out, _ = run_main(capsys, "dump", "--load", str(path), "-f", fmt)
        assert code == 0
        assert "\x1b" not in out and "\x9b" not in out, fmt
    code, out, _ = run_main(capsys, "dump", "--load", str(path), "-f", "json")
    assert json.loads(out)["links"][6]["name"] == evil  # JSON keeps the exact value
    code, out, err = run_main(capsys, "trace", "--pid", "3056", "--load", str(path))
    assert "\x1b" not in out + err


def test_write_errors_and_deep_files_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    code, _, err = run_main(capsys, "dump", "--load", str(deep))
    assert code == 1 and "nested too deeply" in err and err.count("\n") == 1


#: `vnettop dump` as the program runs it, with an atexit hook that says whether the interpreter shut down
#: the long way (its teardown of every module was 10-15 ms of a dump).
_AS_PROGRAM = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('shut down the long way\\n'))\n"
    "sys.argv = ['vnettop', *sys.argv[1:]]\n"
    "from vnettop.cli import main\n"
    "raise SystemExit(main())\n"
)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_one_shot_command_ends_at_once_after_its_whole_output(tmp_path: Path, fmt: str) -> None:
    """Run as the program, a dump ends without the interpreter's shut-down, and only after everything it
    wrote reached standard output or its file; a caller of `main(argv)` gets the status back instead."""
    piped = subprocess.run([sys.executable, "-c", _AS_PROGRAM, "dump", "--demo", "-f", fmt],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout == snapshot_text(fmt)
    out = tmp_path / "snap"
    to_file = subprocess.run([sys.executable, "-c", _AS_PROGRAM, "dump", "--demo", "-f", fmt, "-o", str(out)],
                             capture_output=True, text=True, cwd=REPO, timeout=60)
    assert to_file.returncode == 0 and to_file.stderr == "" and to_file.stdout == ""
    assert out.read_text(encoding="utf-8") == snapshot_text(fmt)
    bad = subprocess.run([sys.executable, "-c", _AS_PROGRAM, "dump", "--demo", "-f", fmt, "-o", "/nonexistent/x"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("vnettop: cannot write /nonexistent/x")


def snapshot_text(fmt: str) -> str:
    """What `dump --demo -f FMT` writes when the interpreter shuts down the usual way (`main(argv)`)."""
    code = ("import sys\nfrom vnettop.cli import main\n"
            f"code = main(['dump', '--demo', '-f', {fmt!r}])\nsys.stdout.flush()\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("argv", [["dump"], ["dump", "-f", "text", "--ascii", "-o", "out.txt"],
                                  ["dump", "--load", "rec.jsonl", "--at", "03:12", "--read-only"],
                                  ["trace", "tap0", "--netns", "root", "-f", "json"],
                                  ["export", "--textfile-dir", "/var/lib/node_exporter", "--name", "v.prom"]])
def test_a_one_shot_commands_own_parser_reads_its_arguments_as_the_whole_one(argv: list[str]) -> None:
    """`main` builds only the named one-shot command's parser (the others' cost ~4 ms of a dump): it must
    read that command's arguments exactly as the whole command line does."""
    assert vars(cli.build_parser(argv[0]).parse_args(argv)) == vars(cli.build_parser().parse_args(argv))


def test_only_the_named_commands_parser_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    built: list[str | None] = []
    real = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda only=None: built.append(only) or real(only))
    cli.main(["dump", "--demo", "-o", os.devnull])
    cli.main(["--demo", "dump", "-o", os.devnull])  # (an option first: the whole command line)
    assert built == ["dump", None]
    (sub,) = [a for a in real("dump")._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == ["dump"]


def test_the_one_shot_collector_is_closed_for_a_caller_and_left_to_the_kernel_by_the_program(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller of `main(argv)` goes on: the one-shot collector is closed. `vnettop dump` as the program
    ends at once after its output (`_end_process`): its sockets are left for the kernel to close with the
    process (8-9 ms of closing at 1000 namespaces), and the process still ends with the command's status."""
    from vnettop.collect import scan_ahead

    monkeypatch.setattr(scan_ahead, "worth_forking", lambda: False)  # (the collector is a fake here)
    closed: list[bool] = []

    class FakeLive:
        def __init__(self, sources: list[Any] | None = None, one_shot: bool = False, ahead: Any = None) -> None:
            assert one_shot

        def collect(self) -> Any:
            return compute_node()

        def close(self) -> None:
            closed.append(True)

    monkeypatch.setitem(sys.modules, "vnettop.collect.collector", types.SimpleNamespace(LiveCollector=FakeLive))
    assert cli.main(["dump", "-f", "json", "-o", os.devnull]) == 0
    assert closed == [True]

    ended: list[int] = []
    monkeypatch.setattr(cli, "_end_process", ended.append)
    monkeypatch.setattr(sys, "argv", ["vnettop", "dump", "-f", "json", "-o", os.devnull])
    closed.clear()
    assert cli.main() == 0
    assert ended == [0] and closed == []
    assert cli.main(["dump", "-f", "json", "-o", os.devnull]) == 0  # a caller again after the program's run
    assert closed == [True]


def test_a_dump_started_with_stderr_closed_writes_its_output_and_exits_0() -> None:
    """`vnettop dump 2>&-` (a supervisor that closes fd 2): Python sets sys.stderr to None; the dump must
    still write its JSON and exit 0, and never write a message meant for stderr onto stdout."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(["sh", "-c", 'exec "$0" -m vnettop dump --demo --format json 2>&-', sys.executable],
                          capture_output=True, text=True, cwd=root, timeout=60)
    assert done.returncode == 0, done.stdout[-300:]
    assert json.loads(done.stdout)["schema"] == "vnettop.snapshot/1"
    bad = subprocess.run(["sh", "-c", 'exec "$0" -m vnettop dump --load /nonexistent.json 2>&-', sys.executable],
                         capture_output=True, text=True, cwd=root, timeout=60)
    assert bad.returncode == 1 and bad.stdout == ""
    # Every command, not only dump: `fleet dump` asked stderr whether it is a terminal, and crashed.
    fleet = subprocess.run(["sh", "-c", 'exec "$0" -m vnettop fleet dump --ssh /bin/false --timeout 10 vntnohost 2>&-',
                            sys.executable], capture_output=True, text=True, cwd=root, timeout=60)
    line = json.loads(fleet.stdout)
    assert line["host"] == "vntnohost" and line["ok"] is False and fleet.stdout.count("\n") == 1
