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
