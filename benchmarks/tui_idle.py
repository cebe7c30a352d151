"""What the TUI's own thread spends on an idle tick, apart from the collector: headless, live collector.

bench_tui.py measures the whole process under tmux (every thread together). This runs the app
headless (Textual's pilot, 120x40) with the live collector over whatever the host holds (e.g. a
topology.py topology kept with --hold) and reads the CPU time of each thread from /proc/self/task:
  * the UI thread (the event loop: applying snapshots, the header, the tree, the drawing),
  * the collector's threads (named `vnt-collect` for the kernel),
  * everything else (Textual's driver thread, the GC policy's thread...),
per collection ("tick") and as % of one core, over `--seconds` after the app settled.
Optionally cProfile the UI thread meanwhile (--profile) to see where its time goes.

    python3 benchmarks/topology.py -n 1000 --hold &      # as root; Ctrl-C / kill removes it
    python3 benchmarks/tui_idle.py [--seconds 30] [--profile]

Another load on the machine shows in wall time, not much in the per-thread CPU time: compare A/B in
processor time (and alternate the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import os
import pstats
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vnettop.collect.collector import LiveCollector
from vnettop.render.json import load_snapshot
from vnettop.ui.app import build_app
from vnettop.ui.gc_policy import GcPolicy

CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds (utime+stime) by role: "ui" (this, the main thread), "collect", "other"."""
    main = threading.main_thread().native_id
    out = {"ui": 0.0, "collect": 0.0, "other": 0.0}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue  # a thread that just ended
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        secs = (int(fields[11]) + int(fields[12])) / CLK_TCK
        role = "ui" if int(tid) == main else "collect" if comm == "vnt-collect" else "other"
        out[role] += secs
    return out


def ui_cpu_precise() -> float:
    """The main thread's CPU time in ns resolution (clock_gettime of the thread's own clock)."""
    return time.thread_time()


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class IdleReplay:
    """A host that changes only as an idle one does, from a saved snapshot (`--replay FILE`): every
    collection hands back the same devices, 1 % of them with new counters (new Link objects, as the
    live collector makes for a device whose counters moved), and every other one the root namespace's
    pids changed (processes start and end there all the time). No kernel, no other load: the UI
    thread's cost of an idle tick, repeatable while other people's tests churn the host."""

    never_changes = False

    def __init__(self, snap: Any) -> None:
        self.snap = snap
        self.ticks = 0
        self._closed = threading.Event()

    def wait_for_change(self, timeout: float) -> bool:
        self._closed.wait(timeout)
        return False

    def collect(self) -> Any:
        self.ticks += 1
        snap = self.snap
        step = max(1, len(snap.links) // 100)
        links = tuple(dataclasses.replace(link, stats=dataclasses.replace(
            link.stats, rx_bytes=link.stats.rx_bytes + 100 * self.ticks)) if i % step == self.ticks % step
            else link for i, link in enumerate(snap.links))
        namespaces = snap.namespaces
        if self.ticks % 2:
            root = namespaces[0]
            namespaces = (dataclasses.replace(root, pids=(*root.pids, 900000 + self.ticks)), *namespaces[1:])
        self.snap = dataclasses.replace(snap, links=links, namespaces=namespaces,
                                        taken_at=datetime.now(timezone.utc))
        return self.snap

    def close(self) -> None:
        self._closed.set()


async def change_latency(app: Any, pilot: Any, rounds: int) -> None:
    """A bridge added / removed in a namespace of our own: ms until the app has shown a snapshot with it,
    and where that time went (waiting for the collection to start, collecting, applying)."""
    netns = f"vntbmti{secrets.token_hex(2)}"
    stamps: list[tuple[str, float]] = []
    collect = app.collector.collect
    apply = app.apply_snapshot

    def timed_collect() -> Any:
        stamps.append(("collect", time.perf_counter()))
        try:
            return collect()
        finally:
            stamps.append(("collected", time.perf_counter()))

    def timed_apply(snap: Any, **kwargs: Any) -> None:
        stamps.append(("apply", time.perf_counter()))
        apply(snap, **kwargs)
        stamps.append(("applied", time.perf_counter()))

    # A change of structure updates the view a moment later (after the keys waiting, see
    # VnettopApp._view_after_input): "applied" is when that is done too.
    view_now = app._view_now

    def timed_view_now(*args: Any, **kwargs: Any) -> None:
        pending = app._view_pending
        view_now(*args, **kwargs)
        if pending and not app._view_pending:
            stamps.append(("applied", time.perf_counter()))

    wait = app.collector.wait_for_change

    def timed_wait(timeout: float) -> bool:
        woke = wait(timeout)
        if woke:
            stamps.append(("event", time.perf_counter()))
        return woke

    app.collector.wait_for_change = timed_wait
    app.collector.collect = timed_collect
    app.apply_snapshot = timed_apply
    app._view_now = timed_view_now
    subprocess.run(["ip", "netns", "add", netns], check=True)
    rows: list[tuple[float, ...]] = []
    try:
        await pilot.pause(2.0)
        for i in range(rounds):
            await pilot.pause(random.uniform(0.3, 1.3))
            for verb in ("add", "del"):
                name = f"vntbmti{i}"
                before = len(app.snapshot.links)
                want = before + (1 if verb == "add" else -1)
                argv = ["ip", "-n", netns, "link", verb, name] + (["type", "bridge"] if verb == "add" else [])
                stamps.clear()
                t0 = time.perf_counter()
                subprocess.run(argv, check=True)
                while len(app.snapshot.links) != want and time.perf_counter() - t0 < 5:
                    await pilot.pause(0.005)
                t1 = time.perf_counter()
                starts = [t for what, t in stamps if what == "collect"]
                last_collect = max((t for what, t in stamps if what == "collect"), default=t0)
                collected = max((t for what, t in stamps if what == "collected"), default=t1)
                applied = max((t for what, t in stamps if what == "applied"), default=t1)
                event = min((t for what, t in stamps if what == "event"), default=t0)
                rows.append(((t1 - t0) * 1000, (last_collect - t0) * 1000, (collected - last_collect) * 1000,
                             (applied - collected) * 1000, (event - t0) * 1000, len(starts)))
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        app.collector.collect = collect
        app.collector.wait_for_change = wait
        app.apply_snapshot = apply
        app._view_now = view_now
    for label, col in (("until shown", 0), ("until the collection began", 1), ("collecting", 2),
                       ("until applied", 3), ("until the event woke the poll", 4), ("collections", 5)):
        vals = sorted(r[col] for r in rows)
        print(f"  change {label:27s}: median {statistics.median(vals):6.0f} ms, "
              f"p95 {vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))]:6.0f} ms, max {vals[-1]:6.0f}")


async def measure(args: argparse.Namespace) -> None:
    collector: Any = LiveCollector() if args.replay is None else IdleReplay(load_snapshot(args.replay))
    app = build_app(collector, None, read_only=True, interval=args.interval)
    app.gc_policy = GcPolicy()
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.perf_counter()
        while app.polls < 1:
            await pilot.pause(0.1)
        print(f"first snapshot after {time.perf_counter() - t0:.2f} s; "
              f"{len(app.snapshot.namespaces) if app.snapshot else 0} namespaces, "
              f"{len(app.snapshot.links) if app.snapshot else 0} links", flush=True)
        if args.keys:
            await pilot.press(*args.keys.split(","))
        await pilot.pause(args.settle)
        applied: list[float] = []
        apply = app.apply_snapshot

        def timed_apply(snap: Any, **kwargs: Any) -> None:
            c0 = time.thread_time()
            apply(snap, **kwargs)
            applied.append((time.thread_time() - c0) * 1000)

        app.apply_snapshot = timed_apply
        load0 = os.getloadavg()[0]
        polls0, cpu0, ui0, w0 = app.polls, thread_cpu(), ui_cpu_precise(), time.perf_counter()
        prof = cProfile.Profile() if args.profile else None
        if prof is not None:
            prof.enable()
        await pilot.pause(args.seconds)
        if prof is not None:
            prof.disable()
        polls1, cpu1, ui1, w1 = app.polls, thread_cpu(), ui_cpu_precise(), time.perf_counter()
        load1 = os.getloadavg()[0]
        ticks = max(1, polls1 - polls0)
        span = w1 - w0
        print(f"over {span:.1f} s: {polls1 - polls0} collections; load average {load0:.2f} -> {load1:.2f}")
        ui_ms = (ui1 - ui0) * 1000
        print(f"  UI thread      : {ui_ms / ticks:7.1f} ms per tick, {ui_ms / span / 10:5.2f} % of a core "
              f"(thread clock; /proc: {(cpu1['ui'] - cpu0['ui']) / span * 100:.2f} %)")
        for role in ("collect", "other"):
            d = cpu1[role] - cpu0[role]
            print(f"  {role:15s}: {d * 1000 / ticks:7.1f} ms per tick, {d / span * 100:5.2f} % of a core")
        total = sum(cpu1.values()) - sum(cpu0.values())
        print(f"  whole process  : {total * 1000 / ticks:7.1f} ms per tick, {total / span * 100:5.2f} % of a core")
        app.apply_snapshot = apply
        if applied:
            print(f"  of the UI thread, applying a snapshot: median {statistics.median(applied):.1f} ms, "
                  f"max {max(applied):.1f} ms (n={len(applied)}; the rest is drawing and timers)")
        print(f"  peak RSS {peak_rss_mb():.0f} MB (this process, headless)")
        if prof is not None:
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
            print(buf.getvalue())
        if args.changes:
            await change_latency(app, pilot, args.changes)
    collector.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--profile", action="store_true", help="cProfile the UI thread over the window")
    ap.add_argument("--replay", metavar="FILE",
                    help="no live collector: an idle host replayed from a saved snapshot (see IdleReplay)")
    ap.add_argument("--changes", type=int, default=0,
                    help="then add and remove a bridge in a namespace of our own this many times: the latency")
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument("--keys", default="", metavar="K1,K2,...",
                    help="press these keys (Textual's names) once the first snapshot is in, before the window: "
                         "e.g. down,down,down,down,down,down to select a device (its details pane shows its rates)")
    args = ap.parse_args()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # so `finally` removes the namespace made for --changes

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
