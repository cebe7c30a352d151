"""Where the time of one `vnettop dump --format json` goes, phase by phase, in one fresh process.

Does what `vnettop dump` does (the parser built and the arguments read as `cli.main` does, then
cli.one_snapshot, render.json and the terminal-safe write), with a clock around each phase, and prints
one JSON line. `started_at` / `ended_at` (time.time() at the first line and just before the interpreter
shuts down) let the caller split the rest of its wall time into interpreter start-up and shut-down.
Run by bench_collect.py; by hand: `PYTHONPATH=. python3 benchmarks/dump_phases.py`.
"""

from __future__ import annotations

import json
import os
import resource
import time

T_START = time.perf_counter()
STARTED_AT = time.time()


def main() -> int:
    phases: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        phases[name] = (now - t) * 1000
        t = now

    import vnettop.cli  # (what `python -m vnettop` imports first)

    lap("import cli")
    vnettop.cli.build_parser("dump").parse_args(["dump", "--format", "json"])  # (as `main` builds it)
    lap("parse arguments")
    import gc

    gc.disable()  # as `vnettop dump` runs (cli._without_cyclic_gc)
    from vnettop.collect.collector import LiveCollector

    lap("import collector")
    from vnettop.collect.scan_ahead import ScanAhead, worth_forking

    ahead = ScanAhead.start() if worth_forking() else None  # as `vnettop dump` forks it (cli.one_snapshot)
    lap("fork ahead")
    collector = LiveCollector(one_shot=True, ahead=ahead)  # as `vnettop dump` makes it (cli)
    lap("LiveCollector()")
    try:
        snap = collector.collect()
        lap("collect()")
    finally:
        collector.close()
        lap("close()")
    from vnettop.render.json import snapshot_to_json

    lap("import render.json")
    # As `vnettop dump` does when stdout is not a terminal (the benchmark's > /dev/null): compact JSON.
    try:
        text = snapshot_to_json(snap, indent=None)
    except TypeError:  # an older renderer without the indent parameter
        text = snapshot_to_json(snap)
    lap("snapshot_to_json")
    from vnettop.textsafe import json_terminal_safe  # as cli._emit writes a JSON document

    with open(os.devnull, "w", encoding="utf-8") as f:
        f.write(json_terminal_safe(text))
    lap("write")
    phases["inside_ms"] = (time.perf_counter() - T_START) * 1000
    phases["started_at"] = STARTED_AT
    phases["collector_stages"] = collector.last_timings  # type: ignore[assignment]
    counts = collector.last_counts
    phases["ahead"] = {"child": ahead is not None, "read_by_child": counts.get("dumped_ahead", 0),  # type: ignore[assignment]
                       "namespaces": counts.get("dumped", 0)}
    phases["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases["json_bytes"] = len(text)
    phases["ended_at"] = time.time()
    print(json.dumps(phases), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
