"""The journal (JSON lines), the read-only decision and the refusals it records. No root needed:
every path here stops before the kernel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vnettop.actions import journal as j
from vnettop.actions import plans as p
from vnettop.actions import privilege
from vnettop.actions.mutator import Mutator
from vnettop.errors import ReadOnlyError, ValidationError


def test_default_path_follows_xdg() -> None:
    assert j.default_path({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == "/s/vnettop/journal.jsonl"
    assert j.default_path({"HOME": "/h"}) == "/h/.local/state/vnettop/journal.jsonl"
    assert j.default_path({"XDG_STATE_HOME": "", "HOME": "/h"}) == "/h/.local/state/vnettop/journal.jsonl"


def test_record_appends_one_json_line_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "journal.jsonl"
    journal = j.Journal(str(path))
    plan = p.CreateBridge("br0")
    journal.record(plan.to_dict(), plan.ip_command(), "applied", True, "done", 1.23456)
    journal.record(plan.to_dict(), plan.ip_command(), "failed", False, "exists [EEXIST]")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["plan"] == {"plan": "CreateBridge", "name": "br0", "netns": None, "stp": False,
                             "mtu": None, "mac": None}
    assert first["ip_command"] == "ip link add br0 type bridge"
    assert first["ok"] is True and first["refused"] is False and first["duration_ms"] == 1.235
    assert first["time"].endswith("Z") and first["user"]
    assert json.loads(lines[1])["outcome"] == "failed"
    assert [e["outcome"] for e in journal.entries()] == ["applied", "failed"]
    assert p.plan_from_dict(first["plan"]) == plan
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_entries_skip_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = j.Journal(str(path))
    journal.record({"plan": "X"}, "ip x", "applied", True, "ok")
    with open(path, "a") as f:
        f.write('{"time": "2026-')
    assert len(list(journal.entries())) == 1
    assert list(j.Journal(str(tmp_path / "missing")).entries()) == []


def test_unknown_outcome_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        j.Journal(str(tmp_path / "j")).record({}, "", "maybe", True, "")


def test_user_names_the_sudo_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setenv("USER", "root")
    monkeypatch.setenv("LOGNAME", "root")
    assert j.current_user() == "root (sudo by alice)"


def test_read_only_refusal_is_journalled_and_raised(tmp_path: Path) -> None:
    journal = j.Journal(str(tmp_path / "j.jsonl"))
    mutator = Mutator(True, journal)
    assert mutator.read_only
    plan = p.DeleteLink("eth0")
    with pytest.raises(ReadOnlyError, match="ip link del dev eth0"):
        mutator.apply(plan)
    assert mutator.check(plan) == []
    (entry,) = journal.entries()
    assert entry["outcome"] == "refused-read-only" and entry["refused"] is True and entry["ok"] is False
    assert entry["ip_command"] == "ip link del dev eth0"


def test_invalid_plan_refusal_is_journalled(tmp_path: Path) -> None:
    journal = j.Journal(str(tmp_path / "j.jsonl"))
    mutator = Mutator(False, journal, environ={}, route_lookup=lambda c: None)
    with pytest.raises(ValidationError, match="whitespace"):
        mutator.apply(p.CreateBridge("br 0"))
    (entry,) = journal.entries()
    assert entry["outcome"] == "refused-invalid" and "whitespace" in entry["message"]


def test_unwritable_journal_does_not_break_a_refusal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    mutator = Mutator(True, j.Journal(str(blocker / "sub" / "j.jsonl")))
    with pytest.raises(ReadOnlyError):
        mutator.apply(p.CreateNamespace("x"))
    assert mutator.journal_error is not None


def _status(tmp_path: Path, capeff: str) -> str:
    path = tmp_path / "status"
    path.write_text(f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{capeff}\n")
    return str(path)


def test_privilege_reads_capeff(tmp_path: Path) -> None:
    assert privilege.has_net_admin(_status(tmp_path, "000001ffffffffff"))
    assert not privilege.has_net_admin(_status(tmp_path, "0000000000000000"))
    assert privilege.has_net_admin(_status(tmp_path, f"{1 << 12:016x}"))
    assert not privilege.has_net_admin(_status(tmp_path, f"{(1 << 21) | (1 << 11):016x}"))
    notice = privilege.missing_privilege_notice(_status(tmp_path, "0000000000000000"))
    assert notice is not None and "CAP_NET_ADMIN" in notice
    assert privilege.missing_privilege_notice(str(tmp_path / "nope")) is not None


def test_for_cli_read_only_reasons(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = str(tmp_path / "j.jsonl")
    monkeypatch.delenv("VNETTOP_READ_ONLY", raising=False)
    mutator, notice = Mutator.for_cli(True, path)
    assert mutator.read_only and notice is None
    assert mutator.journal is not None and mutator.journal.path == path
    monkeypatch.setenv("VNETTOP_READ_ONLY", "1")
    mutator, notice = Mutator.for_cli(False, path)
    assert mutator.read_only and notice is not None and "VNETTOP_READ_ONLY" in notice
    monkeypatch.setenv("VNETTOP_READ_ONLY", "0")
    monkeypatch.setattr(privilege, "missing_privilege_notice", lambda: "read-only: lacks CAP_NET_ADMIN")
    mutator, notice = Mutator.for_cli(False, None)
    assert mutator.read_only and notice == "read-only: lacks CAP_NET_ADMIN"
    monkeypatch.setattr(privilege, "missing_privilege_notice", lambda: None)
    mutator, notice = Mutator.for_cli(False, None)
    assert not mutator.read_only and notice is None
    assert mutator.journal is not None and mutator.journal.path == j.default_path(dict(os.environ))


def test_check_writable_names_why_and_writes_nothing(tmp_path: Path) -> None:
    """The lab opens its journal before changing anything; each way it can be unwritable (even for root)
    is an OSError with the reason, and a writable one is left empty."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    for path, error in ((tmp_path, IsADirectoryError), (blocker / "j.jsonl", NotADirectoryError),
                        (Path("/proc/vnt-nonexistent/j.jsonl"), FileNotFoundError)):
        with pytest.raises(error):
            j.Journal(str(path)).check_writable()
    good = tmp_path / "new" / "j.jsonl"
    j.Journal(str(good)).check_writable()
    assert good.read_bytes() == b""
    assert oct(good.stat().st_mode & 0o777) == "0o600" and oct(good.parent.stat().st_mode & 0o777) == "0o700"
