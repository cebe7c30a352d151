"""What each outlet of `vnettop dump` costs (json, text, dot) at 1k, 10k and 100k links, side by side.

No root and no kernel objects: the snapshots are built in this process (`synthetic(n)`), shaped like a
busy compute node where one namespace holds most devices - the case that made the text dump quadratic:
per 4 links, a VM tap held by its qemu process and a veth end, both ports of one of the root bridges (100
ports each), and the veth's peer plus lo in a namespace of its own; every tenth such namespace runs a
dnsmasq listening on 53 and 67. So at 100k links the root namespace has 50k devices and there are 25k
other namespaces.

Two figures per outlet:
  * render: the renderer alone, in this process, best of --runs (snapshot_to_json compact, as `dump`
    writes it to a pipe or a file; render_text; render_dot);
  * process: `python -m vnettop dump --load FILE -f FORMAT > /dev/null`, whole process, wall time, best of
    --runs: reading and checking the saved file, rendering, writing. The reference beside it is `jq .
    FILE > /dev/null` (what one might run on the saved file instead), when jq is installed.

    python3 benchmarks/bench_outlets.py                      # 1k, 10k, 100k links, 3 runs
    python3 benchmarks/bench_outlets.py --sizes 1000,20000 --runs 5 --no-process
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, REPO_ROOT)

from vnettop.model import (  # noqa: E402  (after the path is set: the checkout's vnettop, not an installed one)
    BridgeInfo,
    BridgePort,
    Host,
    Link,
    LinkRef,
    Listening,
    Namespace,
    Process,
    Snapshot,
    TunHolder,
    TunInfo,
)

ROOT = 4026531840
PORTS_PER_BRIDGE = 100


def synthetic(n_links: int) -> Snapshot:
    """A snapshot of about `n_links` devices (see the module docstring for its shape)."""
    units = max(1, (n_links - 1) // 4)
    n_bridges = max(1, -(-2 * units // PORTS_PER_BRIDGE))
    root_links: list[Link] = [Link(ROOT, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown",
                                   addresses=("127.0.0.1/8",))]
    other: list[Link] = []
    namespaces: list[Namespace] = []
    procs: list[Process] = []
    bridge_ports: dict[int, list[int]] = {}
    bridge_base = 2
    next_index = bridge_base + n_bridges

    def mac(i: int) -> str:
        return "02:" + ":".join(f"{(i >> s) & 0xFF:02x}" for s in (32, 24, 16, 8, 0))

    for u in range(units):
        b = (2 * u) // PORTS_PER_BRIDGE
        br_ifindex = bridge_base + b
        master = LinkRef(ROOT, br_ifindex, f"brq{b:08d}")
        tap_i, veth_i = next_index, next_index + 1
        next_index += 2
        ns_inode = ROOT + 1000 + u
        pid = 10_000 + u
        bridge_ports.setdefault(br_ifindex, []).extend((tap_i, veth_i))
        procs.append(Process(pid, "qemu-kvm", f"/usr/bin/qemu-system-x86_64 -name guest=vm{u} -netdev tap,fd=26",
                             "libvirt-qemu"))
        root_links.append(Link(
            ROOT, tap_i, f"tap{u:08x}-0", "tap", mac(tap_i), 1500, True, "up", master=master,
            bridge_port=BridgePort("forwarding", 2, 32),
            tun=TunInfo("tap", False, False, True, False, holders=(TunHolder(pid, "qemu-kvm", (26,), True, (28,)),))))
        root_links.append(Link(
            ROOT, veth_i, f"tap{u:08x}-d", "veth", mac(veth_i), 1500, True, "up", master=master,
            bridge_port=BridgePort("forwarding", 2, 32), peer=LinkRef(ns_inode, 2, f"ns-{u:08x}")))
        other.append(Link(ns_inode, 1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, "unknown"))
        other.append(Link(ns_inode, 2, f"ns-{u:08x}", "veth", mac(1 << 20 | u), 1500, True, "up",
                          addresses=(f"10.{u >> 16 & 255}.{u >> 8 & 255}.{u & 255}/8",),
                          peer=LinkRef(ROOT, veth_i, f"tap{u:08x}-d")))
        ns_procs: tuple[Process, ...] = ()
        if u % 10 == 0:
            ns_procs = (Process(500_000 + u, "dnsmasq", "dnsmasq --no-hosts", "nobody",
                                (Listening("udp", "0.0.0.0", 67), Listening("tcp", "10.0.0.2", 53))),)
        namespaces.append(Namespace(ns_inode, (f"qdhcp-{u:08x}",), False, tuple(p.pid for p in ns_procs),
                                    ns_procs))
    for b in range(n_bridges):
        ifindex = bridge_base + b
        root_links.append(Link(ROOT, ifindex, f"brq{b:08d}", "bridge", mac(ifindex), 1500, True, "up",
                               bridge=BridgeInfo(False, False, tuple(bridge_ports.get(ifindex, ())))))
    root_links.sort(key=lambda link: link.ifindex)
    root = Namespace(ROOT, (), True, tuple(p.pid for p in procs), tuple(procs))
    return Snapshot(Host("bench", platform.release()), (root, *namespaces), tuple(root_links + other))


def best_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def process_ms(argv: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with open(os.devnull, "w") as null:
            subprocess.run(argv, stdout=null, check=True, cwd=REPO_ROOT, env=env)
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {platform.python_version()}, "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated link counts")
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs per figure")
    ap.add_argument("--no-process", action="store_true", help="renderers only, no whole `vnettop dump` runs")
    args = ap.parse_args()

    from vnettop.render.dot import render_dot
    from vnettop.render.json import snapshot_to_json
    from vnettop.render.text import render_text

    print(f"# bench_outlets: {machine()}")
    print(f"# render = renderer alone, in process; process = `{os.path.basename(sys.executable)} -m vnettop dump "
          f"--load FILE -f F > /dev/null`, wall; best of {args.runs}; ms")
    header = (f"{'links':>7} {'ns':>6} | {'json':>8} {'text':>8} {'dot':>8} {'text/json':>9} | "
              f"{'json':>8} {'text':>8} {'dot':>8} {'jq .':>8}")
    print(f"{'':15}| {'render':^37}| {'process':^35}")
    print(header)
    jq = shutil.which("jq")
    with tempfile.TemporaryDirectory(prefix="vnt-bench-outlets-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            snap = synthetic(size)
            r_json = best_ms(lambda: snapshot_to_json(snap, indent=None), args.runs)  # noqa: B023
            r_text = best_ms(lambda: render_text(snap), args.runs)  # noqa: B023
            r_dot = best_ms(lambda: render_dot(snap), args.runs)  # noqa: B023
            row = (f"{len(snap.links):>7} {len(snap.namespaces):>6} | {r_json:>8.0f} {r_text:>8.0f} {r_dot:>8.0f} "
                   f"{r_text / r_json:>9.2f} |")
            if not args.no_process:
                path = os.path.join(tmp, f"snap{size}.json")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(snapshot_to_json(snap, indent=None))
                cmd = [sys.executable, "-m", "vnettop", "dump", "--load", path, "-f"]
                p_ms = [process_ms([*cmd, fmt], args.runs) for fmt in ("json", "text", "dot")]
                j_ms = process_ms([jq, ".", path], args.runs) if jq else float("nan")
                row += "".join(f" {v:>8.0f}" for v in p_ms) + f" {j_ms:>8.0f}"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
