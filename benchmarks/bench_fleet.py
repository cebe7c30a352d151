"""Questions over a fleet file of many simulated hosts: `fleet find`, `fleet orphans`, `diff A@h B@h`.

Each simulated host is a compute node with `--vms` VMs (a qemu holding a tap on the network bridge, a
veth into a qdhcp namespace per network, a few orphans sprinkled in), written as `vnettop dump` would
write it. Every question runs as a whole `vnettop` process, as an operator runs it, and is reported
beside the floor a user would otherwise pay just to look at the data (`grep -c` over the same file).
Target (the fleet issue): each question answers in under 2 s at 1000 hosts on this machine kind.

    python3 benchmarks/bench_fleet.py --hosts 1000 --vms 20
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from vnettop.fleet.fleetfile import entry_line  # noqa: E402

ROOT = 4026531840


def _link(netns: int, ifindex: int, name: str, kind: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "netns": netns, "ifindex": ifindex, "name": name, "kind": kind, "mac": kw.get("mac"), "mtu": 1500,
        "admin_up": True, "oper_state": "up", "carrier": True, "master": kw.get("master"), "lower": None,
        "peer": kw.get("peer"), "addresses": kw.get("addresses", []),
        "stats": dict.fromkeys(("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors",
                                "rx_dropped", "tx_dropped"), 0),
        "bridge": kw.get("bridge"), "bridge_port": kw.get("bridge_port"), "tun": kw.get("tun"), "info": {},
    }
    return doc


def port_uuid(h: int, v: int) -> uuid.UUID:
    """A Neutron-like random uuid, the same for the same (host, VM) in every run."""
    return uuid.UUID(int=random.Random(h * 100003 + v).getrandbits(128), version=4)


def host_snapshot(h: int, vms: int) -> dict[str, Any]:
    """One compute node: br-vms with a tap per VM, one qdhcp namespace with its veth, some orphans."""
    links = [_link(ROOT, 1, "lo", "loopback", addresses=["127.0.0.1/8"]),
             _link(ROOT, 2, "em1", "device", mac=f"52:54:00:{h >> 8 & 255:02x}:{h & 255:02x}:01",
                   addresses=[f"10.{h >> 8 & 255}.{h & 255}.1/16"])]
    bridge_ref = {"netns": ROOT, "ifindex": 3, "name": "brq-net1"}
    ports = []
    namespaces: list[dict[str, Any]] = [{"inode": ROOT, "names": [], "root": True, "pids": [1], "processes": []}]
    procs = []
    ifindex = 10
    for v in range(vms):
        port = port_uuid(h, v)
        name = f"tap{str(port)[:11]}"
        pid = 10000 + v
        procs.append({"pid": pid, "comm": "qemu-kvm", "user": "libvirt-qemu", "listening": [],
                      "cmdline": f"qemu-kvm -name guest=instance-{h:04x}{v:04x},debug-threads=on"})
        orphan = v % 10 == 9
        holders = [] if orphan else [{"pid": pid, "comm": "qemu-kvm", "fds": [30], "exact": True, "vhost_fds": []}]
        links.append(_link(ROOT, ifindex, name, "tap", mac=f"fe:16:3e:{h >> 8 & 255:02x}:{h & 255:02x}:{v & 255:02x}",
                           master=bridge_ref, bridge_port={"state": "forwarding", "cost": 2, "priority": 32},
                           tun={"type": "tap", "persist": orphan, "multi_queue": False, "vnet_hdr": True, "pi": False,
                                "owner": None, "group": None, "num_queues": None, "holders": holders}))
        ports.append(ifindex)
        ifindex += 1
    qdhcp = 4026532000 + h
    net = port_uuid(h, 10**6)
    links.append(_link(ROOT, ifindex, f"tap{str(net)[:11]}", "veth", master=bridge_ref,
                       peer={"netns": qdhcp, "ifindex": 2, "name": f"ns-{str(net)[:11]}"},
                       bridge_port={"state": "forwarding", "cost": 2, "priority": 32}))
    ports.append(ifindex)
    fdb = [{"mac": f"fa:16:3e:{h >> 8 & 255:02x}:{h & 255:02x}:{v & 255:02x}", "port": 10 + v, "state": "learned",
            "vlan": None} for v in range(vms)]
    links.insert(2, _link(ROOT, 3, "brq-net1", "bridge",
                          bridge={"stp": False, "vlan_filtering": False, "ports": ports, "fdb": fdb}))
    links.sort(key=lambda x: x["ifindex"])
    qlinks = [_link(qdhcp, 1, "lo", "loopback", addresses=["127.0.0.1/8"]),
              _link(qdhcp, 2, f"ns-{str(net)[:11]}", "veth", addresses=["10.0.0.2/24"],
                    peer={"netns": ROOT, "ifindex": ifindex, "name": f"tap{str(net)[:11]}"})]
    namespaces[0]["pids"] = [1, *[p["pid"] for p in procs]]
    namespaces[0]["processes"] = procs
    namespaces.append({"inode": qdhcp, "names": [f"qdhcp-{net}"], "root": False, "pids": [20000],
                       "processes": [{"pid": 20000, "comm": "dnsmasq", "user": "nobody", "cmdline": "dnsmasq",
                                      "listening": [{"proto": "udp", "address": "10.0.0.2", "port": 67}]}]})
    return {"schema": "vnettop.snapshot/1", "taken_at": "2026-12-04T03:12:00.000Z",
            "host": {"hostname": f"hv{h}", "kernel": "6.18.44"}, "namespaces": namespaces,
            "links": links + qlinks, "errors": []}


def timed(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - start, done.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--vms", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.release()}")
    with tempfile.TemporaryDirectory(prefix="vntbench") as tmp:
        path = os.path.join(tmp, "fleet.jsonl")
        with open(path, "w") as f:
            for h in range(args.hosts):
                f.write(entry_line(f"hv{h}", True, 400, host_snapshot(h, args.vms)) + "\n")
        size = os.path.getsize(path)
        print(f"fleet file: {args.hosts} hosts x ({args.vms} VMs, {args.vms + 6} links) = {size / 1e6:.1f} MB")
        last = args.hosts - 1
        vm_port = str(port_uuid(last, 3))
        questions = {
            "find by device name": ["fleet", "find", "tap" + vm_port[:11], path],
            "find by Neutron port uuid": ["fleet", "find", vm_port, path],
            "find by MAC (fdb)": ["fleet", "find", f"fa:16:3e:{last >> 8 & 255:02x}:{last & 255:02x}:03", path],
            "find by IP": ["fleet", "find", f"10.{last >> 8 & 255}.{last & 255}.1", path],
            "orphans, all hosts": ["fleet", "orphans", path],
            "diff two hosts": ["diff", f"{path}@hv0", f"{path}@hv{last}"],
        }
        floor = [timed(["grep", "-c", "tap", path])[0] for _ in range(args.repeat)]
        print(f"{'question':<28} {'best s':>7} {'worst s':>8}  {'vs grep -c':>10}  target < 2 s")
        for label, argv in questions.items():
            runs = [timed([sys.executable, "-m", "vnettop", *argv]) for _ in range(args.repeat)]
            best, worst = min(r[0] for r in runs), max(r[0] for r in runs)
            codes = {r[1] for r in runs}
            verdict = "PASS" if worst < 2.0 else "MISS"
            print(f"{label:<28} {best:7.2f} {worst:8.2f}  {best / min(floor):9.1f}x  {verdict} (exit {codes})")
        print(f"{'(grep -c tap, the floor)':<28} {min(floor):7.2f} {max(floor):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
