"""The `vnettop` command: the TUI by default; `dump`, `trace` and `lab` for scripts and set-up.

Thin on purpose: parse arguments, pick a source of snapshots (live kernel, `--load FILE`, `--demo`),
and hand over to the part that does the work. Heavy imports happen inside the command that needs them:
`dump` and `trace` never import Textual (a test holds us to that), the live collector is imported only
when the kernel is read, and the UI only when the screen opens.

Errors the user can fix are one line on stderr and an exit status, never a traceback: 2 for a usage
mistake, 1 for anything else that went wrong (a device not found, a bad snapshot file, an unwritable
output). Ctrl-C exits 130 quietly, and a closed pipe (`vnettop dump | head`) exits 141 quietly.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from vnettop import __version__
from vnettop.errors import UsageError, VnettopError

if TYPE_CHECKING:
    from vnettop.collect import Collector
    from vnettop.collect.scan_ahead import ScanAhead
    from vnettop.model import Snapshot
    from vnettop.ui.fleet_hosts import FleetState
    from vnettop.ui.timeline import RecordingCollector

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: an internal error




class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (no usage block) so it reads well in a terminal and a log."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- arguments --------------------------------------------------------------------------------


#: Bounds of --interval, in seconds. Below 0.1 s the polls would eat a core on a busy host; above an
#: hour a "live" view is no longer live (kernel events still refresh it at once, whatever the interval).
INTERVAL_MIN, INTERVAL_MAX = 0.1, 3600.0


def _interval(text: str) -> float:
    """--interval SECONDS: a finite number from INTERVAL_MIN to INTERVAL_MAX, each mistake named as it is."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    bounds = f"from {INTERVAL_MIN:g} to {INTERVAL_MAX:g} seconds"
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    if math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds ({bounds}), got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds ({bounds}), got {text!r}")
    if value < INTERVAL_MIN:
        raise argparse.ArgumentTypeError(f"must be at least {INTERVAL_MIN:g} seconds, got {text!r}")
    if value > INTERVAL_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {INTERVAL_MAX:g} seconds (an hour), got {text!r}")
    return value


def _add_source(p: argparse.ArgumentParser, inherit: bool) -> None:
    """--load/--demo. On a subcommand they default to SUPPRESS, so `vnettop --demo dump` works too."""
    default = {"default": argparse.SUPPRESS} if inherit else {}
    group = p.add_mutually_exclusive_group()
    group.add_argument("--load", metavar="FILE", help="read a snapshot saved by 'vnettop dump' "
                       "('-' for stdin) instead of the kernel (read-only)", **default)  # type: ignore[arg-type]
    group.add_argument("--demo", action="store_true", help="show the built-in demo: the compute node "
                       "of the article vnettop grew from (no root needed)", **default)  # type: ignore[arg-type]


def _add_ovsdb(p: argparse.ArgumentParser, inherit: bool) -> None:
    """--ovsdb PATH: where Open vSwitch's database answers (given after a subcommand too)."""
    default = {"default": argparse.SUPPRESS} if inherit else {"default": None}
    p.add_argument("--ovsdb", metavar="PATH", help="ovsdb-server's unix socket (default: $VNETTOP_OVSDB or "
                   "/run/openvswitch/db.sock)", **default)


