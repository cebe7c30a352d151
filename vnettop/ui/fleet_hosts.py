"""The hosts view of a fleet file (`vnettop --load fleet.jsonl`), as plain data (pure: no Textual).

One row per host, in the file's order: host, ok or failed (with the one-line reason), how long it took
to answer, counts (namespaces, links, bridges, veths, tun/taps) and orphans. Reading the file costs
almost nothing (`fleetfile` does not even parse a host's JSON until asked), but counts and orphans need
the host's Snapshot built: ~1.5 ms for a host with 26 devices, so 1.5 s for 1000 hosts. That is done off
the event loop, rows on screen first (`FleetState.next_to_summarize`), one host's objects at a time
(`HostEntry.fresh_raw`: nothing is kept but the summary). Until its summary arrives a row says `…`; a
host that did not answer says `?` (unknown, never 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

from rich.text import Text

from vnettop.errors import VnettopError
from vnettop.fleet.fleetfile import HostEntry
from vnettop.fleet.questions import Found, find
from vnettop.model import Snapshot
from vnettop.orphans import REASONS, find_orphans
from vnettop.textsafe import printable_line
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import kind_counts
from vnettop.ui.rows import Row
from vnettop.ui.targets import Target

HOST_COLUMNS = ("host", "state", "ms", "ns", "links", "br", "veth", "tun/tap", "orphans", "note")

#: How many orphans the details pane lists one by one (the count by reason is always whole).
ORPHANS_LISTED = 12


@dataclass(frozen=True, slots=True)
class HostSummary:
    """What the hosts view shows of one answering host; `unreadable` says why its snapshot could not be
    read (then every count is unknown)."""

    namespaces: int = 0
    links: int = 0
    bridges: int = 0
    veths: int = 0
    tuntaps: int = 0
    #: (reason, one line, namespace label) for each orphan, in `find_orphans` order.
    orphans: tuple[tuple[str, str, str], ...] = ()
    errors: int = 0
    hostname: str = ""
    kernel: str = ""
    taken_at: str = ""
    unreadable: str | None = None

    def by_reason(self) -> list[tuple[str, int]]:
        counts = Counter(reason for reason, _, _ in self.orphans)
        return [(reason, counts[reason]) for reason in REASONS if counts[reason]]


def summary_of(snap: Snapshot) -> HostSummary:
    kinds = kind_counts(snap)
    return HostSummary(
        namespaces=len(snap.namespaces), links=len(snap.links), bridges=kinds["bridge"],
        veths=kinds["veth"], tuntaps=kinds["tun/tap"],
        orphans=tuple((o.reason, o.detail, snap.ns_label(o.netns)) for o in find_orphans(snap)),
        errors=len(snap.errors), hostname=snap.host.hostname, kernel=snap.host.kernel,
        taken_at=snap.taken_at.strftime("%Y-%m-%d %H:%M:%S"))


def summarize(entry: HostEntry) -> HostSummary:
    """The summary of an answering host, building its snapshot without keeping it."""
    from vnettop.render.json import snapshot_from_dict

    try:
        raw = entry.fresh_raw()
        if raw is None:
            return HostSummary(unreadable="no snapshot")
        return summary_of(snapshot_from_dict(raw, source=f"host {entry.host}"))
    except VnettopError as e:
        return HostSummary(unreadable=str(e))


class FleetState:
    """The fleet file the app shows: its hosts, their summaries as they arrive, the host shown."""

    def __init__(self, entries: list[HostEntry], notes: list[str], source: str) -> None:
        self.entries = entries
        self.notes = notes
        self.source = source
        self.summaries: list[HostSummary | None] = [None] * len(entries)
        #: The host whose picture the per-host views show (None: none opened yet).
        self.current: int | None = None
        #: Hosts to summarise before the others (the rows on screen); set by the app, read by the worker.
        self.wanted: tuple[int, ...] = tuple(range(min(len(entries), 60)))
        #: Until when (time.monotonic) the background reading waits: set on every key and click, so
        #: the key is answered first (as a live collection pauses, ui/app.py INPUT_HOLD).
        self.hold_until = 0.0

    @property
    def ok_count(self) -> int:
        return sum(1 for e in self.entries if e.ok)

    def to_summarize(self) -> int:
        """How many answering hosts have no summary yet."""
        return sum(1 for e, s in zip(self.entries, self.summaries, strict=True) if e.ok and s is None)

    def next_to_summarize(self, done: set[int], start: int) -> tuple[int | None, int]:
        """The next host to summarise (a wanted one first, else the next in file order from `start`)
        and where the file-order scan goes on from."""
        for i in self.wanted:
            if i not in done and 0 <= i < len(self.entries) and self.entries[i].ok:
                return i, start
        i = start
        while i < len(self.entries):
            if i not in done and self.entries[i].ok:
                return i, i + 1
            i += 1
        return None, i

    def position(self, index: int) -> str:
        return f"{index + 1}/{len(self.entries)}"

    def summary_line(self) -> str:
        """The header's second line in the hosts view."""
        ok = self.ok_count
        failed = len(self.entries) - ok
        line = f"{len(self.entries)} hosts · {ok} ok · {failed} failed"
        done = [s for s in self.summaries if s is not None and s.unreadable is None]
        total = sum(len(s.orphans) for s in done)
        hosts = sum(1 for s in done if s.orphans)
        line += f" · orphans {total} on {hosts} host{'s' if hosts != 1 else ''}"
        left = self.to_summarize()
        if left:
            line += f" (counting: {ok - left}/{ok} hosts read)"
        return line


