"""The flight recorder's costs against the targets of the time issue, on this machine.

Three figures, each beside its target:
1. Bytes a day on a quiet 200-namespace host with ordinary churn: a container (a namespace, a veth pair
   on a bridge, an owner entry) started every minute and stopped 30 s later, i.e. 1440 start/stop pairs;
   counters of a tenth of the devices move between samples. Simulated on synthetic snapshot objects fed
   to the real `Recorder` (every second of the day is a tick), no kernel needed.   Target: <= 5 MB/day.
2. Rebuilding a moment of a 100 MB recording (made the same way, with a change every second so the file
   grows quickly): the worst moment (the last line before a keyframe, the most records to apply), in
   process and as the `vnettop dump --load REC --at T` a user runs.                  Target: <= 1 s.
3. (--live) CPU of `vnettop record --interval 1` on this host for --seconds (60), from the child's
   rusage; with --namespaces N it first builds N namespaces with benchmarks/topology.py (root; run it
   under the kernel lock: `flock /tmp/vnettop-kernel.lock python3 benchmarks/bench_record.py --live
   --namespaces 200`).                                                              Target: <= 1 % of a core.

   The inspector over it: `vnettop --load REC` opening (every change's time, the last moment's picture,
   the events view's changes) and one `]` step at the worst moment.                Target: <= 1 s.

    python3 benchmarks/bench_record.py [--size-mb 100] [--big FILE] [--live [--namespaces 200] [--seconds 60]]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from vnettop.record.reader import Recording  # noqa: E402
from vnettop.record.recorder import Recorder  # noqa: E402
from vnettop.record.timefmt import parse_stamp, short  # noqa: E402
from vnettop.record.writer import RecordingFile  # noqa: E402

ROOT = 4026531840
STATS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped")
DAY = 86400
T0 = 1_796_400_000.0  # a fixed start, so two runs write the same bytes


def _link(netns: int, ifindex: int, name: str, kind: str, **kw: Any) -> dict[str, Any]:
    return {"netns": netns, "ifindex": ifindex, "name": name, "kind": kind, "mac": kw.get("mac"), "mtu": 1500,
            "admin_up": True, "oper_state": kw.get("state", "up"), "carrier": True, "master": kw.get("master"),
            "lower": None, "peer": kw.get("peer"), "addresses": kw.get("addresses", []),
            "stats": dict.fromkeys(STATS, 0), "bridge": kw.get("bridge"), "bridge_port": kw.get("bridge_port"),
            "tun": kw.get("tun"), "info": {}}


class Host:
    """A synthetic compute host: 4 bridges, 200 container namespaces each with a veth on a bridge, 8 held
    taps, an `owners` section naming each container; containers can be started and stopped."""

    def __init__(self, namespaces: int = 200) -> None:
        self.next_ifindex = 100
        self.next_inode = ROOT + 1000
        self.links: dict[tuple[int, int], dict[str, Any]] = {}
        self.namespaces: dict[int, dict[str, Any]] = {
            ROOT: {"inode": ROOT, "names": [], "root": True, "pids": list(range(1, 150)), "processes": [],
                   "readable": True, "unreadable_reason": None, "mounts": [], "fds": [], "pids_complete": True}}
        self.owners: dict[str, dict[str, Any]] = {}
        self.add(_link(ROOT, 1, "lo", "loopback", mac="00:00:00:00:00:00", addresses=["127.0.0.1/8"]))
        self.add(_link(ROOT, 2, "eth0", "device", mac="52:54:00:00:00:01", addresses=["192.0.2.10/24"]))
        for b in range(4):
            self.add(_link(ROOT, 10 + b, f"br{b}", "bridge", mac=f"52:54:00:00:01:{b:02x}",
                           bridge={"stp": False, "vlan_filtering": False, "ports": [], "fdb": []}))
        for t in range(8):
            self.add(_link(ROOT, 20 + t, f"tap{t}", "tap", mac=f"fe:54:00:00:02:{t:02x}",
                           master={"netns": ROOT, "ifindex": 10 + t % 4, "name": f"br{t % 4}"},
                           bridge_port={"state": "forwarding", "cost": 2, "priority": 32},
                           tun={"type": "tap", "persist": False, "multi_queue": False, "vnet_hdr": True, "pi": False,
                                "owner": None, "group": None, "num_queues": None, "holders_complete": True,
                                "holders": [{"pid": 5000 + t, "comm": "qemu-system-x86", "fds": [30], "exact": True,
                                             "vhost_fds": [31]}]}))
            self.ports(10 + t % 4, 20 + t, True)
        self.started: list[str] = []
        for i in range(namespaces):
            self.start(f"ctr{i}")
        self.version = 0

    def add(self, link: dict[str, Any]) -> None:
        self.links[(link["netns"], link["ifindex"])] = link

    def ports(self, bridge: int, port: int, on: bool) -> None:
        br = copy.deepcopy(self.links[(ROOT, bridge)])
        ports = set(br["bridge"]["ports"])
        ports.add(port) if on else ports.discard(port)
        br["bridge"]["ports"] = sorted(ports)
        self.add(br)

    def start(self, name: str) -> None:
        inode, self.next_inode = self.next_inode, self.next_inode + 1
        root_if, self.next_ifindex = self.next_ifindex, self.next_ifindex + 1
        bridge = 10 + root_if % 4
        pid = 100000 + inode % 100000
        self.namespaces[inode] = {"inode": inode, "names": [f"cni-{name}-{inode:x}"], "root": False, "pids": [pid],
                                  "processes": [], "readable": True, "unreadable_reason": None, "mounts": [],
                                  "fds": [], "pids_complete": True}
        mac = f"0a:58:{inode >> 24 & 255:02x}:{inode >> 16 & 255:02x}:{inode >> 8 & 255:02x}:{inode & 255:02x}"
        self.add(_link(ROOT, root_if, f"veth{inode:x}"[:15], "veth", mac="ee" + mac[2:],
                       master={"netns": ROOT, "ifindex": bridge, "name": f"br{bridge - 10}"},
                       peer={"netns": inode, "ifindex": 2, "name": "eth0"},
                       bridge_port={"state": "forwarding", "cost": 2, "priority": 32}))
        self.ports(bridge, root_if, True)
        self.add(_link(inode, 1, "lo", "loopback", mac="00:00:00:00:00:00", addresses=["127.0.0.1/8"]))
        self.add(_link(inode, 2, "eth0", "veth", mac=mac, addresses=[f"10.88.{inode >> 8 & 255}.{inode & 255}/16"],
                       peer={"netns": ROOT, "ifindex": root_if, "name": f"veth{inode:x}"[:15]}))
        self.owners[name] = {"kind": "container", "name": name, "id": f"{inode:064x}", "runtime": "containerd",
                             "source": "name pattern", "exact": False, "details": {"image": "nginx:1.27"},
                             "links": [[inode, 2], [ROOT, root_if]], "namespaces": [inode], "pids": [pid],
                             "parent": None}
        self.started.append(name)

    def stop(self, name: str) -> None:
        owner = self.owners.pop(name)
        inode = owner["namespaces"][0]
        root_if = owner["links"][1][1]
        del self.namespaces[inode]
        for key in [k for k in self.links if k[0] == inode] + [(ROOT, root_if)]:
            del self.links[key]
        self.ports(10 + root_if % 4, root_if, False)
        self.started.remove(name)

    def traffic(self, fraction: float, step: int) -> None:
        """Counters of every 1/fraction-th device move (a quiet host: most devices idle)."""
        every = max(1, int(1 / fraction))
        for i, key in enumerate(sorted(self.links)):
            if (i + step) % every == 0:
                link = copy.copy(self.links[key])
                link["stats"] = {k: v + 1500 * (1 + i % 7) if k.endswith("bytes") else v + 1 + i % 7
                                 if k.endswith("packets") else v for k, v in link["stats"].items()}
                self.links[key] = link
        root = copy.copy(self.namespaces[ROOT])
        root["pids"] = [1, *range(200 + step * 3, 349 + step * 3)]
        self.namespaces[ROOT] = root

    def doc(self) -> dict[str, Any]:
        return {"schema": "vnettop.snapshot/1", "taken_at": "2026-12-04T00:00:00.000Z",
                "host": {"hostname": "compute-bench", "kernel": "6.18.44"},
                "namespaces": sorted(self.namespaces.values(), key=lambda n: (not n["root"], n["inode"])),
                "links": [self.links[k] for k in sorted(self.links)], "errors": [],
                "owners": [self.owners[n] for n in sorted(self.owners)]}


def simulate_day(path: str) -> tuple[int, int, float]:
    """A day at one tick a second: (bytes written, lines, seconds the simulation took)."""
    host = Host(200)
    rec = Recorder(RecordingFile(path, 1 << 40, 1))
    began = time.perf_counter()
    rec.start(host.doc(), T0)
    doc = host.doc()
    k = 0
    for s in range(1, DAY + 1):
        changed = False
        if s % 60 == 0:
            host.start(f"job{k}")
            k += 1
            changed = True
        elif s % 60 == 30 and k > 0:
            host.stop(f"job{k - 1}")
            changed = True
        if s % 600 == 599:
            host.traffic(0.1, s // 600)
            changed = True
        if changed:
            doc = host.doc()
        rec.tick(doc, T0 + s)
    rec.stop(T0 + DAY, "simulated day over")
    rec.out.close()
    return os.path.getsize(path), rec.lines, time.perf_counter() - began


def build_big(path: str, size_mb: int) -> tuple[int, float]:
    """A recording of `size_mb` MB with a start or a stop every second: (lines, seconds)."""
    host = Host(200)
    rec = Recorder(RecordingFile(path, 1 << 40, 1))
    began = time.perf_counter()
    rec.start(host.doc(), T0)
    s, k = 0, 0
    target = size_mb * 1024 * 1024
    while rec.out.size < target:
        s += 1
        if s % 2:
            host.start(f"job{k}")
            k += 1
        else:
            host.stop(f"job{k - 1}")
        if s % 600 == 0:
            host.traffic(0.1, s // 600)
        rec.tick(host.doc(), T0 + s)
    rec.stop(T0 + s + 1, "big enough")
    rec.out.close()
    return rec.lines, time.perf_counter() - began


def worst_moment(path: str) -> str:
    """The last moment before a keyframe's tick (the last keyframe but the first): rebuilding it applies
    every record written since the previous keyframe, the most a moment can need."""
    worst: str | None = None
    before = ""  # the latest time seen that is earlier than the current line's
    current = ""
    keyframes = 0
    with open(path, "rb") as f:
        for line in f:
            t = line[6:33].decode()
            if t != current:
                before, current = current, t
            if b'"type":"keyframe"' in line[:60]:
                keyframes += 1
                if keyframes > 1 and before:
                    worst = before
    assert worst is not None, "no second keyframe: make the recording bigger"
    return worst


def inspector(path: str, worst: datetime) -> tuple[float, float]:
    """Seconds (the worst of 3) to open the inspector over `path` as `vnettop --load REC` does, and to
    show the next change from the moment before the worst one."""
    from vnettop.ui.timeline import RecordingCollector, Timeline

    opening, step = [], []
    for _ in range(3):
        began = time.perf_counter()
        timeline = Timeline.open(path)
        collector = RecordingCollector(timeline, timeline.snapshot_at(timeline.moment))
        timeline.warm(timeline.moment)
        opening.append(time.perf_counter() - began)
        timeline.moment = timeline.change_time(timeline.position(worst)[0] - 2)
        began = time.perf_counter()
        nxt = timeline.step(1)
        assert nxt is not None
        collector.go(nxt)
        collector.collect()
        step.append(time.perf_counter() - began)
        collector.close()
    return max(opening), max(step)


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPU ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(seconds: float, extra: list[str]) -> tuple[float, float, int, int, int, int]:
    """(steady CPU %, start-up CPU s, bytes written in the window, change lines, namespaces, devices) of
    one `vnettop record` run: the window opens once the first keyframe is written and 2 s have passed."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "live.jsonl")
        proc = subprocess.Popen([sys.executable, "-m", "vnettop", "record", "-o", out, "--interval", "1", *extra],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (os.path.exists(out) and os.path.getsize(out) > 1000):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("vnettop record did not start")
                time.sleep(0.1)
            time.sleep(2)
            cpu0, t0, size0 = _cpu_seconds(proc.pid), time.monotonic(), os.path.getsize(out)
            time.sleep(seconds)
            cpu1, t1, size1 = _cpu_seconds(proc.pid), time.monotonic(), os.path.getsize(out)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with Recording.open(out) as rec:
            n_changes = sum(1 for _ in rec.changes())
            snap = rec.snapshot_at(rec.end)
        return (100 * (cpu1 - cpu0) / (t1 - t0), cpu0, size1 - size0, n_changes, len(snap.namespaces),
                len(snap.links))


def live_cpu(seconds: float, namespaces: int) -> None:
    topo_cm: Any = None
    if namespaces:
        from topology import Topology  # benchmarks/topology.py

        topo_cm = Topology(namespaces)
        topo_cm.__enter__()
        print(f"built {namespaces} namespaces in {topo_cm.build_seconds:.1f} s")
    try:
        for label, extra in (("default: a look on each kernel change (at most 1/s), else every 30 s", []),
                             ("--full-every 1: a full look every second, whatever happens", ["--full-every", "1"])):
            pct, startup, written, n_changes, n_ns, n_links = _measure(seconds, extra)
            print(f"live, {label}: {n_ns} namespaces, {n_links} devices; steady CPU over {seconds:.0f} s "
                  f"{pct:.2f} % of a core (start-up, not counted: {startup:.2f} s CPU); wrote {written} bytes "
                  f"in the window ({n_changes} change lines in the run; other engineers' tests may add churn)")
            print(f"  {'PASS' if pct <= 1.0 else 'MISS'}  recorder CPU {pct:.2f} % of a core (target <= 1 %)")
    finally:
        if topo_cm is not None:
            topo_cm.__exit__(None, None, None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--live", action="store_true", help="also measure `vnettop record` on this host (root)")
    ap.add_argument("--namespaces", type=int, default=0, help="with --live: build N namespaces first")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--big", metavar="FILE", help="the large recording: built there (or reused when it exists "
                    "already: building 100 MB takes minutes)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    if not args.skip_synthetic:
        with tempfile.TemporaryDirectory() as d:
            day = os.path.join(d, "day.jsonl")
            size, lines, secs = simulate_day(day)
            print(f"a simulated day (200 namespaces, 1440 container start/stop pairs, counters sampled every "
                  f"10 min): {size / 1e6:.2f} MB in {lines} lines (simulated in {secs:.0f} s)")
            with open(day, "rb") as f:
                kinds: dict[str, int] = {}
                for line in f:
                    kind = line[43:53].split(b'"')[0].decode()
                    kinds[kind] = kinds.get(kind, 0) + len(line)
            print("  by line type: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(kinds.items())))
            print(f"  {'PASS' if size <= 5e6 else 'MISS'}  {size / 1e6:.2f} MB a day (target <= 5 MB)")

            big = args.big or os.path.join(d, "big.jsonl")
            if args.big and os.path.exists(big):
                with open(big, "rb") as f:
                    lines, built = sum(1 for _ in f), "reused"
            else:
                lines, secs = build_big(big, args.size_mb)
                built = f"built in {secs:.0f} s"
            t = worst_moment(big)
            print(f"a {os.path.getsize(big) / 1e6:.0f} MB recording ({lines} lines, {built}); "
                  f"worst moment {t} (the tick before a keyframe)")
            times = []
            for _ in range(3):
                began = time.perf_counter()
                with Recording.open(big) as rec:
                    snap = rec.snapshot_at(parse_stamp(t))
                times.append(time.perf_counter() - began)
            print(f"  in process: open + snapshot_at: best {min(times) * 1000:.0f} ms, worst "
                  f"{max(times) * 1000:.0f} ms ({len(snap.namespaces)} namespaces, {len(snap.links)} devices)")
            began = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--load", big, "--at",
                                   short(parse_stamp(t)), "-f", "json"], cwd=REPO, capture_output=True)
            cmd = time.perf_counter() - began
            assert proc.returncode == 0, proc.stderr
            began = time.perf_counter()
            subprocess.run(["tail", "-c", "1000000", big], capture_output=True)
            tail = time.perf_counter() - began
            print(f"  vnettop dump --load REC --at T -f json (whole process): {cmd * 1000:.0f} ms "
                  f"(for scale: `tail -c 1MB REC` {tail * 1000:.0f} ms)")
            worst = max(max(times), cmd)
            print(f"  {'PASS' if worst <= 1.0 else 'MISS'}  rebuild at the worst moment {worst * 1000:.0f} ms "
                  f"(target <= 1 s)")
            opening, step = inspector(big, parse_stamp(t))
            print(f"  the inspector over it: opening (every change's time, the last moment, the events "
                  f"listed) {opening * 1000:.0f} ms; `]` at the worst moment {step * 1000:.0f} ms")
            print(f"  {'PASS' if max(opening, step) <= 1.0 else 'MISS'}  inspector opening and stepping "
                  f"(target <= 1 s)")
            _ = datetime.now(timezone.utc)
    if args.live:
        live_cpu(args.seconds, args.namespaces)
    return 0


if __name__ == "__main__":
    sys.exit(main())
