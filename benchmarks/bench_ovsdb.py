"""OVSDB with many ports: vnettop's stdlib reader beside the `ovs` package's IDL and `ovs-vsctl show`.

A private ovsdb-server (no ovs-vswitchd, nothing touches the kernel) gets one bridge with `--ports`
ports, each with Neutron-style external_ids. Measured, each several times, best and median:
- first look: connect + schema + monitor + the frozen view (vnettop), or the IDL's first full sync;
- an unchanged database: what a refresh costs when nothing happened (vnettop: `poll()` + `view()`);
- one change (`ovs-vsctl set port … tag=N`): from the commit to an updated view;
- `ovs-vsctl show`, the command an operator runs, as a whole process;
- a statistics write (what ovs-vswitchd does every 5 s: one transaction setting Interface.statistics of
  every port, all changed, the worst case), written here with `ovs-vsctl set interface … statistics:…`
  since there is no ovs-vswitchd: the monitor's cost from the update to the new counters map, and a repeat
  collect through the live collector's SourceSet that carries it (the structure kept, not joined again),
  beside the same collect with nothing changed.
The `ovs` package is installed on demand for the comparison only (`pip install ovs`); vnettop never
imports it. Target (the OVS issue): OVSDB adds at most 2 ms to a repeat collect with 1000 ports.

    python3 benchmarks/bench_ovsdb.py --ports 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from timing import show, times  # noqa: E402
from topology import signals_raise  # noqa: E402

from vnettop.ovsdb.monitor import Monitor  # noqa: E402

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def vsctl(sock: str, *args: str) -> None:
    subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "--timeout=60", *args], check=True,
                   capture_output=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_vnettop(sock: str, rounds: int) -> None:
    print("vnettop's reader (stdlib JSON-RPC, monitor):")
    before = rss_mb()
    show("first look (connect, schema, monitor, view)", times(lambda: Monitor(sock).close(), rounds))
    mon = Monitor(sock)
    view = mon.view()
    print(f"  peak RSS growth after the first look: {rss_mb() - before:.1f} MB")
    show("unchanged database: poll() + view()", times(lambda: (mon.poll(), mon.view()), rounds * 20),
         "(target: at most 2 ms)")
    assert mon.view() is view
    poller = select.poll()
    poller.register(mon.fileno(), select.POLLIN)
    changes = []
    for i in range(rounds):
        vsctl(sock, "set", "port", "vntp1", f"tag={100 + i}")
        start = time.perf_counter()
        while not poller.poll(5000) or not mon.poll():
            pass
        mon.view()
        changes.append((time.perf_counter() - start) * 1000)
    show("one change: event -> poll() -> new view", changes, "(after ovs-vsctl returned)")
    mon.close()


def bench_source(sock: str, ports: int, rounds: int) -> None:
    """The `ovs` source as the live collector asks it: through a SourceSet, over a kernel picture with a
    device for every port (so the join finds each one)."""
    from vnettop.collect.sources.enrich import SourceSet
    from vnettop.collect.sources.ovs import OvsSource, join
    from vnettop.model import Host, Link, Namespace, Snapshot

    root = 4026531840
    links = tuple(Link(root, i + 2, f"vntp{i}", "tap", f"fa:16:3e:00:{i >> 8 & 255:02x}:{i & 255:02x}", 1500,
                       True, "up") for i in range(ports))
    base = Snapshot(Host("bench", "k"), (Namespace(root, (), True, ()),), links)
    print("the ovs source in the live collector (SourceSet over a picture with a device per port):")
    sset = SourceSet([OvsSource("/", db=sock)])
    first = times(lambda: sset.enrich(base), 1)
    show("first enrich (connect, monitor, view, join)", first)
    show("repeat collect, unchanged OVSDB and kernel", times(lambda: sset.enrich(base), rounds * 20),
         "(target: at most 2 ms)")
    source = sset.sources[0]
    assert isinstance(source, OvsSource) and source._mon is not None
    view = source._mon.view()
    show(f"join of {ports} ports to the picture (after a change)", times(lambda: join(view, base), rounds))
    sset.close()


def write_statistics(sock: str, ports: int, n: int) -> None:
    """One pass of ovs-vswitchd's statistics writer: every interface's counters, all changed."""
    cmd: list[str] = []
    for i in range(ports):
        cmd += ["--", "set", "interface", f"vntp{i}", *(f"statistics:{k}={n * 1000 + i * j}" for j, k in enumerate(
            ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "rx_dropped", "tx_dropped", "rx_errors",
             "tx_errors"), 1))]
    vsctl(sock, *cmd[1:])


def bench_statistics(sock: str, ports: int, rounds: int) -> None:
    """Interface.statistics on their own monitor: what one write of every port's counters costs."""
    from vnettop.collect.sources.enrich import SourceSet
    from vnettop.collect.sources.ovs import OvsSource
    from vnettop.model import Host, Link, Namespace, Snapshot

    print(f"statistics writes (every one of the {ports} interfaces' counters changed, one transaction):")
    mon = Monitor(sock)
    view = mon.view()
    poller = select.poll()
    poller.register(mon.fileno(), select.POLLIN)
    ms, cpu = [], []
    for n in range(1, rounds + 1):
        version = mon.stats_version
        write_statistics(sock, ports, n)
        start = time.perf_counter()
        poller.poll(5000)
        time.sleep(0.2)  # let the whole update (~300 kB at 1000 ports) arrive
        cpu_start = time.perf_counter()
        while mon.stats_version == version:
            if mon.poll():
                raise AssertionError("a statistics write changed the structure")
            if mon.stats_version == version:
                poller.poll(5000)
        stats = mon.statistics()
        cpu.append((time.perf_counter() - cpu_start) * 1000)
        ms.append((time.perf_counter() - start) * 1000 - 200)
        assert stats is not None and len(stats.by_iface) == ports and mon.view() is view
    show("monitor: poll() (read, parse, apply) + statistics()", cpu, "(view kept: the same object)")
    show("  ... from ovs-vsctl's return, wire included", ms)
    mon.close()

    root = 4026531840
    links = tuple(Link(root, i + 2, f"vntp{i}", "tap", f"fa:16:3e:00:{i >> 8 & 255:02x}:{i & 255:02x}", 1500,
                       True, "up") for i in range(ports))
    base = Snapshot(Host("bench", "k"), (Namespace(root, (), True, ()),), links)
    sset = SourceSet([OvsSource("/", db=sock)])
    first = sset.enrich(base)
    show("repeat collect, unchanged OVSDB and kernel", times(lambda: sset.enrich(base), rounds * 20))
    source = sset.sources[0]
    assert isinstance(source, OvsSource) and source._mon is not None
    fd = source._mon.fileno()
    ms = []
    for n in range(rounds + 1, 2 * rounds + 1):
        write_statistics(sock, ports, n)
        spent = 0.0
        while True:  # the update is bigger than the socket's buffer: it may take two reads (two ticks)
            select.select([fd], [], [], 5)
            time.sleep(0.05)
            start = time.perf_counter()
            snap = sset.enrich(base)
            spent += (time.perf_counter() - start) * 1000
            if snap.ovs is not None and first.ovs is not None and snap.ovs.statistics is not first.ovs.statistics:
                break
        ms.append(spent)
        assert snap.ovs is not None and first.ovs is not None and snap.ovs.bridges is first.ovs.bridges
        assert "ovs" in sset.last_read, "the statistics write did not wake the source"
        first = snap
    show("repeat collect(s) carrying a statistics write", ms, "(no join; all reads it took, summed)")
    sset.close()


