"""The two header lines: host, kernel, READ-ONLY badge, source and collect time; then the counts.

The hostname, the kernel string, the source label (a `--load` file's name) and the filter are values
from outside: each is made one safe line (`textsafe.printable_line`) where it is placed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from vnettop.model import Link, Snapshot
from vnettop.textsafe import printable_line
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import kind_counts


@dataclass(frozen=True, slots=True)
class FleetHeader:
    """What the header says of a fleet file (`--load fleet.jsonl`)."""

    source: str  # the file's name
    hosts_view: bool  # the hosts view is shown (or no host has been opened yet)
    host: str | None  # the host whose picture the other views show
    position: str  # "13/1000"
    summary: str  # hosts, failed, orphans (the hosts view's second line)


@dataclass(frozen=True, slots=True)
class HeaderState:
    """What the header shows besides the snapshot."""

    read_only: bool
    source: str  # "live", "demo", "file: x.json"...
    interval: float
    paused: bool
    filter: Filter
    fleet: FleetHeader | None = None
    #: Over a recording: the moment shown, in words (`recording vnt.rec · 2026-12-04 03:12:07.000 UTC
    #: (change 41 of 310)`, already escaped); the header then says the picture is not live.
    moment: str | None = None


def header_text(snap: Snapshot | None, state: HeaderState, counts: str | None = None) -> Text:
    """Two lines, each cut at the terminal's edge rather than wrapped: on a narrow terminal a wrapped
    first line pushed the counts line out of the two-line header. What matters comes first (host,
    READ-ONLY, source); the collect time and clock are the first to go. `counts`: the counts line's
    text if already known (`counts_text(snap)`)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" vnettop ", style="bold reverse")
    fleet = state.fleet
    if fleet is not None and fleet.hosts_view:
        return _fleet_text(text, fleet, state)
    if fleet is not None:  # a host of a fleet file: which one comes first, before the line is cut
        text.append("  host ", style="bold cyan")
        text.append(printable_line(fleet.host or "?"), style="bold reverse cyan")
        text.append(f" {fleet.position}", style="bold cyan")
    elif snap is not None:
        text.append(f"  {printable_line(snap.host.hostname)}", style="bold")
    if snap is not None:
        text.append(f"  {printable_line(snap.host.kernel)}")
    if state.read_only:
        text.append("  ")
        text.append(" READ-ONLY ", style="bold reverse red")
    text.append("  ")
    if state.moment is not None:  # a recording: the moment itself starts the second line
        text.append(" NOT LIVE ", style="bold reverse yellow")
    elif state.paused:
        text.append("paused", style="bold yellow")
    elif state.source == "live":
        text.append(f"live {state.interval:g}s", style="green")
    elif fleet is not None:
        text.append(f"fleet {printable_line(fleet.source)}", style="bold cyan")
    else:
        text.append(printable_line(state.source), style="bold cyan")  # a --load file's name: anything
    if snap is not None and state.moment is None:
        text.append(f"  {snap.duration_ms:.0f} ms  {snap.taken_at.strftime('%H:%M:%S')}", style="dim")
    if snap is not None:
        text.append("\n")
        if state.moment is not None:  # first, so 80 columns still show which moment and change it is
            text.append(f" {state.moment}", style="bold cyan")
            text.append("  ·")
        text.append(" " + (counts if counts is not None else counts_text(snap)))
        if snap.errors:
            n = len(snap.errors)
            text.append(f"  ⚠ {n} error{'s' if n != 1 else ''} (E)", style="bold yellow")
    else:
        text.append("\n collecting…", style="dim")
    if state.filter.active:
        text.append("  filter: ", style="bold")
        text.append(printable_line(str(state.filter)), style="bold reverse")
    return text


def _fleet_text(text: Text, fleet: FleetHeader, state: HeaderState) -> Text:
    """The hosts view's header: the fleet file, then its hosts, failures and orphans."""
    text.append(f"  fleet file {printable_line(fleet.source)}", style="bold cyan")
    if state.read_only:
        text.append("  ")
        text.append(" READ-ONLY ", style="bold reverse red")
    if fleet.host is not None:
        text.append(f"  last opened: {printable_line(fleet.host)}", style="dim")
    text.append("\n " + fleet.summary)
    if state.filter.active:
        text.append("  filter: ", style="bold")
        text.append(printable_line(str(state.filter)), style="bold reverse")
    return text


def counts_text(snap: Snapshot) -> str:
    kinds = kind_counts(snap)
    return (f"ns {len(snap.namespaces)} · links {len(snap.links)} · br {kinds['bridge']} · "
            f"veth {kinds['veth']} · tun/tap {kinds['tun/tap']}")


class HeaderBar(Static):
    """Redrawn only when its text changes (once per poll at most)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._last: Text | None = None
        #: The counts line and the devices it counted: counting 5,000 devices by kind every second
        #: (~1.5 ms) is waste when the devices are the same, or differ only in their counters.
        self._counts: tuple[tuple[Link, ...], str] | None = None

    def show(self, snap: Snapshot | None, state: HeaderState, same_structure: bool = False) -> None:
        """`same_structure`: `snap` differs from the snapshot shown before at most in counters."""
        counts = None
        if snap is not None:
            known = self._counts
            if known is not None and (known[0] is snap.links or same_structure):
                counts = known[1]
            else:
                counts = counts_text(snap)
            self._counts = (snap.links, counts)
        text = header_text(snap, state, counts)
        if text != self._last:
            self._last = text
            self.update(text, layout=False)  # fixed height: repaint this widget only
