"""Collection speed and memory: vnettop side by side with what a user runs today (iproute2 + lsof).

For each size (default 1, 50 and 200 namespaces, built by topology.py) and over several runs:
  * vnettop's first collect, in a fresh process (LiveCollector, via collect_probe.py), and its import;
  * its repeat collect in the same process, nothing changing on purpose (after a second collect that
    settles what the first one left, reported apart);
  * the whole `vnettop dump --format json` process (wall time, output to /dev/null), alternated `--dumps`
    times a run with the iproute2 loop + lsof below, and its peak RSS
    (ru_maxrss from os.wait4), run as a user has it: installed by the README's command (a venv and
    `pip install .` of this checkout, made once per run of this benchmark; `--dump-from checkout` runs
    `python3 -m vnettop` from the checkout instead, with this interpreter's own site-packages);
  * the iproute2 way: `ip -j -d link show` for root plus `ip -n NS -j -d link show` for every namespace
    in `ip netns list`, as one shell loop; `lsof /dev/net/tun`; and both together as one script.
Prints median (min-max) per row, PASS/MISS against the targets at 200 and 1000 namespaces (TARGETS),
and the machine. The "nothing changed" verdicts are taken on the samples in which no counter the collect
read moved (with fewer than MIN_QUIET of them, on all), and say the median of all samples beside it: a
fresh topology's own IPv6 traffic moves counters in tens to hundreds of namespaces now and then.

    python3 benchmarks/bench_collect.py [--sizes 1,50,200] [--runs 5] [--profile] [--cleanup]
                                        [--dump-from installed|checkout]
Needs root. Everything it builds is named vntbm<4 hex>... and removed even on failure or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata

from timing import host_speed
from topology import REPO_ENV, REPO_ROOT, Interrupted, Topology, cleanup_all, wait_quiet

PY = sys.executable
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "collect_probe.py")
PHASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dump_phases.py")
IP_LOOP = ("ip -j -d link show >/dev/null; for ns in $(ip netns list | cut -d' ' -f1); do "
           "ip -n \"$ns\" -j -d link show; done >/dev/null")
LSOF = "lsof /dev/net/tun >/dev/null 2>&1"
#: By namespaces on the host: repeat collect with nothing changed (ms), the whole `vnettop dump` process
#: against the iproute2 loop + lsof (ratio of wall times), dump peak RSS (MB); one device changed: that
#: refresh against an idle one (ratio).
TARGETS: dict[int, dict[str, float]] = {
    200: {"repeat": 5.0, "dump_ratio": 0.4},
    1000: {"repeat": 20.0, "dump_ratio": 0.15, "rss": 60.0, "changed_ratio": 2.0},
}


def timed(argv: Sequence[str], env: dict[str, str] | None = None,
          cwd: str | None = None) -> tuple[float, float, int, str]:
    """Run a command, stdout to /dev/null; return (wall ms, peak RSS MB of the process, status, stderr)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd or REPO_ROOT, env=env or REPO_ENV)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = (time.perf_counter() - t0) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024, proc.returncode, err.read().decode(errors="replace")


def probe(prefix: str, repeats: int, profile: str | None = None, change: str | None = None) -> dict[str, object]:
    argv = [PY, PROBE, "--repeats", str(repeats), "--prefix", prefix]
    if change:
        argv += ["--change", change]
    if profile:
        argv += ["--profile", profile]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, env=REPO_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"collect_probe failed: {proc.stderr.strip()[-2000:]}")
    if profile:
        print(proc.stderr, file=sys.stderr)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def dump_phases() -> str:
    """One run of dump_phases.py: where a dump's time goes (start-up = wall - inside)."""
    t0, spawned = time.perf_counter(), time.time()
    proc = subprocess.run([PY, PHASES], capture_output=True, text=True, cwd=REPO_ROOT, env=REPO_ENV)
    wall, exited = (time.perf_counter() - t0) * 1000, time.time()
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip()[-500:]}"
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    stages = d.pop("collector_stages", {})
    ahead = d.pop("ahead", None)
    rss, size, inside = d.pop("maxrss_mb"), d.pop("json_bytes"), d.pop("inside_ms")
    started, ended = d.pop("started_at", None), d.pop("ended_at", None)
    if started is None or ended is None:  # an older dump_phases: start-up and shut-down together
        parts = [f"interpreter start-up + shut-down {wall - inside:.0f}"]
    else:
        parts = [f"interpreter start-up {(started - spawned) * 1000:.0f}"]
    parts += [f"{k} {v:.0f}" for k, v in d.items()]
    if started is not None and ended is not None:
        parts.append(f"interpreter shut-down {(exited - ended) * 1000:.0f}")
    shared = ("no child forked ahead" if not ahead or not ahead["child"] else
              f"the child forked ahead read {ahead['read_by_child']} of {ahead['namespaces']} namespaces")
    return (f"wall {wall:.0f} ms = " + ", ".join(parts) + f" (collect stages: {_stages(stages)}; {shared}); "
            f"JSON {size / 1e6:.2f} MB, peak RSS {rss:.1f} MB")