def _add_read_only(p: argparse.ArgumentParser) -> None:
    """--read-only after a subcommand too (`vnettop dump --read-only`, the form a forced SSH command or a
    systemd unit names). The one-shot commands never write; saying so is still allowed and documented."""
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                   help="never change anything (the default for this command; accepted for scripts)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line (also used by the README's usage section and the tests); with `only`, the
    program's own options and that one command's, when the arguments start with that command: a
    one-shot command then does not build (nor import) the other commands' parsers, ~4 ms of a dump that
    takes ~180 ms at 200 namespaces."""
    parser = _Parser(
        prog="vnettop",
        description="Inspect Linux virtual networking: namespaces, bridges, veth peers, tun/tap holders.",
        epilog="Without a command, vnettop opens the full-screen inspector.",
    )
    parser.add_argument("--version", action="version", version=f"vnettop {__version__}")
    parser.add_argument("--read-only", action="store_true", help="never change anything, whatever is pressed")
    _add_source(parser, inherit=False)
    _add_ovsdb(parser, inherit=False)
    parser.add_argument("--interval", type=_interval, default=1.0, metavar="SECONDS",
                        help=f"seconds between refreshes, from {INTERVAL_MIN:g} to {INTERVAL_MAX:g} "
                        "(default 1.0; kernel events refresh at once)")
    parser.add_argument("--journal", metavar="FILE", help="append every change made to FILE")
    parser.add_argument("--at", metavar="TIME", help="with --load RECORDING: open at TIME (ISO 8601, HH:MM, "
                        "end-5m...; default: the recording's last moment); [ and ] then step between changes")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, add in _COMMAND_PARSERS.items():
        if only is None or name == only:
            add(sub)
    return parser


def _dump_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop dump`."""
    dump = sub.add_parser("dump", help="write the whole picture once (JSON, text or DOT) and exit")
    dump.add_argument("--format", "-f", choices=("json", "text", "dot", "prom"), default="json",
                      help="json: the documented schema (default); text: a readable tree; dot: Graphviz; "
                      "prom: Prometheus text exposition")
    dump.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    dump.add_argument("--ascii", action="store_true", help="text format: ASCII symbols only")
    dump.add_argument("--at", metavar="TIME", default=argparse.SUPPRESS,  # `vnettop --at T dump` too
                      help="with --load RECORDING: the picture at TIME (ISO 8601, HH:MM, end-5m...; default: "
                      "the recording's last moment)")
    _add_source(dump, inherit=True)
    _add_ovsdb(dump, inherit=True)
    _add_read_only(dump)


def _trace_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop trace`."""
    trace = sub.add_parser("trace", help="follow the path from a device, hop by hop, and exit")
    trace.add_argument("device", metavar="DEVICE", nargs="?", help="device name, e.g. tap0 or veth-a")
    trace.add_argument("--pid", type=int, metavar="PID",
                       help="trace from a process instead: every tun/tap it holds, and onward")
    trace.add_argument("--netns", metavar="NAME",
                       help="the namespace DEVICE is in: a name, 'root', an inode, or 'pid N'")
    trace.add_argument("--owner", metavar="NAME",
                       help="trace from an owner instead (a VM, container or pod by name, or an id or its "
                            "prefix): every device of it, and onward")
    trace.add_argument("--format", "-f", choices=("text", "json"), default="text")
    trace.add_argument("--ascii", action="store_true", help="text format: ASCII symbols only")
    _add_source(trace, inherit=True)
    _add_ovsdb(trace, inherit=True)
    _add_read_only(trace)


def _export_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop export`."""
    export = sub.add_parser("export", help="write metrics for node_exporter's textfile collector and exit")
    export.add_argument("--textfile-dir", required=True, metavar="DIR",
                        help="node_exporter's --collector.textfile.directory")
    export.add_argument("--name", default="vnettop.prom", metavar="FILE",
                        help="file name in DIR (default vnettop.prom; must end in .prom)")
    _add_source(export, inherit=True)
    _add_ovsdb(export, inherit=True)
    _add_read_only(export)


def _fleet_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop fleet ...`."""
    from vnettop.fleet.commands import add_parser as add_fleet_parser

    add_fleet_parser(sub)


