"""Where the time of one `vnettop dump --format json` goes, phase by phase, in one fresh process.

Does what `vnettop dump` does (cli.one_snapshot + render.json + write), with a clock around each phase,
and prints one JSON line: interpreter start-up is the difference between the caller's wall time and
`inside_ms`. Run by bench_collect.py; by hand: `PYTHONPATH=. python3 benchmarks/dump_phases.py`.
"""

from __future__ import annotations

import json
import os
import resource
import time

T_START = time.perf_counter()


def main() -> int:
    phases: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        phases[name] = (now - t) * 1000
        t = now

    import vnettop.cli  # noqa: F401  (what `python -m vnettop` imports first)

    lap("import cli")
    from vnettop.collect.collector import LiveCollector

    lap("import collector")
    import gc

    gc.disable()  # as `vnettop dump` runs (cli._without_cyclic_gc)
    collector = LiveCollector(one_shot=True)  # as `vnettop dump` makes it (cli.one_snapshot)
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
    with open(os.devnull, "w") as f:
        f.write(text)
    lap("write")
    phases["inside_ms"] = (time.perf_counter() - T_START) * 1000
    phases["collector_stages"] = collector.last_timings  # type: ignore[assignment]
    phases["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases["json_bytes"] = len(text)
    print(json.dumps(phases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