#: How `vnettop dump` is started (argv before its arguments) and the environment it gets.
DUMP_ARGV: list[str] = [PY, "-m", "vnettop"]
DUMP_ENV: dict[str, str] = REPO_ENV
DUMP_CWD: str = REPO_ROOT


def install_for_dump(where: str) -> str:
    """Install this checkout as the README does (`python3 -m venv` + `pip install .`) into `where`, and
    time `vnettop dump` from there; say which one is timed.

    Why: a user's `vnettop` starts from its own venv. Run from the checkout, this interpreter's
    site-packages come with it: here an editable install's import hook and a sandbox's certificate hook
    run at every start-up (~25 ms of ~35 that no user's venv pays; `python3 -X importtime -c pass`).
    If the install fails (no package index), the checkout is timed and the line says so.
    """
    global DUMP_ARGV, DUMP_ENV, DUMP_CWD
    venv = os.path.join(where, "venv")
    steps = ([PY, "-m", "venv", venv], [os.path.join(venv, "bin", "pip"), "install", "-q", REPO_ROOT])
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=where)
        if done.returncode != 0:
            return (f"dump: timed from the checkout (`python3 -m vnettop`), since installing it failed: "
                    f"{' '.join(argv[:3])}: {done.stderr.strip()[-300:]}")
    DUMP_ARGV = [os.path.join(venv, "bin", "vnettop")]
    DUMP_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    DUMP_CWD = where
    return f"dump: `vnettop` installed by the README's command (venv + `pip install .` of this checkout) in {venv}"