def _diff_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop diff`."""
    diff = sub.add_parser("diff", help="what differs between two saved snapshots (two hosts, or two moments)")
    diff.add_argument("before", metavar="A", help="a snapshot file written by 'vnettop dump' ('-' for "
                      "stdin), or FLEET@HOST: one host of a fleet file")
    diff.add_argument("after", metavar="B", nargs="?", help="the snapshot to compare it with (none with "
                      "--from/--to: A is then a recording made by 'vnettop record')")
    diff.add_argument("--from", dest="t_from", metavar="T1", help="with a recording: the earlier moment")
    diff.add_argument("--to", dest="t_to", metavar="T2", help="with a recording: the later moment")
    diff.add_argument("--format", "-f", choices=("text", "json"), default="text")
    diff.add_argument("--exit-code", action="store_true",
                      help="exit 1 when the snapshots differ, 0 when they do not (as 'git diff --exit-code')")


def _record_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop record` and `vnettop changes`."""
    from vnettop.record.commands import add_parsers as add_record_parsers

    add_record_parsers(sub, _interval)


def _lab_parser(sub: Any) -> None:  # (sub: argparse's subparsers action)
    """`vnettop lab`."""
    lab = sub.add_parser("lab", help="build, remove or show the article's topology as a local lab")
    lab.add_argument("action", choices=("up", "down", "status"))
    lab.add_argument("--journal", metavar="FILE", default=argparse.SUPPRESS,
                     help="append every change made to FILE")
    lab.add_argument("--ovs", action="store_true",
                     help="up: also build an OVS/OVN-shaped node on the host's Open vSwitch (br-int, VM "
                          "taps, patch ports to br-ex, a geneve tunnel, an ovnmeta- namespace)")
    _add_ovsdb(lab, inherit=True)


#: Each command's parser, in the order `--help` lists them.
_COMMAND_PARSERS: dict[str, Callable[[Any], None]] = {
    "dump": _dump_parser,
    "trace": _trace_parser,
    "export": _export_parser,
    "fleet": _fleet_parser,
    "diff": _diff_parser,
    "record": _record_parser,
    "lab": _lab_parser,
}


# -- sources ------------------------------------------------------------------------------------


def _offline_snapshot(args: argparse.Namespace) -> Snapshot | None:
    """The snapshot named by --load or --demo, or None for the live kernel."""
    at = getattr(args, "at", None)
    if getattr(args, "load", None):
        from vnettop.errors import SnapshotFormatError
        from vnettop.record.reader import is_recording
        from vnettop.render.json import load_snapshot

        if args.load != "-" and is_recording(args.load):
            from vnettop.record.commands import snapshot_from_recording

            return snapshot_from_recording(args.load, at)
        if at is not None and args.load != "-" and not os.path.isfile(args.load):
            from vnettop.record.reader import Recording

            Recording.open(args.load)  # says what it is instead (no such file, a directory...)
        if at is not None:
            raise UsageError(f"--at TIME picks a moment of a recording, and {args.load} is not one "
                             "(a file written by 'vnettop record')")
        try:
            return load_snapshot(args.load)
        except SnapshotFormatError:
            if args.load != "-" and _starts_like_fleet(args.load):
                raise VnettopError(f"{args.load}: a fleet file (one snapshot per host), not one snapshot: "
                                   f"browse it with 'vnettop --load {args.load}', or name one host as in "
                                   f"'vnettop diff {args.load}@HOST B'") from None
            raise
    if at is not None:
        raise UsageError("--at TIME needs --load RECORDING (a file written by 'vnettop record')")
    if getattr(args, "demo", False):
        from vnettop.demo import demo_snapshot

        return demo_snapshot()
    return None


def _starts_like_fleet(path: str) -> bool:
    """Whether the file at `path` begins as a fleet file does (unreadable: False; its reader says why)."""
    from vnettop.fleet.fleetfile import looks_like_fleet

    try:
        with open(path, encoding="utf-8") as f:
            return looks_like_fleet(f.read(4096))
    except (OSError, UnicodeDecodeError):
        return False


def _recording_source(path: str, at: str | None) -> RecordingCollector:
    """A recording's moment for the inspector: `--at TIME`, or the recording's last moment (what the
    operator who asks "what changed?" compares with first, as `dump --load REC` shows; `[` then walks
    back). The first picture is rebuilt here, so a moment the recording does not cover (before its
    start, after its end, in a gap) or a malformed line is one line on stderr before the screen opens."""
    from vnettop.record.timefmt import TimeFormatError
    from vnettop.ui.timeline import RecordingCollector, Timeline

    try:
        timeline = Timeline.open(path, at)
    except TimeFormatError as e:
        raise UsageError(f"--at: {e}") from None
    try:
        return RecordingCollector(timeline, timeline.snapshot_at(timeline.moment))
    except BaseException:
        timeline.close()
        raise


def _tui_source(args: argparse.Namespace) -> Snapshot | FleetState | RecordingCollector | None:
    """What the inspector shows: `_offline_snapshot`'s answer, a recording's moment, or a fleet file's
    hosts when --load names one (`vnettop fleet dump` output: JSON Lines, told apart from one snapshot
    by its first line). Standard input is read once and handed to whichever reader it is for."""
    path = getattr(args, "load", None)
    if not path:
        return _offline_snapshot(args)
    if path != "-":
        from vnettop.record.reader import is_recording

        if is_recording(path):
            return _recording_source(path, getattr(args, "at", None))
    from vnettop.fleet.fleetfile import looks_like_fleet, read_fleet

    saved_stdin = sys.stdin
    try:
        if path == "-":
            text = sys.stdin.read()
            head = text[:4096]
            sys.stdin = io.StringIO(text)
            if not looks_like_fleet(head):
                return _offline_snapshot(args)
        elif not _starts_like_fleet(path):
            return _offline_snapshot(args)  # the snapshot reader says what is wrong, in its words
        if getattr(args, "at", None) is not None:
            raise UsageError(f"--at TIME picks a moment of a recording, and {path} is a fleet file "
                             "(a file written by 'vnettop record' is a recording)")
        from vnettop.ui.fleet_hosts import FleetState

        entries, notes = read_fleet(path)
        if not entries:
            raise VnettopError(f"{path}: a fleet file with no host in it")
        return FleetState(entries, notes, "standard input" if path == "-" else os.path.basename(path) or path)
    finally:
        sys.stdin = saved_stdin


def _live_collector(args: argparse.Namespace, one_shot: bool = False, ahead: ScanAhead | None = None
                    ) -> Collector:
    """The kernel's collector; `one_shot` for a command that collects once and exits, `ahead` the child
    it forked to share the work (see `LiveCollector`)."""
    try:
        from vnettop.collect.collector import LiveCollector
        from vnettop.collect.sources.registry import make_sources
    except ImportError as e:
        raise VnettopError(f"live collection is unavailable here ({e}); try --demo or --load FILE") from None
    ovsdb = getattr(args, "ovsdb", None)
    if not ovsdb:
        return LiveCollector(one_shot=one_shot, ahead=ahead)  # every registered source, as it finds things
    return LiveCollector(sources=make_sources("/", {"ovs": {"db": ovsdb}}), one_shot=one_shot, ahead=ahead)


#: Set by `main` for a one-shot command run as the program itself: the process ends as soon as the command
#: returns (`_end_process`), so the collector's sockets, one or two in every namespace, are left for the
#: kernel to close with it. Why: closing them one by one took 8-9 ms of a `vnettop dump` at 1000
#: namespaces (~2 % of it), for a process about to end. A caller of `main(argv)` goes on: closed as ever.
_process_ends_after = False


def one_snapshot(args: argparse.Namespace) -> Snapshot:
    """One snapshot for a one-shot command, from the file, the demo, or the kernel."""
    snap = _offline_snapshot(args)
    if snap is not None:
        return snap
    # Once the collector is imported (the child then has it too), before anything else: a child that
    # discovers, reads a share of the namespaces and scans /proc meanwhile (see `scan_ahead`; no other
    # thread runs yet).
    try:
        import vnettop.collect.collector  # noqa: F401
    except ImportError as e:
        raise VnettopError(f"live collection is unavailable here ({e}); try --demo or --load FILE") from None
    from vnettop.collect.scan_ahead import ScanAhead, worth_forking

    ahead = ScanAhead.start() if worth_forking() else None
    try:
        collector = _live_collector(args, one_shot=True, ahead=ahead)
        try:
            return collector.collect()
        finally:
            if not _process_ends_after:  # (else the kernel closes its sockets as the process ends)
                collector.close()
    finally:
        if ahead is not None:
            ahead.cancel()  # (nothing left to do once the collect took its answers)


# -- output -------------------------------------------------------------------------------------


def _wants_ascii(args: argparse.Namespace) -> bool:
    """--ascii, or a standard output whose encoding cannot show the tree's symbols."""
    if args.ascii:
        return True
    if getattr(args, "output", None) not in (None, "-"):
        return False
    try:
        "⇄├└│·".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def _check_writable(path: str) -> None:
    """Refuse an output path that cannot be written before doing the work (one clear line)."""
    if os.path.isdir(path):
        raise VnettopError(f"cannot write {path}: it is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise VnettopError(f"cannot write {path}: no such directory {parent}")
    target = path if os.path.exists(path) else parent
    if not os.access(target, os.W_OK):
        raise VnettopError(f"cannot write {path}: permission denied")


def _emit(text: str, output: str | None, json_doc: bool = False) -> None:
    """Write `text` to standard output (one write) or to a file, made safe for a terminal.

    Names and command lines come from the system, and anyone can put escape sequences or newlines in
    them. The renderers escape each such value where they place it (`textsafe.printable_line`), so none
    can add a line; the pass here over the whole text keeps vnettop's own newlines and is only a second
    guard against terminal controls. JSON keeps exact values, with the terminal-active characters (C1,
    DEL, bidi and zero-width characters, separators, lone surrogates) as `\\u` escapes.
    """
    from vnettop.textsafe import json_terminal_safe, printable

    text = json_terminal_safe(text) if json_doc else printable(text)
    if output in (None, "-"):
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:  # /dev/full, a vanished file system...
            _quiet_stdout()
            raise VnettopError(f"cannot write to standard output: {e.strerror or e}") from None
        return
    assert output is not None
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except BrokenPipeError:  # `-o /dev/stdout | head`: a reader that had enough, as on standard output
        raise
    except OSError as e:
        raise VnettopError(f"cannot write {output}: {e.strerror or e}") from None


# -- commands -----------------------------------------------------------------------------------


def cmd_dump(args: argparse.Namespace) -> int:
    if args.output not in (None, "-"):
        _check_writable(args.output)
    snap = one_snapshot(args)
    if args.format == "json":
        from vnettop.render.json import snapshot_to_json

        # Indented for a person at a terminal; compact for pipes and files, where the C encoder is several
        # times faster (an indent forces Python's pure encoder) and `jq` formats anyway.
        to_tty = args.output in (None, "-") and sys.stdout.isatty()
        text = snapshot_to_json(snap, indent=2 if to_tty else None)
        _emit(text, args.output, json_doc=True)
        return EXIT_OK
    elif args.format == "dot":
        from vnettop.render.dot import render_dot

        text = render_dot(snap)
    elif args.format == "prom":
        from vnettop.render.prom import render_prom

        _emit(render_prom(snap), args.output)
        return EXIT_OK
    else:
        from vnettop.render.text import render_text

        text = render_text(snap, ascii=_wants_ascii(args))
    _emit(text, args.output)
    return EXIT_OK


def cmd_trace(args: argparse.Namespace) -> int:
    from vnettop import names
    from vnettop import topology as topo
    from vnettop.render.text import render_trace

    if sum(x is not None for x in (args.device, args.pid, args.owner)) != 1:
        raise UsageError("trace needs a DEVICE, --pid PID or --owner NAME, one of them "
                         "(see 'vnettop trace --help')")
    if args.netns is not None and args.device is None:
        raise UsageError("--netns goes with a DEVICE, not with --pid or --owner (see 'vnettop trace --help')")
    snap = one_snapshot(args)
    start: dict[str, object]
    if args.owner is not None:
        from vnettop import owners

        owner = owners.best(owners.resolve(snap, args.owner))
        assert owner is not None  # resolve raises when nothing matches
        hops = topo.trace_owner(snap, owner)
        start = {"owner": owner.name, "kind": owner.kind, "id": owner.id, "label": owners.owner_text(owner)}
        title = f"trace from {owners.owner_text(owner)}"
    elif args.pid is not None:
        hops = topo.trace_process(snap, args.pid)
        start = {"pid": args.pid, "label": hops[0].label}
        title = f"trace from {hops[0].label}"
    else:
        try:
            link = topo.resolve_link(snap, args.device, args.netns)
        except topo.AmbiguousNameError as e:
            raise UsageError(str(e)) from None
        except topo.NotFoundError:
            if args.netns is not None or snap.ovs is None:
                raise
            return _trace_ovs(args, snap)  # an OVS bridge or a patch/tunnel port: no kernel device
        hops = topo.trace(snap, link)
        # A name that is not UTF-8: written `\xNN` with its raw bytes in hex, as in a snapshot.
        start = {"netns": link.netns, "ifindex": link.ifindex, "name": names.written(link.name),
                 "namespace": snap.ns_label(link.netns)}
        raw = names.hex_bytes(link.name)
        if raw is not None:
            start["name_bytes"] = raw
        title = f"trace from {link.name} @ {snap.ns_label(link.netns)} (ifindex {link.ifindex})"
    if args.format == "json":
        import json

        doc = {"schema": "vnettop.trace/1", "start": start, "hops": [topo.hop_to_dict(h) for h in hops]}
        _emit(names.json_written(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", None, json_doc=True)
    else:
        _emit(render_trace(title, hops, ascii=_wants_ascii(args)), None)
    return EXIT_OK


def _trace_ovs(args: argparse.Namespace, snap: Snapshot) -> int:
    """`vnettop trace br-tun`, `trace patch-tun`: from an OVS bridge or interface that is no kernel device."""
    from vnettop import topology as topo
    from vnettop.render.text import render_trace

    try:
        hit = topo.resolve_ovs(snap, args.device)
    except topo.AmbiguousNameError as e:
        raise UsageError(str(e)) from None
    hops = topo.trace_ovs(snap, hit.uuid)
    what = "OVS bridge" if hit.kind == "bridge" else f"OVS interface on {hit.bridge.name}:"
    if args.format == "json":
        import json

        from vnettop import names

        start = {"ovs": hit.kind, "uuid": hit.uuid, "name": hit.name, "bridge": hit.bridge.name}
        doc = {"schema": "vnettop.trace/1", "start": start, "hops": [topo.hop_to_dict(h) for h in hops]}
        _emit(names.json_written(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", None, json_doc=True)
    else:
        _emit(render_trace(f"trace from {what} {hit.name}", hops, ascii=_wants_ascii(args)), None)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """One snapshot as metrics, written atomically where node_exporter reads them (for a timer or cron)."""
    from vnettop.render.prom import render_prom
    from vnettop.textfile import write_atomically

    if not os.path.isdir(args.textfile_dir):
        raise VnettopError(f"cannot write metrics to {args.textfile_dir}: no such directory")
    write_atomically(args.textfile_dir, args.name, render_prom(one_snapshot(args)))
    return EXIT_OK


def _snapshot_or_host(spec: str) -> Snapshot:
    """A snapshot file, or `FLEET@HOST` (one host of a fleet file; a file that exists as named wins)."""
    from vnettop.render.json import load_snapshot

    if spec == "-" or os.path.exists(spec) or "@" not in spec:
        return load_snapshot(spec)
    from vnettop.fleet.fleetfile import read_fleet

    path, _, host = spec.rpartition("@")
    entries, _notes = read_fleet(path)
    matching = [e for e in entries if e.host == host]
    if not matching:
        known = ", ".join(e.host for e in entries[:8]) + (", …" if len(entries) > 8 else "")
        raise VnettopError(f"{path}: no host {host!r} (hosts: {known or 'none'})")
    return matching[-1].snapshot()


def cmd_diff(args: argparse.Namespace) -> int:
    from vnettop.diff import change_text, change_to_dict, diff

    if args.t_from is not None or args.t_to is not None:
        if args.after is not None or args.t_from is None or args.t_to is None:
            raise UsageError("a recording is compared with itself: 'vnettop diff REC --from T1 --to T2'")
        from vnettop.record.commands import snapshots_between

        before, after, t1, t2 = snapshots_between(args.before, args.t_from, args.t_to)
        label_a, label_b = f"{args.before}@{t1}", f"{args.before}@{t2}"
    else:
        if args.after is None:
            raise UsageError("diff needs two snapshots A and B, or a recording with --from T1 --to T2")
        if args.before == "-" and args.after == "-":
            raise UsageError("only one of A and B can be standard input")
        for spec in (args.before, args.after):
            from vnettop.record.reader import is_recording

            if spec != "-" and is_recording(spec):
                raise UsageError(f"{spec} is a recording: compare two of its moments with "
                                 f"'vnettop diff {spec} --from T1 --to T2'")
        before, after = _snapshot_or_host(args.before), _snapshot_or_host(args.after)
        label_a, label_b = args.before, args.after
    changes = diff(before, after)
    if args.format == "json":
        import json

        doc = {"schema": "vnettop.diff/1", "a": label_a, "b": label_b,
               "changes": [change_to_dict(c) for c in changes]}
        _emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", None, json_doc=True)
    else:
        _emit("".join(change_text(c) + "\n" for c in changes), None)
    return EXIT_ERROR if args.exit_code and changes else EXIT_OK


def cmd_fleet(args: argparse.Namespace) -> int:
    from vnettop.fleet import commands

    if args.fleet_command == "dump":
        return commands.cmd_fleet_dump(args)
    if args.fleet_command == "find":
        return commands.cmd_fleet_find(args, _emit)
    return commands.cmd_fleet_orphans(args, _emit)


def cmd_record(args: argparse.Namespace) -> int:
    from vnettop.record.commands import cmd_record as run

    return run(args)


def cmd_changes(args: argparse.Namespace) -> int:
    from vnettop.record.commands import cmd_changes as run

    return run(args, _emit)


def cmd_lab(args: argparse.Namespace) -> int:
    if args.load or args.demo:
        raise UsageError("lab works on this host's kernel; --load and --demo do not apply to it")
    if args.read_only and args.action != "status":
        raise VnettopError(f"lab {args.action} would change the system, and --read-only forbids that")
    from vnettop.actions.lab import cli_lab

    return cli_lab(args.action, getattr(args, "journal", None), ovs=args.ovs,
                   ovsdb=getattr(args, "ovsdb", None))


def _open_terminal() -> int:
    """The controlling terminal, opened before a snapshot is read from standard input.

    With `--load -` standard input is the snapshot (usually a pipe), so the keys must come from
    elsewhere: the terminal the process belongs to, /dev/tty. It is opened first, so a process with
    none (cron, `setsid`, a service) is told at once and nothing is read.
    """
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise UsageError(f"--load - reads the snapshot from standard input, and the inspector then needs "
                         f"a terminal for the keys, but there is none (/dev/tty: {e.strerror or e}); "
                         f"without a terminal use 'vnettop dump --load -'") from None


def _terminal_as_stdin(tty: int) -> None:
    """Make fd 0 the terminal once the snapshot has been read from it (to its end).

    Textual's Linux driver reads keys from `sys.__stdin__.fileno()` (fd 0) and sets the terminal's
    modes there, so the terminal takes fd 0's place, as if standard input had been it all along.
    """
    os.dup2(tty, 0)


def cmd_tui(args: argparse.Namespace) -> int:
    from_stdin = getattr(args, "load", None) == "-"
    if not (sys.stdout.isatty() and (from_stdin or sys.stdin.isatty())):
        raise UsageError("the inspector needs a terminal; for a pipe or a file use 'vnettop dump'")
    tty = _open_terminal() if from_stdin else None
    try:
        source = _tui_source(args)
        if tty is not None:
            _terminal_as_stdin(tty)
    finally:
        if tty is not None:
            os.close(tty)
    from vnettop.ui.fleet_hosts import FleetCollector, FleetState
    from vnettop.ui.timeline import RecordingCollector

    fleet = source if isinstance(source, FleetState) else None
    recording = source if isinstance(source, RecordingCollector) else None
    snap = source if not isinstance(source, FleetState | RecordingCollector) else None
    collector: Collector
    if recording is not None:
        collector = recording
        label = recording.timeline.name
    elif fleet is not None:
        collector = FleetCollector(fleet)
        label = fleet.source
    elif snap is not None:
        from vnettop.collect.static import StaticCollector

        collector = StaticCollector(snap)
        if args.demo:
            label = "demo"
        else:
            label = "standard input" if from_stdin else os.path.basename(args.load) or args.load
    else:
        collector, label = _live_collector(args), "live"
    try:
        from vnettop.actions.mutator import Mutator

        offline = snap is not None or fleet is not None or recording is not None
        mutator, notice = Mutator.for_cli(args.read_only or offline, args.journal,
                                          ovsdb=getattr(args, "ovsdb", None))
        if recording is not None:
            notice = recording_notice(recording)
        elif fleet is not None:
            notes = f"; {fleet.notes[0]}" if fleet.notes else ""
            notice = f"browsing a fleet file ({label}, {len(fleet.entries)} hosts): read-only{notes}"
            label = f"fleet: {label}"
        elif offline and notice is None:
            notice = f"browsing a saved snapshot ({label}): read-only"
        read_only = bool(args.read_only or offline or getattr(mutator, "read_only", False))

        from vnettop.ui.app import run

        return run(collector, mutator, read_only=read_only, notice=notice, source_label=label,
                   interval=args.interval, fleet=fleet,
                   timeline=recording.timeline if recording is not None else None)
    finally:
        collector.close()


def recording_notice(recording: RecordingCollector) -> str:
    """The notice line over a recording: what it covers, that it is read-only, and (once) what its
    reader had to leave out (a cut-off last line)."""
    from vnettop.record.timefmt import short

    timeline = recording.timeline
    notes = "".join(f"; {note}" for note in timeline.recording.notes)
    return (f"browsing a recording ({timeline.name}: {short(timeline.start)} to {short(timeline.end)}, "
            f"{timeline.total} changes; [ and ] step): read-only{notes}")


#: The commands that show one picture, so `--at TIME` can pick it from a recording (None: the inspector).
_AT_COMMANDS = (None, "dump", "trace", "export")
#: Commands that make one picture and exit.
_ONE_SHOT = frozenset({"dump", "trace", "export"})


def _without_cyclic_gc(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`command(args)` with Python's cyclic garbage collector off, on again afterwards.

    Why: a one-shot picture allocates ~100k objects that live until the process ends, and the collector
    kept scanning them for cycles there are almost none of (235 collections, ~35 ms of a 0.7 s dump at
    1000 namespaces); memory is still freed by reference counting as it goes (peak RSS +0.5 MB).
    """
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        return command(args)
    finally:
        if was:
            gc.enable()

_COMMANDS = {"dump": cmd_dump, "trace": cmd_trace, "export": cmd_export, "diff": cmd_diff, "fleet": cmd_fleet,
             "lab": cmd_lab, "record": cmd_record, "changes": cmd_changes,
             None: cmd_tui}


def _end_process(code: int) -> None:
    """Exit with `code` at once, once standard output and error are flushed (if they cannot be, return:
    the caller's normal exit reports it).

    Why: a one-shot command has written everything and closed what it opened, and the interpreter's
    shut-down would still tear down every module and object one by one (10-15 ms of `vnettop dump`,
    a few percent of it at 1000 namespaces) for a process that is about to end anyway. Only for the
    program run as a command (`main()` without arguments); a library caller's `main(argv)` returns.
    """
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # (None: started with that fd closed, `2>&-`)
                stream.flush()
    except (OSError, ValueError):  # a closed or broken stream: the usual way says what it is
        return
    os._exit(code)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _say(message: str) -> None:
    """One line on stderr; names in it may come from the system, so it is made one terminal-safe line."""
    from vnettop.textsafe import printable_line

    print(f"vnettop: {printable_line(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run `vnettop` with `argv` (default: the process's arguments); return the exit status."""
    global _process_ends_after
    if sys.stderr is None:  # started with fd 2 closed (`2>&-`): what goes to stderr goes nowhere, not
        # onto stdout (print(file=None) writes there); open for the process's life, as stderr would be
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    try:
        words = sys.argv[1:] if argv is None else argv
        # A one-shot command named first: only its parser (the rest: the whole command line).
        args = build_parser(words[0] if words and words[0] in _ONE_SHOT else None).parse_args(argv)
        if getattr(args, "at", None) is not None and args.command not in _AT_COMMANDS:
            raise UsageError(f"--at TIME picks the moment of a recording to show; '{args.command}' shows "
                             "none (changes takes --since/--until, diff REC takes --from/--to)")
        if args.command in _ONE_SHOT:
            _process_ends_after = argv is None
            code = _without_cyclic_gc(_COMMANDS[args.command], args)
            if argv is None:  # the program itself, not a caller that goes on: end it here
                _end_process(code)
            return code
        return _COMMANDS[args.command](args)
    except UsageError as e:
        _say(str(e))
        return EXIT_USAGE
    except VnettopError as e:
        _say(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_ERROR)
    except Exception as e:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("VNETTOP_DEBUG") == "1":
            raise
        _say(f"internal error: {type(e).__name__}: {e} (VNETTOP_DEBUG=1 shows the traceback; please report)")
        return EXIT_SOFTWARE
