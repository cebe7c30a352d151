"""The `vnettop fleet …` commands: argument handling and output for dump, find and orphans.

Kept out of cli.py so that the CLI stays a dispatcher; output goes through the CLI's `emit`, which makes
every value terminal-safe, so nothing here writes to the terminal but the progress line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vnettop.errors import VnettopError
from vnettop.fleet.defaults import DEFAULT_PARALLEL, DEFAULT_REMOTE, DEFAULT_TIMEOUT
from vnettop.textsafe import printable_line

if TYPE_CHECKING:
    from vnettop.fleet.fleetfile import HostEntry

Emit = Callable[[str, str | None, bool], None]


FLEET_HELP = "a fleet file from 'vnettop fleet dump' ('-' for stdin)"


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    fleet = sub.add_parser("fleet", help="many hosts: gather snapshots over ssh, then ask questions offline")
    fsub = fleet.add_subparsers(dest="fleet_command", metavar="FLEET_COMMAND", required=True)

    dump = fsub.add_parser("dump", help="run vnettop on each host over ssh; write a fleet file (JSON Lines)")
    dump.add_argument("hosts", nargs="*", metavar="HOST", help="ssh host aliases (as in your ssh_config)")
    dump.add_argument("-F", "--hosts-file", metavar="HOSTFILE", help="read hosts from a file, one a line")
    dump.add_argument("-o", "--output", metavar="FILE", help="write the fleet file here (default: stdout)")
    dump.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
                      help=f"hosts asked at once (default {DEFAULT_PARALLEL})")
    dump.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                      help=f"give up on a host after this long (default {DEFAULT_TIMEOUT:g})")
    dump.add_argument("--remote-command", default=DEFAULT_REMOTE, metavar="CMD",
                      help=f"what runs on each host (default '{DEFAULT_REMOTE}'; e.g. 'sudo -n …')")
    dump.add_argument("--ssh-config", metavar="FILE", help="passed to ssh as -F FILE")
    dump.add_argument("--ssh-option", action="append", default=[], metavar="KEY=VALUE",
                      help="passed to ssh as -o KEY=VALUE (repeatable)")
    dump.add_argument("--ssh", default="ssh", metavar="PROGRAM", help="the ssh client to run (default ssh)")

    fnd = fsub.add_parser("find", help="where a device, namespace, MAC, IP or Neutron port is, on all hosts")
    fnd.add_argument("query", metavar="QUERY")
    fnd.add_argument("fleet_file", metavar="FLEET", help=FLEET_HELP)
    fnd.add_argument("--format", "-f", choices=("text", "json"), default="text")

    orph = fsub.add_parser("orphans", help="taps, veths, namespaces, bridges that look abandoned, per host")
    orph.add_argument("fleet_file", metavar="FLEET", help=FLEET_HELP)
    orph.add_argument("--format", "-f", choices=("text", "json"), default="text")


def _hosts(args: argparse.Namespace) -> list[str]:
    from vnettop.fleet import fanout  # not at import: every command builds this parser

    hosts = list(args.hosts)
    if args.hosts_file:
        hosts += fanout.read_hostfile(args.hosts_file)
    if not hosts:
        raise VnettopError("no hosts: name some, or give a host file with -F")
    return [fanout.check_host(h) for h in hosts]


def cmd_fleet_dump(args: argparse.Namespace) -> int:
    """Returns 0 when every host answered with a snapshot, 1 otherwise (one line on stderr says how many)."""
    if args.parallel < 1 or args.parallel > 1024:
        raise VnettopError(f"--parallel must be from 1 to 1024, got {args.parallel}")
    if not (0 < args.timeout <= 86400):
        raise VnettopError(f"--timeout must be more than 0 and at most 86400 seconds, got {args.timeout:g}")
    from vnettop.fleet import fanout

    hosts = _hosts(args)
    cfg = fanout.FanoutConfig(ssh=args.ssh, ssh_config=args.ssh_config, ssh_options=tuple(args.ssh_option),
                              remote=fanout.remote_words(args.remote_command), timeout=args.timeout,
                              parallel=args.parallel)
    out = sys.stdout if args.output in (None, "-") else None
    try:
        target = out if out is not None else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise VnettopError(f"cannot write {args.output}: {e.strerror or e}") from None
    progress = fanout.Progress(len(hosts), sys.stderr if sys.stderr.isatty() else None)
    try:
        def write(line: str) -> None:
            target.write(line)
            target.flush()

        results = fanout.fan_out(hosts, cfg, write, progress)
    finally:
        progress.close()
        if target is not sys.stdout:
            target.close()
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(printable_line(r.host) for r in failed[:5]) + (", …" if len(failed) > 5 else "")
        print(f"vnettop: {len(failed)} of {len(results)} hosts failed ({names})", file=sys.stderr)
        return 1
    return 0


def _not_searched(entries: list[HostEntry]) -> list[dict[str, str]]:
    return [{"host": e.host, "error": e.error or "failed"} for e in entries if not e.ok]


def _notes(notes: list[str], failed: list[dict[str, str]]) -> None:
    for note in notes:
        print(f"vnettop: {printable_line(note)}", file=sys.stderr)
    if failed:
        shown = ", ".join(printable_line(f["host"]) for f in failed[:5]) + (", …" if len(failed) > 5 else "")
        n = len(failed)
        said = "1 host has no snapshot and was" if n == 1 else f"{n} hosts have no snapshot and were"
        print(f"vnettop: {said} not searched ({shown})", file=sys.stderr)


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    safe = [[printable_line(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in safe) for i in range(len(safe[0]) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] + "\n"
                   for r in safe)


def cmd_fleet_find(args: argparse.Namespace, emit: Emit) -> int:
    """Exit 0 if something was found, 1 if nothing was (as grep)."""
    from vnettop.fleet.fleetfile import read_fleet
    from vnettop.fleet.questions import find  # not at import: `vnettop dump` builds this parser too

    entries, notes = read_fleet(args.fleet_file)
    found = find(entries, args.query)
    failed = _not_searched(entries)
    if args.format == "json":
        doc = {"schema": "vnettop.fleet-find/1", "query": args.query, "not_searched": failed,
               "matches": [{"host": f.host, "netns": f.netns, "device": f.device, "kind": f.kind,
                            "matched": f.matched, "path": f.path, "owner": f.owner or None} for f in found]}
        emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", None, True)
    else:
        rows = [[f.host, f.netns, f.device or "-", f.kind, f.matched, f.owner or "-", f.path] for f in found]
        emit(_table(rows), None, False)
    _notes(notes, failed)
    return 0 if found else 1


def cmd_fleet_orphans(args: argparse.Namespace, emit: Emit) -> int:
    from vnettop.fleet.fleetfile import read_fleet
    from vnettop.fleet.questions import orphans  # not at import: `vnettop dump` builds this parser too
    from vnettop.orphans import REASONS

    entries, notes = read_fleet(args.fleet_file)
    found = orphans(entries)
    failed = _not_searched(entries)
    if args.format == "json":
        per_host: dict[str, dict[str, int]] = {}
        for host, o, _ in found:
            per_host.setdefault(host, dict.fromkeys(REASONS, 0))[o.reason] += 1
        doc = {"schema": "vnettop.fleet-orphans/1", "not_searched": failed, "by_host": per_host,
               "orphans": [{"host": h, "reason": o.reason, "netns": ns,
                            "device": o.name if o.ifindex is not None else None,
                            "ovs_interface": o.name if o.reason == "ovs-no-device" else None,
                            "detail": o.detail}
                           for h, o, ns in found]}
        emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", None, True)
    else:
        emit(_table([[h, o.reason, ns, o.detail] for h, o, ns in found]), None, False)
    _notes(notes, failed)
    return 0
