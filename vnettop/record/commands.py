"""The recorder's commands: `vnettop record`, `vnettop changes`, and the recording side of `dump --at`
and `diff REC --from T1 --to T2`. Kept here so cli.py only registers and dispatches them.

Everything but `record` reads files only: a recording made on one host is browsed on any other, without
root and without touching the kernel.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from vnettop.record.timefmt import TIME_HELP, TimeFormatError, parse_time, short, stamp

Emit = Callable[..., None]

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
MIN_SIZE = 64 * 1024


def _size(text: str) -> int:
    """--max-size: bytes, or a number with K, M, G (powers of 1024): 64M, 1G, 500K."""
    m = _SIZE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64M, 1G, 500K)")
    unit = m.group(2).lower()
    value = int(float(m.group(1)) * (1024 ** ("kmgt".index(unit) + 1) if unit else 1))
    if value < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"must be at least 64K (a file holds a whole snapshot), "
                                         f"got {text!r}")
    return value


def _keep(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 1000, got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10 ** 9:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_parsers(sub: argparse._SubParsersAction[Any], interval: Callable[[str], float]) -> None:
    rec = sub.add_parser("record", help="record the plumbing's changes to a file, until stopped (read-only)")
    rec.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="the recording (JSON Lines; appended to if it is one already)")
    rec.add_argument("--interval", type=interval, default=1.0, metavar="SECONDS",
                     help="when the kernel reports a change, look at most this often (default 1)")
    rec.add_argument("--full-every", type=interval, default=30.0, metavar="SECONDS",
                     help="with no kernel event, look anyway this often, for what has none: processes "
                     "that start or stop listening, pids (default 30; equal to --interval: a look every "
                     "--interval, whatever happens)")
    rec.add_argument("--max-size", type=_size, default=64 * 1024 * 1024, metavar="SIZE",
                     help="start a new file when FILE reaches SIZE (default 64M; K, M, G)")
    rec.add_argument("--keep", type=_keep, default=5, metavar="N",
                     help="files kept, FILE and FILE.1 to FILE.N-1 (default 5)")
    rec.add_argument("--duration", type=_duration, default=None, metavar="SECONDS",
                     help="stop after SECONDS (for tests and measurements; default: until SIGTERM)")
    rec.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                     help="never change anything (always so for this command; accepted for scripts)")

    ch = sub.add_parser("changes", help="list the changes in a recording (read-only, offline)")
    ch.add_argument("recording", metavar="REC", help="a file written by 'vnettop record'")
    ch.add_argument("--since", metavar="TIME", help=f"from TIME: {TIME_HELP}")
    ch.add_argument("--until", metavar="TIME", help="up to TIME (included)")
    who = ch.add_mutually_exclusive_group()
    who.add_argument("--device", metavar="NAME", help="only changes of devices called NAME")
    who.add_argument("--owner", metavar="NAME", help="only changes of what NAME owns (a VM, a container...)")
    who.add_argument("--netns", metavar="NAME",
                     help="only changes in namespace NAME ('root', a name, an inode)")
    ch.add_argument("--format", "-f", choices=("text", "json"), default="text")


def _usage(message: str) -> Exception:
    """A usage mistake (exit 2), as the command line reports it."""
    from vnettop.errors import UsageError

    return UsageError(message)


def _when(text: str, rec: Any, what: str) -> datetime:
    try:
        return parse_time(text, rec.start, rec.end)
    except TimeFormatError as e:
        raise _usage(f"{what}: {e}") from None


def _open(path: str) -> Any:
    from vnettop.record.reader import Recording

    if path == "-":
        raise _usage("a recording is read from a file, not from standard input")
    rec = Recording.open(path)
    for note in rec.notes:
        print(f"vnettop: note: {note}", file=sys.stderr)
    return rec


def snapshot_from_recording(path: str, at: str | None) -> Any:
    """The picture a recording holds at TIME `at` (its last moment when None)."""
    with _open(path) as rec:
        when = rec.end if at is None else _when(at, rec, "--at")
        return rec.snapshot_at(when)


def snapshots_between(path: str, t_from: str, t_to: str) -> tuple[Any, Any, str, str]:
    """The pictures at two moments of a recording, with the moments as written (for `diff`)."""
    with _open(path) as rec:
        a, b = _when(t_from, rec, "--from"), _when(t_to, rec, "--to")
        return rec.snapshot_at(a), rec.snapshot_at(b), short(a), short(b)


def cmd_record(args: argparse.Namespace) -> int:
    from vnettop.record.recorder import run_live

    if getattr(args, "load", None) or getattr(args, "demo", False):
        raise _usage("record reads this host's kernel; --load and --demo do not apply to it")

    def say(message: str) -> None:
        from vnettop.textsafe import printable_line

        print(f"vnettop: {printable_line(message)}", file=sys.stderr, flush=True)

    return run_live(args.output, args.interval, args.max_size, args.keep, say, duration=args.duration,
                    full_every=args.full_every)


def cmd_changes(args: argparse.Namespace, emit: Emit) -> int:
    from vnettop.record.changelog import item_text, matches
    from vnettop.record.reader import RecordingError

    with _open(args.recording) as rec:
        since = _when(args.since, rec, "--since") if args.since else None
        until = _when(args.until, rec, "--until") if args.until else None
        if since is not None and until is not None and since > until:
            raise _usage(f"--since {short(since)} is after --until {short(until)}")
        if since is not None and since > rec.end:
            raise RecordingError(f"--since {short(since)} is after the recording's last line "
                                 f"({short(rec.end)})")
        if until is not None and until < rec.start:
            raise RecordingError(f"--until {short(until)} is before the recording starts "
                                 f"({short(rec.start)})")
        rows: list[tuple[datetime, dict[str, Any]]] = []
        for cs in rec.changes(since, until):
            for item in cs.items:
                if matches(item, device=args.device, owner=args.owner, netns=args.netns):
                    rows.append((cs.t, item))
        if args.format == "json":
            import json

            doc = {"schema": "vnettop.changes/1", "recording": args.recording, "host": rec.host,
                   "start": stamp(rec.start), "end": stamp(rec.end),
                   "changes": [{"t": stamp(t), **item} for t, item in rows]}
            emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", None, json_doc=True)
        else:
            emit("".join(f"{short(t)}  {item_text(item)}\n" for t, item in rows), None)
    return 0