def bench_idl(sock: str, rounds: int) -> None:
    try:
        import ovs.db.idl
        import ovs.poller
    except ImportError:
        print("the ovs package's IDL: not installed (pip install ovs) - skipped")
        return
    print("the ovs package's IDL (full replica with change tracking):")

    def first() -> object:
        helper = ovs.db.idl.SchemaHelper(SCHEMA)
        for table in ("Open_vSwitch", "Bridge", "Port", "Interface"):
            helper.register_table(table)
        idl = ovs.db.idl.Idl(f"unix:{sock}", helper)
        while True:
            idl.run()
            if idl.has_ever_connected() and idl.change_seqno != 0:
                return idl
            poller = ovs.poller.Poller()
            idl.wait(poller)
            poller.block()

    before = rss_mb()
    ms = []
    idl = None
    for _ in range(rounds):
        start = time.perf_counter()
        got = first()
        ms.append((time.perf_counter() - start) * 1000)
        if idl is None:
            idl = got
        else:
            got.close()  # type: ignore[attr-defined]
    show("first full sync", ms)
    print(f"  peak RSS growth after the first sync: {rss_mb() - before:.1f} MB")
    assert idl is not None
    show("unchanged database: run()", times(idl.run, rounds * 20))  # type: ignore[attr-defined]
    changes = []
    for i in range(rounds):
        seq = idl.change_seqno  # type: ignore[attr-defined]
        vsctl(sock, "set", "port", "vntp1", f"tag={200 + i}")
        start = time.perf_counter()
        while True:
            idl.run()  # type: ignore[attr-defined]
            if idl.change_seqno != seq:  # type: ignore[attr-defined]
                break
            poller = ovs.poller.Poller()
            idl.wait(poller)  # type: ignore[attr-defined]
            poller.block()
        changes.append((time.perf_counter() - start) * 1000)
    show("one change: run() until the change is in", changes)
    idl.close()  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    version = subprocess.run(["ovsdb-server", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {version}")
    # SIGTERM/SIGHUP (a `timeout`, a closed terminal) raise, so the `finally` below stops the server.
    with signals_raise(), tempfile.TemporaryDirectory(prefix="vntbench-ovsdb") as d:
        sock = f"{d}/db.sock"
        subprocess.run(["ovsdb-tool", "create", f"{d}/conf.db", SCHEMA], check=True)
        subprocess.run(["ovsdb-server", f"{d}/conf.db", f"--remote=punix:{sock}", f"--pidfile={d}/pid",
                        f"--unixctl={d}/ctl", f"--log-file={d}/log", "--detach", "--no-chdir"], check=True,
                       capture_output=True)
        try:
            vsctl(sock, "init")
            cmd = ["add-br", "vntbr-int", "--", "set", "bridge", "vntbr-int", "datapath_type=netdev"]
            for i in range(args.ports):
                cmd += ["--", "add-port", "vntbr-int", f"vntp{i}", f"tag={i % 4000 + 1}",
                        "--", "set", "interface", f"vntp{i}", f"external_ids:iface-id=port-{i:08x}",
                        f"external_ids:attached-mac=fa:16:3e:00:{i >> 8 & 255:02x}:{i & 255:02x}",
                        f"external_ids:vm-uuid=vm-{i:08x}"]
            vsctl(sock, *cmd)
            print(f"ovsdb-server with 1 bridge, {args.ports} ports (each 1 interface, 3 external_ids)")
            bench_vnettop(sock, args.rounds)
            bench_source(sock, args.ports, args.rounds)
            bench_statistics(sock, args.ports, args.rounds)
            bench_idl(sock, args.rounds)
            runs = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "show"], check=True, capture_output=True)
                runs.append((time.perf_counter() - start) * 1000)
            print("what an operator runs:")
            show("ovs-vsctl show (whole process)", runs)
        finally:
            try:
                with open(f"{d}/pid") as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass  # never started, or already gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
