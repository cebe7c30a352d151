"""What the owner sources cost: the repeat collect at 200 namespaces with and without them.

The issue's budget: reading owners adds at most 10% to the repeat collect at 200 namespaces. Two live
collectors in one process over the same topology (topology.py, as bench_collect.py builds it): one with
no source at all (the kernel picture only), one with every source registered (`registry.SOURCES`),
their repeat collects taken in turn, 0.2 s apart, nothing changed on purpose, so host noise falls on
both alike. Reported: their medians, the ratio (PASS/MISS against 1.10), and the sources' own stage
(`last_timings["sources"]`).

Beside it, what an idle tick hides: a full read of every source over the same 200-namespace picture
(what a tick pays when a device or process came or went, or a source's fd fired), and the libvirt
source over `--vms` runtime XMLs (copies of the recorded one in tests/data/sources/libvirt) first
parsed, then re-read unchanged (the (inode, mtime, size) cache).

    python3 benchmarks/bench_owners.py [--namespaces 200] [--repeats 40] [--vms 50] [--cleanup]
Needs root. Everything it builds is named vntbm<4 hex>... and removed even on failure or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_collect import machine
from topology import REPO_ROOT, Interrupted, Topology, cleanup_all, wait_quiet

sys.path.insert(0, REPO_ROOT)

from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.enrich import SourceSet
from vnettop.collect.sources.libvirt import LibvirtSource
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Snapshot

TARGET = 1.10  # with sources / without, repeat collect at 200 namespaces
RECORDED = Path(REPO_ROOT) / "tests/data/sources/libvirt/run/libvirt/qemu/instance-0000002a.xml"


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ms ({min(values):.1f}-{max(values):.1f})"


def repeat_collects(repeats: int, gap: float) -> tuple[list[float], list[float], list[float], Snapshot, list[str]]:
    """Repeat collects without and with the sources, in turn; and the sources' stage of the latter."""
    sources = make_sources("/")
    names = [s.name for s in sources]
    bare = LiveCollector(sources=[])
    full = LiveCollector(sources=sources)
    try:
        bare.collect()
        snap = full.collect()
        without: list[float] = []
        with_: list[float] = []
        stage: list[float] = []
        for i in range(repeats):
            for collector, out in ((bare, without), (full, with_)) if i % 2 == 0 else (
                    (full, with_), (bare, without)):
                time.sleep(gap)
                t0 = time.perf_counter()
                got = collector.collect()
                out.append((time.perf_counter() - t0) * 1000)
                if collector is full:
                    stage.append(collector.last_timings.get("sources", 0.0))
                    snap = got
    finally:
        bare.close()
        full.close()
    return without, with_, stage, snap, names


def full_reads(snap: Snapshot, times: int) -> list[float]:
    """Every registered source read anew over `snap` (a tick where the structure changed)."""
    out = []
    kernel = snap.kernel_picture()
    for _ in range(times):
        sources = SourceSet(make_sources("/"))
        try:
            t0 = time.perf_counter()
            sources.enrich(kernel)
            out.append((time.perf_counter() - t0) * 1000)
        finally:
            sources.close()
    return out


def libvirt_reads(snap: Snapshot, vms: int, times: int) -> tuple[list[float], list[float]]:
    """The libvirt source over `vms` runtime XMLs: a first read (parse all) and an unchanged re-read."""
    first: list[float] = []
    again: list[float] = []
    text = RECORDED.read_text()
    with tempfile.TemporaryDirectory(prefix="vntbm-owners-") as tmp:
        qemu = Path(tmp) / "run/libvirt/qemu"
        qemu.mkdir(parents=True)
        for i in range(vms):
            (qemu / f"instance-{i:08x}.xml").write_text(text.replace("instance-0000002a", f"instance-{i:08x}"))
        kernel = snap.kernel_picture()
        for _ in range(times):
            source = LibvirtSource(tmp)
            try:
                t0 = time.perf_counter()
                part = source.read(kernel)
                first.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                source.read(kernel)
                again.append((time.perf_counter() - t0) * 1000)
                assert part.owners is not None and len([o for o in part.owners if o.kind == "vm"]) == vms
            finally:
                source.close()
    return first, again


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespaces", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=40, help="repeat collects of each collector")
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between collects")
    ap.add_argument("--vms", type=int, default=50, help="runtime XMLs for the libvirt read")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="first wait up to this long for a quiet host (few foreign namespaces, idle CPUs)")
    ap.add_argument("--cleanup", action="store_true", help="remove leftovers of crashed runs (vntbm*) and exit")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_owners needs root (it builds namespaces)", file=sys.stderr)
        return 1
    if args.cleanup:
        cleanup_all()
        print("removed leftovers named vntbm*")
        return 0
    try:
        with Topology(args.namespaces) as topo:
            print(f"built: {topo.summary()}", flush=True)
            time.sleep(3.0)  # let link-up events and IPv6 DAD settle before "nothing changes"
            if args.wait_quiet > 0:
                print(wait_quiet(args.wait_quiet), flush=True)
            without, with_, stage, snap, names = repeat_collects(args.repeats, args.gap)
            reads = full_reads(snap, 10)
            lv_first, lv_again = libvirt_reads(snap, args.vms, 5)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; everything built was removed", file=sys.stderr)
        return 130
    owners = len(snap.owners or ())
    print()
    for line in machine():
        print(line)
    print(f"sources registered: {', '.join(names)}; owners found on this host: {owners}")
    print(f"{len(snap.namespaces)} namespaces, {len(snap.links)} links seen; {args.repeats} repeat collects each\n")
    ratio = statistics.median(with_) / statistics.median(without)
    rows = [
        ("repeat collect, no source", fmt(without)),
        ("repeat collect, every registered source", fmt(with_)),
        ("  of which the sources' stage", fmt(stage)),
        ("every source read anew over this picture", fmt(reads)),
        (f"libvirt: {args.vms} runtime XMLs, first read", fmt(lv_first)),
        (f"libvirt: {args.vms} runtime XMLs, unchanged re-read", fmt(lv_again)),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label.ljust(width)} | {value}")
    print()
    share = statistics.median(stage) / statistics.median(without)
    print(f"the sources' own stage is {100 * share:.1f}% of the repeat collect without them (the ratio below "
          "also carries the noise between two sets of samples)")
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"{verdict}  repeat collect with sources / without = {ratio:.3f} <= {TARGET:.2f} "
          f"(at {len(snap.namespaces)} namespaces)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
