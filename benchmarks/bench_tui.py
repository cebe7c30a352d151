"""The real TUI under tmux at 200 namespaces: its idle CPU use, and how fast it answers keys.

Runs `python3 -m vnettop --interval 1 --read-only` in a detached tmux session (120x40, on a private tmux
socket so no other session is touched), over a topology.py topology, and measures:
  * CPU: utime+stime of the vnettop process (all threads, /proc/PID/stat) over `--cpu-seconds` (60)
    after it settled, as % of one core; twice: right after the topology was built (its 4000+ new devices
    send IPv6 router solicitations and MLD reports for a minute or two, moving counters everywhere), and
    again once the topology is `--settled-after` seconds old (the host an operator watches: the verdict).
  * key latency: time from `tmux send-keys` until `capture-pane -p` shows the result, for view switches
    (`2` then `1`: the panel title changes) and cursor moves (Down/Up: the details pane title changes).
    Keys are sent at random moments of the 1 s refresh cycle ("idle"), and 10-75 ms after a link in
    one of our namespaces flipped admin state ("churn": the kernel event wakes an early collection 15 ms
    later, so the key arrives while that collection, or the drawing of its result, is in flight).
    Median and p95. Target: <= 100 ms.
The poll loop runs one `capture-pane` at a time (a few ms each), which bounds the resolution.

    python3 benchmarks/bench_tui.py [--namespaces 200] [--cpu-seconds 60] [--keys 30] [--cleanup]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from pyspy_summary import summarize
from timing import host_speed
from topology import (
    PREFIX,
    REPO_ENV,
    REPO_ROOT,
    Interrupted,
    Topology,
    cleanup_all,
    run,
    signals_raise,
    wait_quiet,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
TMUX_DIR = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}")
TARGET_KEY = 100.0  # ms
#: Idle CPU (% of one core, --interval 1) by namespaces on the host; the nearest size below applies.
TARGET_CPU = {200: 1.5, 1000: 3.0}
TARGET_CHANGE = 150.0  # ms: a link added in a namespace until the screen shows it (p95)
TARGET_STATIC = 0.5  # % of one core: the TUI over a saved snapshot, idle
TARGET_TUI_RSS = {1000: 120.0}  # MB


def target_for(table: dict[int, float], n: int) -> float | None:
    sizes = [k for k in table if k <= n]
    return table[max(sizes)] if sizes else None


class Tui:
    """vnettop in a detached tmux session on a private socket; `close()` ends both (idempotent)."""

    def __init__(self, tag: str, argv: Sequence[str], width: int = 120, height: int = 40) -> None:
        self.socket = f"vntbm{tag}"
        self.session = f"vntbm{tag}"
        cmd = "exec " + " ".join(argv)  # exec: the pane's process *is* vnettop
        env_args = [f"PYTHONPATH={REPO_ENV['PYTHONPATH']}"]
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                   "-c", REPO_ROOT, "env", *env_args, "sh", "-c", cmd)
        self.pid = int(self._tmux("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def screen(self) -> list[str]:
        return self._tmux("capture-pane", "-p", "-t", self.session).splitlines()

    def send(self, key: str) -> None:
        self._tmux("send-keys", "-t", self.session, key)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def cpu_seconds(self) -> float:
        """utime + stime of the whole process (every thread), in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def collector_state(self) -> tuple[bool, int]:
        """(is any of vnettop's collecting threads running now, their CPU time in clock ticks).

        The collector's threads are named `vnt-collect` for the kernel (see vnettop.linux.libc);
        the CPU time has the kernel's 10 ms resolution, the running state catches shorter work."""
        running, ticks = False, 0
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return False, 0
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                    comm_and_rest = f.read()
            except OSError:
                continue  # a thread that just ended
            comm = comm_and_rest[comm_and_rest.index("(") + 1:comm_and_rest.rindex(")")]
            if comm != "vnt-collect":
                continue
            fields = comm_and_rest.rsplit(")", 1)[1].split()
            running = running or fields[0] == "R"
            ticks += int(fields[11]) + int(fields[12])
        return running, ticks

    def collector_ticks(self) -> int:
        return self.collector_state()[1]

    def memory(self) -> str:
        """Resident memory now and at peak (VmRSS, VmHWM from /proc/PID/status)."""
        fields = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) / 1024
        return f"RSS {fields.get('VmRSS', 0):.1f} MB, peak {fields.get('VmHWM', 0):.1f} MB"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        try:
            os.unlink(os.path.join(TMUX_DIR, self.socket))  # tmux leaves the socket file behind
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, AttributeError):
            pass


