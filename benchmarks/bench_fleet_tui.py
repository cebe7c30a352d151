"""The TUI over a big fleet file: `vnettop --load fleet.jsonl` at 1000 hosts, for real, under tmux.

Writes a fleet file of `--hosts` simulated compute nodes (bench_fleet.host_snapshot: `--vms` VMs each, a
few orphans, one host in 97 failed), runs `python3 -m vnettop --load FILE` in a detached tmux session
(120x40, private tmux socket) and measures, from outside, what a user sees:
  * start: from spawning the process to the hosts view drawn with its first rows. Target: well under 2 s.
    Beside it, the floor: the same for `--load` of ONE snapshot (Python + Textual starting), and what a
    user would run instead to learn the same counts: `vnettop fleet orphans FILE` (a whole process).
  * counted: until every host's counts and orphans are on screen (read in the background, rows on
    screen first).
  * keys: Down on the hosts view until the details pane names the next host, while the counts are being
    read and after; enter until the host's topology is drawn; H back. Median and worst.
  * palette: ctrl+p, a MAC on the last host, until its hit is listed.
  * memory: the process's RSS once everything is counted, beside the file's size.
The poll loop runs one `capture-pane` at a time (a few ms each), which bounds the resolution.

    python3 benchmarks/bench_fleet_tui.py [--hosts 1000] [--vms 20] [--keys 12]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from bench_fleet import host_snapshot  # noqa: E402

from vnettop.fleet.fleetfile import entry_line  # noqa: E402
from vnettop.render.json import snapshot_to_json  # noqa: E402


class Tui:
    """vnettop in a detached tmux session on a private socket; `close()` ends both."""

    def __init__(self, argv: list[str]) -> None:
        self.socket = f"vntfleet{secrets.token_hex(3)}"
        self.started = time.perf_counter()
        cmd = "exec " + " ".join(argv)
        self._tmux("new-session", "-d", "-s", "b", "-x", "120", "-y", "40", "-c", REPO,
                   "env", f"PYTHONPATH={REPO}", "sh", "-c", cmd)
        self.pid = int(self._tmux("list-panes", "-t", "b", "-F", "#{pane_pid}").split()[0])

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "b")

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "b", *keys)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        try:  # tmux leaves the socket file behind
            os.unlink(os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", self.socket))
        except OSError:
            pass


def wait_for(tui: Tui, pred: Callable[[str], bool], timeout: float = 30.0) -> float:
    """Seconds until `pred(screen)` holds (RuntimeError after `timeout`)."""
    start = time.perf_counter()
    while True:
        if pred(tui.screen()):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"not seen within {timeout}s:\n{tui.screen()}")
        time.sleep(0.002)


def startup(argv: list[str], drawn: Callable[[str], bool]) -> tuple[float, Tui]:
    tui = Tui(argv)
    wait_for(tui, drawn)
    return time.perf_counter() - tui.started, tui


def details_host(screen: str) -> str | None:
    found = re.search(r"host (hv\d+) \(\d+/\d+\)", screen)
    return found.group(1) if found else None


def details_title(screen: str) -> str:
    """The details pane's border title (the right-hand box's top line)."""
    first = next((line for line in screen.splitlines() if "╮╭" in line), "")
    return first.split("╮╭", 1)[1] if first else ""


def key_down(tui: Tui) -> float:
    before = details_host(tui.screen())
    start = time.perf_counter()
    tui.send("Down")
    wait_for(tui, lambda s: details_host(s) not in (None, before), timeout=10)
    return (time.perf_counter() - start) * 1000


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):6.1f} ms, worst {max(values):6.1f} ms (n={len(values)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--vms", type=int, default=20)
    ap.add_argument("--keys", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.release()}")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="vntbench") as tmp:
        path = os.path.join(tmp, "fleet.jsonl")
        with open(path, "w") as f:
            for h in range(args.hosts):
                if h % 97 == 5:
                    f.write(entry_line(f"hv{h}", False, 30000, error=f"ssh: connect to host hv{h} port 22: "
                                       "Connection timed out") + "\n")
                else:
                    f.write(entry_line(f"hv{h}", True, 400, host_snapshot(h, args.vms)) + "\n")
        one = os.path.join(tmp, "one.json")
        from vnettop.render.json import snapshot_from_dict

        with open(one, "w") as f:
            f.write(snapshot_to_json(snapshot_from_dict(host_snapshot(0, args.vms), source="bench")))
        size = os.path.getsize(path) / 1e6
        print(f"fleet file: {args.hosts} hosts x {args.vms} VMs ({args.vms + 6} links each) = {size:.1f} MB")

        floors, opens, counted, orphans_cli = [], [], [], []
        for _ in range(args.repeat):
            t, tui = startup([py, "-m", "vnettop", "--load", one], lambda s: "1 Topology" in s)
            floors.append(t)
            tui.close()
            start = time.perf_counter()
            subprocess.run([py, "-m", "vnettop", "fleet", "orphans", path], capture_output=True, cwd=REPO)
            orphans_cli.append(time.perf_counter() - start)
            t, tui = startup([py, "-m", "vnettop", "--load", path],
                             lambda s: f"H Hosts ({args.hosts})" in s and "hv1 " in s)
            opens.append(t)
            wait_for(tui, lambda s: "counting" not in s and "orphans" in s, timeout=60)
            counted.append(time.perf_counter() - tui.started)
            tui.close()
        print(f"{'':34} {'best s':>7} {'worst s':>8}")
        for label, values in (("--load ONE snapshot (the floor)", floors),
                              ("--load fleet: hosts view drawn", opens),
                              ("--load fleet: every host counted", counted),
                              ("'fleet orphans' (a whole run)", orphans_cli)):
            print(f"{label:34} {min(values):7.2f} {max(values):8.2f}")
        verdict = "PASS" if max(opens) < 2.0 else "MISS"
        print(f"target: hosts view in well under 2 s: {verdict}")

        floor_down, floor_switch = [], []
        tui = Tui([py, "-m", "vnettop", "--load", one])  # the same keys over ONE snapshot: the floor
        try:
            wait_for(tui, lambda s: "1 Topology" in s)
            for _ in range(args.keys):
                before = details_title(tui.screen())
                start = time.perf_counter()
                tui.send("Down")
                wait_for(tui, lambda s, b=before: details_title(s) != b)
                floor_down.append((time.perf_counter() - start) * 1000)
            for _ in range(max(3, args.keys // 3)):
                for key, title in (("2", "2 Bridges"), ("1", "1 Topology")):
                    start = time.perf_counter()
                    tui.send(key)
                    wait_for(tui, lambda s, t=title: t in s)
                    floor_switch.append((time.perf_counter() - start) * 1000)
        finally:
            tui.close()

        tui = Tui([py, "-m", "vnettop", "--load", path])
        try:
            wait_for(tui, lambda s: f"H Hosts ({args.hosts})" in s and "hv1 " in s)
            during = []
            while len(during) < args.keys and "counting" in tui.screen():
                during.append(key_down(tui))
            wait_for(tui, lambda s: "counting" not in s, timeout=60)
            rss = tui.rss_mb()
            after = [key_down(tui) for _ in range(args.keys)]
            enters, backs = [], []
            for _ in range(max(3, args.keys // 3)):
                key_down(tui)
                host = details_host(tui.screen())
                start = time.perf_counter()
                tui.send("Enter")
                wait_for(tui, lambda s, h=host: f"1 Topology · {h} " in s)
                enters.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                tui.send("H")  # back: the hosts view, its details naming the host left
                wait_for(tui, lambda s, h=host: f"H Hosts ({args.hosts})" in s and details_host(s) == h)
                backs.append((time.perf_counter() - start) * 1000)
            last = args.hosts - 1
            mac = f"fa:16:3e:{last >> 8 & 255:02x}:{last & 255:02x}:03"
            tui.send("C-p")
            wait_for(tui, lambda s: "Search for commands" in s)
            start = time.perf_counter()
            tui.send("-l", mac)
            wait_for(tui, lambda s: f"hv{last}: brq-net1" in s, timeout=30)
            palette = (time.perf_counter() - start) * 1000
        finally:
            tui.close()
        print(f"floor, ONE snapshot: Down in the tree {ms(floor_down)}; view switch 2/1 {ms(floor_switch)}")
        print(f"Down while counting:  {ms(during)}")
        print(f"Down after counting:  {ms(after)}")
        print(f"enter (open a host):  {ms(enters)}")
        print(f"H (back to hosts):    {ms(backs)}")
        print(f"palette, a MAC on the last host: {palette:6.1f} ms (from typing to its hit listed)")
        print(f"RSS once every host is counted: {rss:.0f} MB (file {size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
