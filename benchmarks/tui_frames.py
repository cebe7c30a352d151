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
By default the app runs with the garbage-collection policy of `vnettop` (vnettop/ui/gc_policy.py:
start-up heap frozen, full collections only in quiet moments); --no-freeze shows the collector's
pauses without it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vnettop.collect.static import StaticCollector
from vnettop.render.json import load_snapshot
from vnettop.ui.app import build_app
from vnettop.ui.gc_policy import GcPolicy

KEYS = ("2", "1", "down", "down", "up")


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(path: str, rounds: int, freeze: bool) -> None:
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

    def timed_display(screen: Any, update: Any) -> None:
        display(screen, update)
        frames.append(time.perf_counter())

    app._display = timed_display  # type: ignore[method-assign]
    first: dict[str, list[float]] = defaultdict(list)
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
        finally:
            gc.callbacks.remove(on_gc)
            if policy is not None:
                policy.stop()
    print(f"{len(snap.namespaces)} namespaces, {len(snap.links)} links; heap frozen: {freeze}; "
          f"{rounds} rounds of {' '.join(KEYS)}")
    for key in first:
        f, s = first[key], settled[key]
        print(f"  {key:5s} first frame median {statistics.median(f):5.1f} ms, p95 {pctl(f, 0.95):5.1f}, "
              f"max {max(f):5.1f} | settled median {statistics.median(s):5.1f}, p95 {pctl(s, 0.95):5.1f}")
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
    ap.add_argument("--no-freeze", dest="freeze", action="store_false",
                    help="without vnettop's garbage-collection policy (what the collector's pauses cost)")
    args = ap.parse_args()
    asyncio.run(measure(args.snapshot, args.rounds, args.freeze))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