def wait_for(tui: Tui, pred: Callable[[list[str]], bool], timeout: float = 5.0,
             probe: Callable[[], None] | None = None) -> float | None:
    """Seconds until `pred(screen)` holds (polling capture-pane back to back); None on timeout.
    `probe` runs after each capture (to watch the collector thread meanwhile)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred(tui.screen()):
            return time.perf_counter() - t0
        if probe is not None:
            probe()
    return None


def panel_title(screen: list[str]) -> str:
    """The line with the panels' top borders: the left panel's title and the details pane's title.

    Found by its border rather than by number: a notice line (e.g. over a saved snapshot) shifts it.
    """
    for line in screen[:8]:
        if "╭─" in line:
            return line
    return ""


def press(tui: Tui, key: str, pred: Callable[[list[str]], bool]) -> float | None:
    """Send `key`; ms until the screen shows its effect (None if it never did within 5 s).

    Also notes in LAST_OVERLAP whether vnettop's collector thread ran while the key waited for its
    answer (it was seen running, or its CPU time grew): the key met a collection in flight."""
    busy = [False]
    ticks0 = tui.collector_ticks()

    def probe() -> None:
        running, _ = tui.collector_state()
        busy[0] = busy[0] or running

    t0 = time.perf_counter()
    tui.send(key)
    got = wait_for(tui, pred, probe=probe)
    LAST_OVERLAP[0] = busy[0] or tui.collector_ticks() != ticks0
    return None if got is None else (time.perf_counter() - t0) * 1000


#: Whether the last `press` overlapped a collection (see `press`).
LAST_OVERLAP = [False]


def key_round(tui: Tui, kind: str, i: int) -> tuple[str, float | None]:
    """The i-th keypress of `kind` ("view" or "cursor") from the current screen: (what, latency ms).

    View keys alternate `2` (Topology -> Bridges) and `1` (back), reported apart since the two
    views cost differently. Cursor keys go Down, Down, Up, ... so the cursor never bumps into the top
    of the tree (where Up would change nothing and the keypress would look lost).
    """
    before = panel_title(tui.screen())
    if kind == "view":
        to = "2" if "1 Topology" in before else "1"
        want = "2 Bridges" if to == "2" else "1 Topology"
        return f"view->{to}", press(tui, to, lambda s: want in panel_title(s))
    key = "Up" if i % 3 == 2 else "Down"
    return "cursor", press(tui, key, lambda s: panel_title(s) != before)


def key_tests(tui: Tui, modes: Sequence[str], keys: int, flip_ns: str | None,
              flip_dev: str | None) -> tuple[dict[str, list[float]], dict[str, int]]:
    """`keys` view switches and `keys` cursor moves per mode; latencies (ms) by "mode/what".

    Modes: "idle" sends each key at a random moment of the refresh cycle; "churn" first flips
    `flip_dev` in `flip_ns` down or up, so the kernel event starts a collection, and sends the key
    while it is in flight; "static" is "idle" for a TUI over a saved snapshot.
    """
    results: dict[str, list[float]] = {}
    lost: dict[str, int] = {}
    for mode in modes:
        for kind in ("view", "cursor"):
            if kind == "cursor" and "1 Topology" not in panel_title(tui.screen()):
                press(tui, "1", lambda s: "1 Topology" in panel_title(s))
            for i in range(keys):
                time.sleep(random.uniform(0.05, 1.0))  # a random phase of the refresh cycle
                if mode == "churn" and flip_ns and flip_dev:
                    state = "down" if i % 2 == 0 else "up"
                    subprocess.run(["ip", "-n", flip_ns, "link", "set", flip_dev, state], check=True)
                    # The event reaches vnettop within 1-2 ms; it collects EVENT_SETTLE (15 ms, ui/pacing.py)
                    # later, for 30-45 ms at 1000 namespaces, then applies the snapshot. A key sent 10-75 ms
                    # after the flip lands while that collection (or the drawing of its result) is in flight.
                    time.sleep(random.uniform(0.010, 0.075))
                what, got = key_round(tui, kind, i)
                name = f"{mode}/{what}"
                if got is None:
                    lost[name] = lost.get(name, 0) + 1
                else:
                    results.setdefault(name, []).append(got)
                    if LAST_OVERLAP[0] and mode != "static":
                        IN_FLIGHT.append(got)
                    if kind == "cursor":
                        # What the cursor landed on (the details pane's title): slow rows have a reason.
                        title = panel_title(tui.screen()).split("╭─")[-1].strip(" ─╮")
                        SLOW_ROWS.append((got, mode, title))
    return results, lost


#: Latencies (ms) of the live keys that overlapped a collection (any mode: idle keys meet ticks too).
IN_FLIGHT: list[float] = []

#: (ms, mode, row landed on) of every cursor move, to name the slowest ones in the report.
SLOW_ROWS: list[tuple[float, str, str]] = []


def method_floor(tag: str, n: int) -> list[float]:
    """The same send-keys -> capture-pane loop against `cat`: what the method itself costs."""
    tui = Tui(tag + "c", ["cat"])
    try:
        wait_for(tui, lambda s: True)
        vals = []
        for i in range(n):
            mark = f"k{i}z"
            got = press(tui, mark, lambda s, m=mark: any(m in line for line in s))
            if got is not None:
                vals.append(got)
            time.sleep(0.05)
        return vals
    finally:
        tui.close()


def host_activity() -> tuple[frozenset[str], float]:
    """The named namespaces on the host now, and the 1-minute load average (others' tests run here)."""
    names = frozenset(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else frozenset()
    return names, os.getloadavg()[0]


def idle_cpu(tui: Tui, seconds: float) -> tuple[float, float, str]:
    """% of one core used by the TUI over `seconds`; also how busy the host was meanwhile."""
    seen, load0 = host_activity()
    churn = 0
    c0, t0 = tui.cpu_seconds(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        time.sleep(min(1.0, seconds - (time.perf_counter() - t0)) if seconds > 0 else 0)
        now, _ = host_activity()
        churn += len(now ^ seen)
        seen = now
    c1, t1 = tui.cpu_seconds(), time.perf_counter()
    _, load1 = host_activity()
    note = (f"host meanwhile: {churn} named namespaces appeared/vanished (others' tests), "
            f"load average {load0:.2f} -> {load1:.2f}; {host_speed()}")
    return (c1 - c0) / (t1 - t0) * 100, t1 - t0, note


def selection(screen: list[str]) -> str:
    """What the details pane's title names (the selection), from a screen's third line."""
    for line in screen[2:3]:
        titles = re.findall(r"╭─ ([^─]+?) ─", line)
        if len(titles) > 1:
            return repr(titles[-1])
    return "(not known)"


def pctl(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return (f"median {statistics.median(values):.0f} ms, p95 {pctl(values, 0.95):.0f} ms, "
            f"min {min(values):.0f}, max {max(values):.0f} (n={len(values)})")


def tui_rss_mb(memory: str) -> float | None:
    """The peak from `Tui.memory()`'s text."""
    m = re.search(r"peak ([0-9.]+) MB", memory)
    return float(m.group(1)) if m else None


_LINKS = re.compile(r"links (\d+)")


def shown_links(screen: list[str]) -> int | None:
    """The header's link count ("ns 1001 · links 5024 · ...")."""
    for line in screen[:3]:
        m = _LINKS.search(line)
        if m:
            return int(m.group(1))
    return None


def change_latency(tui: Tui, netns: str, name: str, rounds: int) -> tuple[list[float], int]:
    """ms from `ip link add` (a bridge device in one of our namespaces) until the header counts it, and
    the same for its removal: what an operator waits to see a change. Rounds lost to other people's
    changes (the count moved otherwise) are counted apart."""
    out: list[float] = []
    lost = 0
    for i in range(rounds):
        time.sleep(random.uniform(0.3, 1.3))  # at a random moment of the refresh cycle
        for verb in ("add", "del"):
            before = shown_links(tui.screen())
            if before is None:
                lost += 1
                continue
            want = before + 1 if verb == "add" else before - 1
            argv = ["ip", "-n", netns, "link", verb, f"{name}{i}"] + (["type", "bridge"] if verb == "add" else [])
            t0 = time.perf_counter()
            if subprocess.run(argv, capture_output=True).returncode != 0:
                lost += 1
                continue
            took = wait_for(tui, lambda s, w=want: shown_links(s) == w, timeout=5.0)
            if took is None:
                lost += 1
                subprocess.run(["ip", "-n", netns, "link", "del", f"{name}{i}"], capture_output=True)
            else:
                out.append((time.perf_counter() - t0) * 1000)
    return out, lost


class OnHost:
    """--on-host: the topology already on the host (e.g. topology.py --hold, which others may be measuring
    too), plus one namespace of our own with one device, so the flips and the links added for the
    latencies touch nothing of theirs. Same names and attributes as a Topology."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.prefix = f"{PREFIX}{self.tag}"
        self.namespaces = [f"{self.prefix}n0"]
        self.teardown_seconds = 0.0

    def __enter__(self) -> OnHost:
        self._signals = signals_raise()  # SIGTERM, SIGHUP: the namespace is removed all the same
        self._signals.__enter__()
        try:
            run(["ip", "netns", "add", self.namespaces[0]])
            run(["ip", "-n", self.namespaces[0], "link", "add", f"{self.prefix}x", "up", "type", "bridge"])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        t0 = time.monotonic()
        try:
            run(["ip", "netns", "del", self.namespaces[0]], check=False)
        finally:
            self._signals.__exit__(None, None, None)
        self.teardown_seconds = time.monotonic() - t0

    def summary(self) -> str:
        names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        return f"the host as it is ({len(names)} named namespaces), plus {self.namespaces[0]} of ours"


def measure(args: argparse.Namespace) -> int:
    print("== using the namespaces on the host" if args.on_host else f"== building {args.namespaces} namespaces",
          flush=True)
    misses: list[str] = []
    profiles: list[tuple[str, str]] = []
    with OnHost() if args.on_host else Topology(args.namespaces) as topo:
        built_at = time.monotonic()
        print(f"  {topo.summary()}", flush=True)
        argv = [sys.executable, "-m", "vnettop", "--interval", "1", "--read-only"]
        tui = Tui(topo.tag, argv)
        try:
            first = wait_for(tui, lambda s: any("Topology" in line for line in s[:4]), timeout=30)
            print(f"  TUI pid {tui.pid}: first screen after {first * 1000 if first else float('nan'):.0f} ms "
                  "(from tmux new-session)", flush=True)
            time.sleep(args.settle)
            screen = tui.screen()
            print("  screen after settling:\n    " + "\n    ".join(screen[:6]), flush=True)
            if not tui.alive():
                raise RuntimeError("vnettop exited: " + "\n".join(screen))

            if args.wait_quiet > 0:
                print(f"  before the CPU window: {wait_quiet(args.wait_quiet, max_busy=60.0)}", flush=True)
            cpu, span, cpu_note = idle_cpu(tui, args.cpu_seconds)
            print(f"  CPU over {span:.0f} s idle: {cpu:.2f} % of one core; {cpu_note}", flush=True)
            if args.profile:
                raw = f"/tmp/{topo.prefix}-idle.raw"
                subprocess.run(["py-spy", "record", "--pid", str(tui.pid), "-d", "20", "-r", "200",
                                "--threads", "--gil", "-f", "raw", "-o", raw], capture_output=True)
                profiles.append(("idle, 20 s", raw))
            spy = None
            if args.profile:
                raw = f"/tmp/{topo.prefix}-keys.raw"
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(tui.pid), "-d", "3600", "-r", "200",
                                        "--threads", "--gil", "-f", "raw", "-o", raw],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                profiles.append(("during the key tests", raw))
            c1 = tui.cpu_seconds()

            flip_ns = topo.namespaces[len(topo.namespaces) // 2]
            results, lost = key_tests(tui, ("idle", "churn"), args.keys, flip_ns, f"{topo.prefix}x")
            c2 = tui.cpu_seconds()
            changes, changes_lost = change_latency(tui, flip_ns, f"{topo.prefix}c", args.changes)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                try:
                    spy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    spy.kill()
            settled = None
            if args.settled_after >= 0:
                # (at least 10 s after the last change: its own bridge's chatter and the events' refreshes)
                time.sleep(max(10.0, built_at + args.settled_after - time.monotonic()))
                age = time.monotonic() - built_at
                # The selection as the key tests left it (a device, as a rule: its details pane shows
                # its rates every second; the first window had the root namespace selected).
                selected = selection(tui.screen())
                settled = idle_cpu(tui, args.cpu_seconds)
                print(f"  CPU over {settled[1]:.0f} s idle, the topology {age:.0f} s old, {selected} selected: "
                      f"{settled[0]:.2f} % of one core; {settled[2]}", flush=True)
            mem = tui.memory()
            alive = tui.alive()
            shot = tui.screen()
        finally:
            tui.close()
        static_cpu = static_note = None
        if args.static:
            # The same picture from a saved snapshot (no collection at all): what drawing alone costs.
            path = f"/tmp/{topo.prefix}.json"
            try:
                subprocess.run([sys.executable, "-m", "vnettop", "dump", "-o", path], check=True,
                               cwd=REPO_ROOT, env=REPO_ENV)
                stui = Tui(topo.tag + "s", [sys.executable, "-m", "vnettop", "--load", path, "--interval", "1"])
                try:
                    wait_for(stui, lambda s: any("Topology" in line for line in s[:4]), timeout=30)
                    time.sleep(args.settle)
                    static_cpu, _, static_note = idle_cpu(stui, args.cpu_seconds)
                    sres, slost = key_tests(stui, ("static",), args.keys, None, None)
                    results.update(sres)
                    lost.update(slost)
                finally:
                    stui.close()
            finally:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        floor = method_floor(topo.tag, args.keys)
    print(f"  torn down in {topo.teardown_seconds:.2f} s\n")

    print(f"vnettop TUI at {args.namespaces} namespaces (tmux 120x40, --interval 1 --read-only)")
    print(f"  idle CPU right after the topology was built: {cpu:.2f} % of one core over {span:.0f} s ({cpu_note})")
    if settled is not None:
        print(f"  idle CPU once the topology settled, the selection as the key tests left it: {settled[0]:.2f} % "
              f"of one core over {settled[1]:.0f} s ({settled[2]})")
    if static_cpu is not None:
        print(f"  idle CPU of the same TUI over a saved snapshot (--load, no collection): "
              f"{static_cpu:.2f} % ({static_note})")
    print(f"  method floor (send-keys -> capture-pane against `cat`): {summary(floor)}")
    for name, vals in results.items():
        extra = f"; {lost[name]} keys never showed within 5 s" if name in lost else ""
        print(f"  key latency {name:16s}: {summary(vals)}{extra}")
    print(f"  CPU during the key tests: {c2 - c1:.2f} s; vnettop still running: {alive}; memory: {mem}")
    print(f"  a link added / removed in a namespace until the header counts it: {summary(changes)}"
          + (f"; {changes_lost} rounds lost to other changes" if changes_lost else ""))
    slow = sorted(SLOW_ROWS, reverse=True)[:6]
    if slow:
        print("  slowest cursor moves (ms, mode, row landed on): "
              + "; ".join(f"{ms:.0f} {mode} {title!r}" for ms, mode, title in slow))
    every = [v for k, vals in results.items() if not k.startswith("static") for v in vals]
    n = args.namespaces
    verdict = []
    cpu_target = target_for(TARGET_CPU, n)
    if cpu_target is not None:
        if settled is not None:
            verdict.append((settled[0] <= cpu_target, f"idle CPU {settled[0]:.2f} % <= {cpu_target:g} % (at {n} "
                                                      f"namespaces, once the topology settled; right after it "
                                                      f"was built: {cpu:.2f} %)"))
        else:
            verdict.append((cpu <= cpu_target, f"idle CPU {cpu:.2f} % <= {cpu_target:g} % (at {n} namespaces, "
                                               f"right after the topology was built)"))
    if changes:
        verdict.append((pctl(changes, 0.95) <= TARGET_CHANGE,
                        f"a kernel change on screen p95 {pctl(changes, 0.95):.0f} ms <= {TARGET_CHANGE:.0f} ms "
                        f"(what a user does instead: run `ip -n NS link` again)"))
    if static_cpu is not None:
        verdict.append((static_cpu <= TARGET_STATIC,
                        f"idle CPU over a saved snapshot {static_cpu:.2f} % <= {TARGET_STATIC} %"))
    rss_target = target_for(TARGET_TUI_RSS, n)
    rss = tui_rss_mb(mem)
    if rss_target is not None and rss is not None:
        verdict.append((rss <= rss_target, f"TUI peak RSS {rss:.0f} MB <= {rss_target:.0f} MB"))
    if every:
        med, p95 = statistics.median(every), pctl(every, 0.95)
        verdict.append((p95 <= TARGET_KEY, f"key latency p95 {p95:.0f} ms (median {med:.0f}) "
                                           f"<= {TARGET_KEY:.0f} ms, all keys of the live TUI"))
        churn = [v for k, vals in results.items() if k.startswith("churn") for v in vals]
        if churn:
            verdict.append((pctl(churn, 0.95) <= TARGET_KEY,
                            f"key latency p95 in the churn rounds {pctl(churn, 0.95):.0f} ms "
                            f"<= {TARGET_KEY:.0f} ms"))
        if IN_FLIGHT:
            verdict.append((pctl(IN_FLIGHT, 0.95) <= TARGET_KEY,
                            f"key latency p95 of the {len(IN_FLIGHT)} of {len(every)} live keys that met a "
                            f"collection in flight (the collector thread ran before the answer showed) "
                            f"{pctl(IN_FLIGHT, 0.95):.0f} ms (median {statistics.median(IN_FLIGHT):.0f}) "
                            f"<= {TARGET_KEY:.0f} ms"))
        else:
            verdict.append((False, "no live key met a collection in flight: nothing measured"))
    for ok, text in verdict:
        print(f"{'PASS' if ok else 'MISS'}  {text}")
        if not ok:
            misses.append(text)
    if lost:
        print(f"MISS  {sum(lost.values())} keypresses never showed their effect")
    print("last screen:\n" + "\n".join(shot))
    for label, raw in profiles:
        print(f"\n===== py-spy of the TUI, {label} =====")
        try:
            print(summarize(raw, top=40))
        except OSError as exc:
            print(f"no profile: {exc}")
        finally:
            if args.keep_profiles:
                print(f"(kept: {raw})")
            else:
                try:
                    os.unlink(raw)
                except OSError:
                    pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespaces", "-n", type=int, default=200)
    ap.add_argument("--cpu-seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the first screen")
    ap.add_argument("--settled-after", type=float, default=150.0, metavar="SECONDS",
                    help="measure idle CPU again once the topology is this old, after the key and change tests "
                         "(the verdict's figure; -1: not at all, the verdict takes the first window)")
    ap.add_argument("--keys", type=int, default=30, help="keypresses per (mode, kind)")
    ap.add_argument("--changes", type=int, default=15, help="links added and removed for the change latency")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before the CPU window, wait up to this long for no foreign namespaces on the host")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the TUI (samples holding the GIL: Python work) for 20 s idle and during the "
                         "key tests (pip install py-spy)")
    ap.add_argument("--keep-profiles", action="store_true",
                    help="with --profile: keep py-spy's raw files (their paths are printed) for "
                         "`pyspy_summary.py FILE --within FUNCTION`")
    ap.add_argument("--no-static", dest="static", action="store_false",
                    help="skip the comparison run over a saved snapshot (--load)")
    ap.add_argument("--cleanup", action="store_true", help="remove leftovers of crashed runs (vntbm*) and exit")
    ap.add_argument("--on-host", action="store_true",
                    help="build nothing: measure over the namespaces already on the host (the targets by "
                         "--namespaces, which should say how many there are)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_tui needs root (it builds namespaces)", file=sys.stderr)
        return 1
    if args.cleanup:
        cleanup_all()
        for entry in os.listdir(TMUX_DIR) if os.path.isdir(TMUX_DIR) else []:
            if entry.startswith("vntbm"):
                subprocess.run(["tmux", "-L", entry, "kill-server"], capture_output=True)
                try:
                    os.unlink(os.path.join(TMUX_DIR, entry))
                except OSError:
                    pass
        print("removed leftovers named vntbm* (namespaces, links, helper processes, tmux servers)")
        return 0
    try:
        return measure(args)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; everything built was removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
