"""Where a keypress's time goes inside the TUI, without a terminal: ms from a key to the first frame
drawn after it, per key, and the garbage collector's pauses meanwhile.

bench_tui.py measures what a user sees (tmux, a real terminal, the collector running); this isolates
the drawing: the app runs headless (Textual's pilot) over a saved snapshot, so nothing else competes.
Use it to see what a UI change does to view switches and cursor moves, e.g. at 200 namespaces:

    python3 benchmarks/topology.py -n 200 --hold &      # as root; Ctrl-C / kill removes it
    python3 -m vnettop dump -o /tmp/vnt200.json
    python3 benchmarks/tui_frames.py /tmp/vnt200.json [--rounds 20] [--no-freeze]

"first frame" is what bench_tui's latency is made of (plus the terminal); "settled" is when the last
frame caused by the key was drawn (the details pane's body comes a frame later, on purpose).
"change" is a snapshot with a device added (or removed again) in one namespace, from reaching the app
to the first frame; "key+change" is such a snapshot with a cursor move queued right behind it (a key
typed while a collection's result is being shown), until the first frame that shows the cursor moved.
By default the app runs with the garbage-collection policy of `vnettop` (vnettop/ui/gc_policy.py:
start-up heap frozen, full collections only in quiet moments); --no-freeze shows the collector's
pauses without it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import pstats
import statistics
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events

from vnettop.collect.static import StaticCollector
from vnettop.model import Snapshot
from vnettop.render.json import load_snapshot
from vnettop.ui.app import build_app
from vnettop.ui.gc_policy import GcPolicy
from vnettop.ui.messages import SnapshotCollected

KEYS = ("2", "1", "down", "down", "up")


def with_extra_link(snap: Snapshot, index: int) -> Snapshot:
    """`snap` with one more device (a copy of a device of a namespace in the middle, under a new name and
    ifindex), one second later: what one `ip link add` in one namespace looks like to the UI."""
    ns = snap.namespaces[len(snap.namespaces) // 2]
    mine = snap.links_in(ns.inode)
    base = mine[0]
    extra = dataclasses.replace(base, ifindex=max(link.ifindex for link in mine) + 1 + index,
                                name=f"extra{index}", master=None, peer=None, lower=None, tun=None,
                                bridge=None, bridge_port=None)
    links = tuple(sorted((*snap.links, extra), key=lambda link: link.key))
    return dataclasses.replace(snap, links=links)


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(path: str, rounds: int, freeze: bool, changes: int, profile: bool = False) -> None:
    snap = load_snapshot(path)
    app = build_app(StaticCollector(snap), None, read_only=True, interval=3600.0)
    policy = app.gc_policy = GcPolicy() if freeze else None
    frames: list[float] = []
    pauses: list[tuple[int, float]] = []
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

    display = app._display

    moved: list[float] = []
    watch: list[tuple[Any, int] | None] = [None]

    def timed_display(screen: Any, update: Any) -> None:
        display(screen, update)
        frames.append(time.perf_counter())
        if watch[0] is not None and watch[0][0].cursor_line != watch[0][1]:
            moved.append(frames[-1])

    app._display = timed_display  # type: ignore[method-assign]
    first: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    settled: dict[str, list[float]] = defaultdict(list)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.polls < 1:
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        gc.callbacks.append(on_gc)
        try:
            for _ in range(rounds):
                for key in KEYS:
                    frames.clear()
                    t0 = time.perf_counter()
                    await pilot.press(key)
                    await pilot.pause(0.2)
                    if frames:
                        first[key].append((frames[0] - t0) * 1000)
                        settled[key].append((frames[-1] - t0) * 1000)
            # A device added in one namespace and removed again: from the snapshot reaching the app to the
            # first frame drawn after it (what the change-on-screen latency adds to the collection).
            changed = with_extra_link(snap, 0)
            prof = cProfile.Profile() if profile else None
            if prof is not None:
                prof.enable()
            for i in range(changes):
                shown = dataclasses.replace(changed if i % 2 == 0 else snap,
                                            taken_at=snap.taken_at + timedelta(seconds=i + 1))
                frames.clear()
                t0, c0 = time.perf_counter(), time.thread_time()
                app.post_message(SnapshotCollected(shown))
                await pilot.pause(0.3)
                if frames:
                    first["change"].append((frames[0] - t0) * 1000)
                    settled["change"].append((frames[-1] - t0) * 1000)
                    cpu["change"].append((time.thread_time() - c0) * 1000)
            # A key that arrives while a change of structure is being shown: the snapshot and the key
            # queued back to back, ms from then until the first frame that shows the cursor moved.
            tree = app.query_one("#topology")
            for i in range(changes):
                shown = dataclasses.replace(changed if i % 2 == 0 else snap,
                                            taken_at=snap.taken_at + timedelta(seconds=changes + i + 1))
                before = tree.cursor_line
                moved.clear()
                watch[0] = (tree, before)
                t0 = time.perf_counter()
                app.post_message(SnapshotCollected(shown))
                app.post_message(events.Key("down" if i % 3 != 2 else "up", None))
                await pilot.pause(0.3)
                watch[0] = None
                if moved:
                    first["key+change"].append((moved[0] - t0) * 1000)
                    settled["key+change"].append((frames[-1] - t0) * 1000 if frames else 0.0)
            if prof is not None:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        finally:
            gc.callbacks.remove(on_gc)
            if policy is not None:
                policy.stop()
    print(f"{len(snap.namespaces)} namespaces, {len(snap.links)} links; heap frozen: {freeze}; "
          f"{rounds} rounds of {' '.join(KEYS)}")
    for key in first:
        f, s = first[key], settled[key]
        print(f"  {key:5s} first frame median {statistics.median(f):5.1f} ms, p95 {pctl(f, 0.95):5.1f}, "
              f"max {max(f):5.1f} | settled median {statistics.median(s):5.1f}, p95 {pctl(s, 0.95):5.1f}"
              + (f" | UI thread {statistics.median(cpu[key]):5.1f} ms" if key in cpu else ""))
    by_gen: dict[int, list[float]] = defaultdict(list)
    for generation, ms in pauses:
        by_gen[generation].append(ms)
    for generation, values in sorted(by_gen.items()):
        print(f"  gc generation {generation}: {len(values)} collections, longest {max(values):.1f} ms, "
              f"total {sum(values):.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("snapshot", help="a JSON snapshot (vnettop dump -o FILE)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--changes", type=int, default=20,
                    help="snapshots with a device added / removed in one namespace, fed after the keys")
    ap.add_argument("--profile", action="store_true", help="cProfile the UI over the changes")
    ap.add_argument("--no-freeze", dest="freeze", action="store_false",
                    help="without vnettop's garbage-collection policy (what the collector's pauses cost)")
    args = ap.parse_args()
    asyncio.run(measure(args.snapshot, args.rounds, args.freeze, args.changes, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