def _dim(text: str) -> Text:
    return Text(text, style="dim")


def host_row(index: int, entry: HostEntry, summary: HostSummary | None) -> Row:
    host = Text(printable_line(entry.host), style="bold")
    ms = str(entry.ms)
    if not entry.ok:  # the reason runs on where the (unknown) counts would be: it is what matters here
        reason = Text(printable_line(entry.error or "failed"), style="red")
        return Row(f"host:{index}", None, (host, Text("failed", style="bold red"), ms, reason), spill=3)
    if summary is None:
        waiting = _dim("…")
        return Row(f"host:{index}", None, (host, Text("ok", style="green"), ms, *([waiting] * 6), ""))
    if summary.unreadable is not None:
        reason = Text(printable_line(summary.unreadable), style="red")
        return Row(f"host:{index}", None, (host, Text("unreadable", style="bold red"), ms, reason), spill=3)
    orphans = len(summary.orphans)
    note = f"{summary.errors} collect error{'s' if summary.errors != 1 else ''}" if summary.errors else ""
    return Row(f"host:{index}", None, (
        host, Text("ok", style="green"), ms, str(summary.namespaces), str(summary.links),
        str(summary.bridges), str(summary.veths), str(summary.tuntaps),
        Text(str(orphans), style="bold yellow" if orphans else "dim"), Text(note, style="yellow")))


def host_index(row: Row | None) -> int | None:
    """The host a hosts-view row stands for."""
    if row is None or not row.key.startswith("host:"):
        return None
    return int(row.key.split(":", 1)[1])


def _host_matches(flt: Filter, entry: HostEntry, summary: HostSummary | None) -> bool:
    if not flt.active:
        return True
    words = [entry.host, "ok" if entry.ok else "failed", entry.error or ""]
    if summary is not None:
        words += [summary.hostname, summary.kernel, summary.unreadable or "",
                  *(reason for reason, _, _ in summary.orphans)]
    return (flt.text in "\0".join(words).lower()) != flt.inverted