def compile_bytecode() -> str:
    """Compile vnettop's modules into __pycache__ (what `pip install` does), and say so.

    Why: a `vnettop` a user installed imports compiled bytecode; a checkout run under
    PYTHONDONTWRITEBYTECODE=1 (as some build sandboxes set) compiles every module from source in every
    process instead, ~60 ms of a `vnettop dump` here that no installed copy pays. `--no-compile` measures
    that way instead (the figures of earlier passes were taken so when that variable was set).
    """
    done = subprocess.run([PY, "-m", "compileall", "-q", os.path.join(REPO_ROOT, "vnettop")],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    if done.returncode != 0:
        return f"bytecode: compileall failed ({done.stderr.strip()[-200:]}); modules may compile per run"
    return "bytecode: compiled into __pycache__ before measuring, as an installed vnettop has it"


def bytecode_note() -> str:
    """How this run's processes get vnettop's bytecode (with --no-compile)."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ("bytecode: as found (--no-compile); PYTHONDONTWRITEBYTECODE is set, so modules without a "
                "cached .pyc are compiled from source in every process")
    return "bytecode: as found (--no-compile); the first process writes __pycache__, later ones use it"


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "missing"

    head = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "vnettop"], capture_output=True,
                           text=True).stdout.splitlines()
    iproute = subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout.strip()
    lsof = subprocess.run(["lsof", "-v"], capture_output=True, text=True).stderr.split("revision:")
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; RAM {mem_kb / 1048576:.1f} GiB; kernel {platform.release()}",
        f"Python {platform.python_version()}; pyroute2 {ver('pyroute2')}, textual {ver('textual')}, "
        f"psutil {ver('psutil')}; {iproute}; lsof {lsof[1].split()[0] if len(lsof) > 1 else '?'}",
        f"vnettop at commit {head}" + (f" + {len(dirty)} uncommitted files under vnettop/" if dirty else ""),
    ]


def host_load() -> str:
    netns = len(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else 0
    procs = sum(1 for e in os.listdir("/proc") if e.isdigit())
    return (f"host now: {netns} named namespaces, {procs} processes, load average {os.getloadavg()[0]:.2f}; "
            f"{host_speed()}")


def fmt(values: Sequence[float], unit: str = "") -> str:
    if not values:
        return "n/a"
    med = statistics.median(values)
    return f"{med:.1f}{unit} ({min(values):.1f}-{max(values):.1f})"


failures: list[str] = []


def foreign_namespaces(own_prefix: str) -> int:
    """Named namespaces on the host that are not ours (other people's tests, their scale runs)."""
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    return sum(1 for name in names if not name.startswith(own_prefix))


def one_run(topo: Topology, n: int, repeats: int, first: bool, dumps: int = 3) -> dict[str, list[float]] | None:
    """Every measure of one run: the probe's collects (its repeats `repeats` times), the dump and the
    iproute2 loop + lsof `dumps` times each, the loop and lsof alone once; None if the dump failed."""
    row: dict[str, list[float]] = {}
    p = probe(topo.prefix, repeats, change=f"{topo.namespaces[len(topo.namespaces) // 2]}:{topo.ns_end}")
    row["repeat_cpu"] = [float(x) for x in p["repeat_cpu_ms"]]  # type: ignore[attr-defined]
    row["changed"] = [float(x) for x in p["changed_ms"]]  # type: ignore[attr-defined]
    row["changed_cpu"] = [float(x) for x in p["changed_cpu_ms"]]  # type: ignore[attr-defined]
    row["host_ns"] = [float(p["namespaces"])]  # type: ignore[arg-type]
    row["import"] = [float(p["import_ms"])]  # type: ignore[arg-type]
    row["first"] = [float(p["first_ms"])]  # type: ignore[arg-type]
    row["repeat"] = [float(x) for x in p["repeat_ms"]]  # type: ignore[attr-defined]
    moved = [int(x) for x in p.get("repeat_moved") or []]  # type: ignore[attr-defined]
    row["second"] = [float(p.get("second_ms", float("nan")))]  # type: ignore[arg-type]
    second = p.get("second_counts") or {}  # type: ignore[attr-defined]
    print(f"  the collect after the first (settling what it left; not a repeat): {row['second'][0]:.1f} ms; "
          f"processes' namespaces read {second.get('proc_reads', '?')} (in the repeats: "
          f"{' '.join(map(str, p.get('repeat_proc_reads') or []))})", flush=True)  # type: ignore[attr-defined]
    print("  repeat collects, ms: " + " ".join(f"{x:.1f}" for x in row["repeat"])
          + (f" (namespaces not idle in each: counters moved, or read again in part or whole: {' '.join(map(str, moved))})"
             if moved else ""), flush=True)
    row["paced"] = [float(x) for x in p["paced_ms"]]  # type: ignore[attr-defined]
    row["paced_cpu"] = [float(x) for x in p["paced_cpu_ms"]]  # type: ignore[attr-defined]
    paced_moved = [int(x) for x in p.get("paced_moved") or []]  # type: ignore[attr-defined]
    if paced_moved:
        print("  paced collects, ms: " + " ".join(f"{x:.1f}" for x in row["paced"])
              + f" (namespaces read and not idle in each: {' '.join(map(str, paced_moved))})", flush=True)
    # "Nothing changed" as the targets mean it: the samples during which no counter the collect read moved
    # (a fresh topology's own IPv6 traffic, router solicitations backing off 4, 8, 16, 32, 64 s... after
    # its 4000 devices came up, moves counters in tens to hundreds of namespaces at once). A sample in
    # which the collector chose to read a namespace again stays in: that is its own cost.
    for key, probe_key in (("repeat", "repeat_counters_moved"), ("repeat_cpu", "repeat_counters_moved"),
                           ("paced", "paced_counters_moved"), ("changed_cpu", "changed_counters_moved")):
        row[f"{key}_quiet"] = quiet_samples(row[key], p.get(probe_key))  # type: ignore[attr-defined]
    row["warm"] = [float(x) for x in p.get("warm_ms") or []]  # type: ignore[attr-defined]
    if first:
        print(f"  probe saw {p['namespaces']} namespaces, {p['links']} links, {p['errors']} soft "
              f"errors; of ours {p['mine_namespaces']} namespaces, {p['mine_links']} links "
              f"({p['mine_peers']} with a resolved peer, {p['mine_held']} taps/tuns with a holder)")
        exp = topo.expected
        got = {"links": p["mine_links"], "peers": p["mine_peers"], "held": p["mine_held"],
               "namespaces": p["mine_namespaces"]}
        if got != exp:
            warn = f"{n} netns: the collector saw {got} of ours, expected {exp}"
            print(f"  !! {warn}", flush=True)
            failures.append(warn)
        print(f"  first collect stages ms: {_stages(p['first_stages'])}; counts {p['first_counts']}")
        print(f"  repeat collect stages ms: {_stages(p['repeat_stages'])}; counts {p['repeat_counts']}")
        if p.get("changed_stages"):
            print(f"  collect after one device changed, stages ms (median run): {_stages(p['changed_stages'])};"
                  f" counts {p['changed_counts']}")
    # The dump and what a user runs instead, alternated `dumps` times: each one sample of a noisy wall time
    # (a 3 s shell loop, a 0.4 s process), taken turn about (and which goes first in turn too) so that a
    # slow moment of the host falls on both.
    for i in range(dumps):
        if i % 2:
            row.setdefault("ip+lsof", []).append(timed(["sh", "-c", f"{IP_LOOP}; {LSOF}"])[0])
        wall, rss, rc, err = timed([*DUMP_ARGV, "dump", "--format", "json"], DUMP_ENV, DUMP_CWD)
        if rc != 0:  # reported, not fatal: one failed run must not lose the others' figures
            print(f"  !! vnettop dump exited {rc}: {err.strip()[-1500:]}", flush=True)
            failures.append(f"{n} netns: vnettop dump exited {rc}: {err.strip().splitlines()[-1:]}")
            return None
        row.setdefault("dump", []).append(wall)
        row.setdefault("dump_rss", []).append(rss)
        if not i % 2:
            row.setdefault("ip+lsof", []).append(timed(["sh", "-c", f"{IP_LOOP}; {LSOF}"])[0])
    row["iploop"] = [timed(["sh", "-c", IP_LOOP])[0]]
    row["lsof"] = [timed(["sh", "-c", LSOF])[0]]
    if first:
        print(f"  dump phases: {dump_phases()}", flush=True)
    return row


def measure(n: int, runs: int, repeats: int, profile: bool, quiet: float,
            max_foreign: int, settle: float = 20.0, dumps: int = 3) -> dict[str, list[float]]:
    """`runs` runs at `n` namespaces. With `max_foreign` >= 0, a run during which more foreign
    namespaces than that existed (before or after it) is set aside and redone (up to 3x `runs` tries)."""
    rows: dict[str, list[float]] = {k: [] for k in (
        "host_ns", "import", "first", "second", "repeat", "repeat_cpu", "repeat_quiet", "repeat_cpu_quiet", "paced", "paced_cpu", "paced_quiet",
        "warm", "changed", "changed_cpu", "changed_cpu_quiet",
        "dump",
        "dump_rss", "iploop", "lsof", "ip+lsof")}
    with Topology(n) as topo:
        print(f"  built: {topo.summary()}", flush=True)
        print(f"  {host_load()}", flush=True)
        # "Nothing changed" means a quiet host: fresh devices send MLD reports for ~15 s after they come
        # up, and IPv6 router solicitations 1, 5, 13, 29, 61, 125 s... after (the interval doubles from 4
        # s; a kernel with router_solicitations = -1 never stops), which moves counters in many namespaces
        # at once (the samples in which some moved are told apart: `quiet_median`).
        print(f"  settling {settle:.0f} s (fresh devices' IPv6 chatter)", flush=True)
        time.sleep(settle)
        kept = tries = discarded = 0
        while kept < runs and tries < (3 * runs if max_foreign >= 0 else runs):
            tries += 1
            if quiet > 0:
                print(f"  run {tries}: {wait_quiet(quiet)}", flush=True)
            before = foreign_namespaces(topo.prefix)
            row = one_run(topo, n, repeats, first=tries == 1, dumps=dumps)
            after = foreign_namespaces(topo.prefix)
            if row is None:
                continue
            if max_foreign >= 0 and max(before, after) > max_foreign:
                discarded += 1
                print(f"  run {tries} set aside: {before} -> {after} foreign namespaces on the host", flush=True)
                continue
            kept += 1
            for key, vals in row.items():
                rows[key].extend(vals)
        if discarded:
            print(f"  {discarded} runs set aside for foreign namespaces; {kept} kept", flush=True)
        if profile:
            probe(topo.prefix, repeats, "first")
            probe(topo.prefix, repeats, "repeat")
        print(f"  {host_load()}", flush=True)
    print(f"  torn down in {topo.teardown_seconds:.2f} s", flush=True)
    return rows


def _stages(stages: object) -> str:
    assert isinstance(stages, dict)
    return ", ".join(f"{k} {v:.1f}" for k, v in stages.items())


LABELS = [
    ("host_ns", "namespaces on the host (seen by vnettop)", ""),
    ("import", "vnettop: import collector (fresh process)", " ms"),
    ("first", "vnettop: first collect (fresh process)", " ms"),
    ("second", "vnettop: the collect after the first (settles what it left, once)", " ms"),
    ("repeat", "vnettop: repeat collect, nothing changed (same process)", " ms"),
    ("repeat_cpu", "  the same, processor time of the collecting thread", " ms"),
    ("repeat_quiet", "  only the samples in which no counter moved", " ms"),
    ("paced", "  the same as the TUI collects (off-screen counters every 5th)", " ms"),
    ("paced_cpu", "    its processor time", " ms"),
    ("paced_quiet", "    only the samples in which no counter read moved", " ms"),
    ("warm", "  every counter, back to back (caches warm; reference only)", " ms"),
    ("changed", "vnettop: collect after one device changed (MTU)", " ms"),
    ("changed_cpu", "  the same, processor time", " ms"),
    ("dump", "vnettop dump --format json (whole process)", " ms"),
    ("dump_rss", "vnettop dump: peak RSS", " MB"),
    ("iploop", "ip -j -d link show, root + every netns", " ms"),
    ("lsof", "lsof /dev/net/tun", " ms"),
    ("ip+lsof", "iproute2 loop + lsof (one script)", " ms"),
]


def table(results: dict[int, dict[str, list[float]]], markdown: bool = False) -> str:
    sizes = sorted(results)
    head = ["measure (median (min-max))"] + [f"{n} netns" for n in sizes]
    body = [[label] + [fmt(results[n][key], unit) for n in sizes] for key, label, unit in LABELS]
    if markdown:
        rows = [head, ["---"] + ["---:"] * len(sizes), *body]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *body]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


#: The fewest samples without a moved counter a verdict is taken on; with fewer, it is taken on them all.
MIN_QUIET = 5


def quiet_samples(samples: list[float], moved: object) -> list[float]:
    """The samples in which no counter moved (`moved`: the probe's count per sample); none when the probe
    did not count (an older probe): `quiet_median` then says the verdict is over all samples."""
    if not isinstance(moved, list):
        return []
    return [x for x, m in zip(samples, moved, strict=True) if m == 0]


def quiet_median(rows: dict[str, list[float]], key: str) -> tuple[float, str]:
    """The median a "nothing changed" verdict is taken on, and how to say it: over the samples in which no
    counter the collect read moved (`<key>_quiet`), if there are MIN_QUIET of them, else over them all;
    the median of all samples is said beside it either way."""
    every, quiet = rows[key], rows.get(f"{key}_quiet") or []
    whole = statistics.median(every)
    if len(quiet) >= MIN_QUIET:
        value = statistics.median(quiet)
        return value, (f"{value:.1f} ms wall over the {len(quiet)} of {len(every)} samples in which no counter "
                       f"moved ({whole:.1f} ms over all)")
    return whole, (f"{whole:.1f} ms wall over all {len(every)} samples (only {len(quiet)} known to be "
                   f"without a moved counter)")


def verdicts(rows: dict[str, list[float]], n: int) -> list[str]:
    target = TARGETS.get(n)
    if target is None:
        return [f"n/a   no targets at {n} namespaces (they are set at {', '.join(map(str, TARGETS))})"]
    if not all(rows[k] for k in ("repeat", "dump", "dump_rss", "ip+lsof")):
        return [f"n/a   not every measure has a successful run at {n} namespaces"]
    rep_cpu, dump, rss = (statistics.median(rows[k]) for k in ("repeat_cpu", "dump", "dump_rss"))
    other = statistics.median(rows["ip+lsof"])
    quiet_rep, said_rep = quiet_median(rows, "repeat")
    checks = [
        (quiet_rep <= target["repeat"], f"repeat collect, nothing changed, every counter read (as `export` and "
                                        f"`record` collect): {said_rep} (processor {rep_cpu:.1f} ms, all "
                                        f"samples) <= {target['repeat']:.0f} ms"),
        (dump / other <= target["dump_ratio"], f"whole `vnettop dump --format json` {dump:.0f} ms vs the "
                                               f"iproute2 loop + lsof {other:.0f} ms: {dump / other:.2f}x "
                                               f"<= {target['dump_ratio']}x"),
    ]
    if rows.get("paced"):
        paced_cpu = statistics.median(rows["paced_cpu"])
        paced, said_paced = quiet_median(rows, "paced")
        checks.append((paced <= target["repeat"], f"repeat collect, nothing changed, as the TUI collects "
                                                  f"(counters of what is not shown on one collect in 5): "
                                                  f"{said_paced} (processor {paced_cpu:.1f} ms, all samples) <= "
                                                  f"{target['repeat']:.0f} ms"))
    if "rss" in target:
        checks.append((rss <= target["rss"], f"vnettop dump peak RSS {rss:.1f} MB <= {target['rss']:.0f} MB"))
    if "changed_ratio" in target and rows["changed_cpu"] and rows["repeat_cpu"]:
        # Both sides over the samples in which no counter moved (the MTU changed moves none), if there are
        # enough on both sides; else both over all samples.
        quiet = all(len(rows.get(f"{k}_quiet") or []) >= MIN_QUIET for k in ("changed_cpu", "repeat_cpu"))
        ch, idle_cpu = (statistics.median(rows[f"{k}_quiet" if quiet else k]) for k in ("changed_cpu", "repeat_cpu"))
        checks.append((ch / idle_cpu <= target["changed_ratio"],
                       f"one device changed: {ch:.1f} ms processor vs {idle_cpu:.1f} ms idle "
                       f"({'samples in which no counter moved' if quiet else 'all samples'}): "
                       f"{ch / idle_cpu:.2f}x <= {target['changed_ratio']}x"))
    return [f"{'PASS' if ok else 'MISS'}  {text}  (at {n} namespaces)" for ok, text in checks]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,50,200", help="comma-separated namespace counts")
    ap.add_argument("--runs", type=int, default=5, help="fresh-process runs per size")
    ap.add_argument("--repeats", type=int, default=5, help="repeat collects per probe process")
    ap.add_argument("--profile", action="store_true", help="cProfile the first and a repeat collect "
                    "at each size (stderr)")
    ap.add_argument("--max-foreign", type=int, default=-1, metavar="N",
                    help="set aside (and redo) runs during which more than N namespaces not ours existed")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--dumps", type=int, default=3, metavar="K",
                    help="per run, time `vnettop dump` and the iproute2 loop + lsof K times each, alternated "
                         "(default 3); the ratio's verdict is over the medians of all of them")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each run, wait up to this long for a quiet host (few foreign namespaces, "
                         "idle CPUs): this machine is shared with other people's kernel tests")
    ap.add_argument("--settle", type=float, default=20.0, metavar="SECONDS",
                    help="wait this long after building, before measuring (default 20: past the IPv6 chatter)")
    ap.add_argument("--cleanup", action="store_true", help="remove leftovers of crashed runs (vntbm*) and exit")
    ap.add_argument("--dump-from", choices=("installed", "checkout"), default="installed",
                    help="time `vnettop dump` installed as the README does (default), or from the checkout")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not compile vnettop's bytecode first (see compile_bytecode)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_collect needs root (it builds namespaces)", file=sys.stderr)
        return 1
    if args.cleanup:
        cleanup_all()
        print("removed leftovers named vntbm*")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    bytecode = bytecode_note() if args.no_compile else compile_bytecode()
    print(bytecode, flush=True)
    scratch = tempfile.TemporaryDirectory(prefix="vnettop-bench-")
    installed = (install_for_dump(scratch.name) if args.dump_from == "installed"
                 else "dump: timed from the checkout (`python3 -m vnettop`), as asked")
    print(installed, flush=True)
    results: dict[int, dict[str, list[float]]] = {}
    try:
        for n in sizes:
            print(f"== {n} namespaces, {args.runs} runs", flush=True)
            results[n] = measure(n, args.runs, args.repeats, args.profile, args.wait_quiet, args.max_foreign,
                                 args.settle, max(1, args.dumps))
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; everything built was removed", file=sys.stderr)
        return 130
    print()
    for line in machine():
        print(line)
    print(bytecode)
    print(installed)
    print(f"runs per size: {args.runs} (repeat collect: {args.runs} x {args.repeats} samples)\n")
    print(table(results))
    print()
    if args.markdown:
        print(table(results, markdown=True))
        print()
    for n in sorted(results):
        if n in TARGETS:
            for line in verdicts(results[n], n):
                print(line)
    for line in failures:
        print(f"FAILED RUN  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
