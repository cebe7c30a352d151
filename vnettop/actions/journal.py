"""An append-only record of every change vnettop made or refused, one JSON object per line.

At 2 a.m. the question after "what broke?" is "what did I just do?": the journal answers it with the
time, the user, the plan, the equivalent `ip` command and the outcome. Refusals are recorded too
(read-only, guard not confirmed, invalid input, kernel said no) so the record has no silent gaps.
Each entry is written with one `write()` on an O_APPEND descriptor, so two vnettop processes sharing
a journal never interleave within a line.
"""

from __future__ import annotations

import errno
import getpass
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from vnettop import names

#: Outcomes a journal entry can have.
OUTCOMES = ("applied", "failed", "refused-read-only", "refused-invalid", "refused-unconfirmed")


def default_path(environ: dict[str, str] | None = None) -> str:
    """$XDG_STATE_HOME/vnettop/journal.jsonl, or ~/.local/state/vnettop/journal.jsonl."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vnettop", "journal.jsonl")


def current_user() -> str:
    """The login name, with the sudo caller when there is one ("root (sudo by alice)")."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    sudo = os.environ.get("SUDO_USER")
    return f"{user} (sudo by {sudo})" if sudo and sudo != user else user


@dataclass(frozen=True, slots=True)
class JournalEntry:
    time: str
    user: str
    plan: dict[str, Any]
    ip_command: str
    outcome: str
    ok: bool
    message: str
    duration_ms: float | None = None

    def to_json(self) -> str:
        # names.json_safe: a name that is not UTF-8 holds lone surrogates (vnettop.names), which UTF-8
        # cannot encode; JSON's \udcNN escape keeps them exactly.
        return names.json_safe(json.dumps({
            "time": self.time, "user": self.user, "plan": self.plan, "ip_command": self.ip_command,
            "outcome": self.outcome, "ok": self.ok, "refused": self.outcome.startswith("refused"),
            "message": self.message, "duration_ms": self.duration_ms,
        }, sort_keys=True, ensure_ascii=False))


class Journal:
    """Appends entries to one JSON-lines file, creating its directory on first use."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or default_path()

    def check_writable(self) -> None:
        """Make sure entries can be appended, before any change is made; raises OSError if not.

        Opens the file for appending (creating its directory and the empty file, as the first entry
        would) and writes nothing. This catches a missing or unwritable directory, a read-only file
        system and a directory in the file's place, even as root; a full disk shows only when an
        entry is written, which `record` reports.
        """
        directory = os.path.dirname(self.path)
        if directory:
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except FileExistsError:  # a file where a directory must be: say that, not "File exists"
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory) from None
        os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))

    def record(self, plan: dict[str, Any], ip_command: str, outcome: str, ok: bool, message: str,
               duration_ms: float | None = None) -> JournalEntry:
        """Append one entry and return it. Raises OSError if the file cannot be written."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown journal outcome {outcome!r}")
        entry = JournalEntry(
            time=datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            user=current_user(), plan=plan, ip_command=ip_command, outcome=outcome, ok=ok,
            message=message, duration_ms=None if duration_ms is None else round(duration_ms, 3))
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        data = (entry.to_json() + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Read back every well-formed entry (a torn last line, from a crash, is skipped)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        yield obj
        except FileNotFoundError:
            return