class HostRowsBuilder:
    """The hosts view's rows; a host's row is rebuilt only when its summary arrives (at 1000 hosts the
    view is refreshed many times while summaries come in)."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[HostSummary | None, Row]] = {}

    def __call__(self, state: FleetState, flt: Filter) -> list[Row]:
        rows: list[Row] = []
        for i, (entry, summary) in enumerate(zip(state.entries, state.summaries, strict=True)):
            if not _host_matches(flt, entry, summary):
                continue
            kept = self._kept.get(i)
            if kept is None or kept[0] is not summary:
                kept = self._kept[i] = (summary, host_row(i, entry, summary))
            rows.append(kept[1])
        return rows


def host_title(state: FleetState, index: int) -> Text:
    return Text(f"host {printable_line(state.entries[index].host)} ({state.position(index)})")


def host_details(state: FleetState, index: int, full: bool = False) -> Text:
    """The details pane for a host row: why it failed, or its facts and its orphans by reason."""
    entry = state.entries[index]
    summary = state.summaries[index]
    text = Text()
    text.append(printable_line(entry.host), style="bold")
    text.append(f"  host {state.position(index)} of {printable_line(state.source)}\n", style="dim")
    if not entry.ok:
        text.append(f"failed after {entry.ms} ms\n", style="bold red")
        text.append(printable_line(entry.error or "failed") + "\n", style="red")
        text.append("\nNo picture: the host did not answer (run 'vnettop fleet dump' again for it).",
                    style="dim")
        return text
    text.append(f"answered in {entry.ms} ms\n")
    if summary is None:
        text.append("\ncounting… (its devices and orphans are being read)\n", style="dim")
        text.append("\nenter: open this host's picture", style="dim")
        return text
    if summary.unreadable is not None:
        text.append("its snapshot cannot be read:\n", style="bold red")
        text.append(printable_line(summary.unreadable) + "\n", style="red")
        return text
    text.append(f"{printable_line(summary.hostname)} · kernel {printable_line(summary.kernel)} · "
                f"taken {summary.taken_at}\n")
    text.append(f"ns {summary.namespaces} · links {summary.links} · br {summary.bridges} · "
                f"veth {summary.veths} · tun/tap {summary.tuntaps}\n")
    if summary.errors:
        text.append(f"{summary.errors} collect error{'s' if summary.errors != 1 else ''} "
                    "(open the host, then E)\n", style="yellow")
    text.append("\n")
    if not summary.orphans:
        text.append("no orphans\n", style="green")
    else:
        text.append(f"orphans: {len(summary.orphans)}\n", style="bold yellow")
        for reason, count in summary.by_reason():
            text.append(f"  {count:>4} {reason}", style="yellow")
            text.append(f"  {REASONS[reason]}\n", style="dim")
        text.append("\n")
        listed = summary.orphans if full else summary.orphans[:ORPHANS_LISTED]
        for reason, detail, where in listed:
            text.append(f"  {printable_line(detail)}", style="")
            text.append(f"  @ {printable_line(where)}  ({reason})\n", style="dim")
        if len(listed) < len(summary.orphans):
            text.append(f"  … {len(summary.orphans) - len(listed)} more (f lists them all)\n", style="dim")
    text.append("\nenter: open this host's picture", style="dim")
    return text


# -- the palette over every host -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetHit:
    """One palette answer: a host, and what to select in its picture (None: just open the host)."""

    index: int
    label: str
    help: str
    target: Target | None


def _target_of(snap: Snapshot, found: Found) -> Target | None:
    """The Target `fleet find`'s answer names in the host's snapshot (by namespace label and name)."""
    if found.device is None:
        ns = next((n for n in snap.namespaces if n.label == found.netns), None)
        return Target.ns(ns.inode) if ns is not None else None
    for link in snap.links:
        if link.name == found.device and snap.ns_label(link.netns) == found.netns:
            return Target.link(*link.key)
    return None


def fleet_hits(state: FleetState, query: str) -> Iterator[list[FleetHit]]:
    """Hosts named by the query, then every device or namespace `fleet find` matches on each answering
    host (name, MAC, IP, Neutron port uuid prefix): one list per host searched (often empty), so a
    caller can pause between hosts and stop early."""
    q = query.strip()
    if not q:
        return
    low = q.lower()
    named = []
    for i, entry in enumerate(state.entries):
        if low in entry.host.lower():
            status = "ok" if entry.ok else f"failed: {entry.error or 'failed'}"
            named.append(FleetHit(i, printable_line(f"host {entry.host}"), printable_line(status), None))
    yield named
    for i, entry in enumerate(state.entries):
        if not entry.ok:
            continue
        # A copy is searched: what it parses is let go with it, so typing a word found in every host's
        # text (a command line, say) does not leave 1000 parsed hosts behind (~60 MB at 26 devices each).
        probe = replace(entry)
        try:
            found = find([probe], q)
        except VnettopError:
            continue  # an unreadable host: its row says so
        hits = []
        for f in found:
            target = _target_of(probe.snapshot(), f)
            if f.device is not None:
                label = f"{entry.host}: {f.device} @ {f.netns}"
            else:
                label = f"{entry.host}: namespace {f.netns}"
            about = printable_line(f"{f.matched} · {f.kind} · {f.path}")
            hits.append(FleetHit(i, printable_line(label), about, target))
        yield hits


class FleetCollector:
    """The Collector of a fleet file: the app polls nothing over one (a file never changes), so this
    only serves the host shown, for anything that asks."""

    def __init__(self, state: FleetState) -> None:
        self.state = state

    def collect(self) -> Snapshot:
        if self.state.current is None:
            raise VnettopError("no host opened yet: enter on a host's row opens it")
        return self.state.entries[self.state.current].snapshot()

    def wait_for_change(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass
