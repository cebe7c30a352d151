"""Small timing helpers shared by the benchmarks that time single calls in process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def times(fn: Callable[[], object], n: int) -> list[float]:
    """`n` calls of `fn`, each one's wall time in ms."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def show(label: str, ms: list[float], note: str = "", width: int = 44) -> None:
    """One result line: best and median of `ms`."""
    print(f"  {label:<{width}} best {min(ms):8.2f} ms  median {statistics.median(ms):8.2f} ms  {note}")


def host_speed(rounds: int = 5) -> str:
    """How fast this machine is right now, for judging the figures around it: a fixed loop of Python
    arithmetic (the processor) and the time to touch 4 MB again after 0.5 s asleep (the caches: on a
    shared virtual machine a neighbour's load empties them while ours sleeps, and an idle collect, which
    wakes every tick, pays that refill). Medians of `rounds`. On the 2-core Xeon VM of BENCHMARKS.md's
    last passes, this code gave 0.8-0.9 ms and 1.6-2.2 ms while its neighbours were busy; a
    similar probe earlier the same day, on a quiet host, touched the 4 MB in 0.5 ms."""
    blocks = [bytearray(1024) for _ in range(4096)]

    def loop() -> float:
        t0 = time.perf_counter()
        total = 0
        for i in range(20000):
            total += i * i
        return (time.perf_counter() - t0) * 1000

    def touch() -> float:
        t0 = time.perf_counter()
        for b in blocks:
            b[0] = 1
        return (time.perf_counter() - t0) * 1000

    alu, cold = [], []
    for _ in range(rounds):
        time.sleep(0.5)
        cold.append(touch())
        alu.append(loop())
    return (f"host speed now: a 20000-step Python loop {statistics.median(alu):.2f} ms, 4 MB touched again "
            f"after 0.5 s asleep {statistics.median(cold):.2f} ms")
