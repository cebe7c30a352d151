"""The two header lines: host, kernel, READ-ONLY badge, source and collect time; then the counts.

The hostname, the kernel string, the source label (a `--load` file's name) and the filter are values
from outside: each is made one safe line (`textsafe.printable_line`) where it is placed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from vnettop.model import Snapshot
from vnettop.textsafe import printable_line
from vnettop.ui.filtering import Filter


@dataclass(frozen=True, slots=True)
class HeaderState:
    """What the header shows besides the snapshot."""

    read_only: bool
    source: str  # "live", "demo", "file: x.json"...
    interval: float
    paused: bool
    filter: Filter


def header_text(snap: Snapshot | None, state: HeaderState) -> Text:
    text = Text()
    text.append(" vnettop ", style="bold reverse")
    if snap is not None:
        text.append(f"  {printable_line(snap.host.hostname)}", style="bold")
        text.append(f"  {printable_line(snap.host.kernel)}")
    if state.read_only:
        text.append("  ")
        text.append(" READ-ONLY ", style="bold reverse red")
    text.append("  ")
    if state.paused:
        text.append("paused", style="bold yellow")
    elif state.source == "live":
        text.append(f"live {state.interval:g}s", style="green")
    else:
        text.append(printable_line(state.source), style="bold cyan")  # a --load file's name: anything
    if snap is not None:
        text.append(f"  {snap.duration_ms:.0f} ms  {snap.taken_at.strftime('%H:%M:%S')}", style="dim")
        text.append("\n")
        text.append(" " + counts_text(snap))
        if snap.errors:
            n = len(snap.errors)
            text.append(f"  ⚠ {n} error{'s' if n != 1 else ''} (E)", style="bold yellow")
    else:
        text.append("\n collecting…", style="dim")
    if state.filter.active:
        text.append("  filter: ", style="bold")
        text.append(printable_line(str(state.filter)), style="bold reverse")
    return text


def counts_text(snap: Snapshot) -> str:
    kinds = {"bridge": 0, "veth": 0, "tun/tap": 0}
    for link in snap.links:
        if link.bridge is not None or link.kind == "bridge":
            kinds["bridge"] += 1
        elif link.kind == "veth":
            kinds["veth"] += 1
        elif link.tun is not None or link.kind in ("tun", "tap"):
            kinds["tun/tap"] += 1
    return (f"ns {len(snap.namespaces)} · links {len(snap.links)} · br {kinds['bridge']} · "
            f"veth {kinds['veth']} · tun/tap {kinds['tun/tap']}")


class HeaderBar(Static):
    """Redrawn only when its text changes (once per poll at most)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._last: Text | None = None

    def show(self, snap: Snapshot | None, state: HeaderState) -> None:
        text = header_text(snap, state)
        if text != self._last:
            self._last = text
            self.update(text, layout=False)  # fixed height: repaint this widget only
