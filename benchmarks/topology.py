"""A realistic virtual-network topology of N namespaces for benchmarks, built fast and torn down surely.

Per namespace i (named `vntbm<tag>n<i>`): lo up; a veth pair crossing to root (`vntbm<tag>e` inside,
`vntbm<tag>r<i>` in root, every other root end a port of one of a few root bridges `vntbm<tag>b<j>`);
a veth pair to the next namespace in a ring (`vntbm<tag>x` here, `vntbm<tag>y` there), so each namespace
has 4 links, as in KERNEL-NOTES' measurements. Plus taps held by processes (holders.py: root taps
enslaved to the bridges, like VM NICs; tuns inside namespaces, like VPNs), and a few hundred idle
`sleep` processes (some inside the namespaces) so /proc scans are as large as on a real host.

Every object carries the prefix `vntbm` + 4 hex (the `m` is not a hex digit, so the prefix can never
match a test kit's `vnt<4 hex>` names and `--cleanup` never touches other people's objects).

Use as a context manager (`with Topology(200) as topo:`) or from the command line:
    python3 benchmarks/topology.py --namespaces 200 --hold     # build, wait for Ctrl-C, tear down
    python3 benchmarks/topology.py --cleanup                   # remove leftovers of crashed runs
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType, TracebackType

PREFIX = "vntbm"
HERE = os.path.dirname(os.path.abspath(__file__))
HOLDERS = os.path.join(HERE, "holders.py")
#: The checkout the benchmarks belong to, and an environment that imports vnettop from it.
REPO_ROOT = os.path.dirname(HERE)
REPO_ENV = {**os.environ, "PYTHONPATH": REPO_ROOT + (os.pathsep + os.environ["PYTHONPATH"]
                                                     if os.environ.get("PYTHONPATH") else "")}


def run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    # surrogateescape: other people's tests name devices with bytes that are not UTF-8
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, errors="surrogateescape")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return proc.stdout


class Interrupted(BaseException):
    """Raised from a signal handler so that `finally` blocks run on SIGTERM/SIGHUP too."""


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception (SIGINT already is one) for the duration."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Topology:
    """N namespaces with veths, bridges, held taps/tuns and idle processes; removed on exit."""

    def __init__(self, namespaces: int, bridges: int = 4, root_taps: int = 8, ns_tuns: int = 8,
                 holders: int = 4, idle: int = 300, idle_in_ns: int | None = None) -> None:
        self.n = namespaces
        self.tag = secrets.token_hex(2)
        self.prefix = f"{PREFIX}{self.tag}"
        self.n_bridges = bridges if namespaces else 0
        self.n_root_taps = root_taps
        self.n_ns_tuns = min(ns_tuns, namespaces)
        self.n_holders = max(1, holders)
        self.n_idle = idle
        # One sleeper in every 4th namespace by default, like a handful of containers.
        self.n_idle_in_ns = (namespaces + 3) // 4 if idle_in_ns is None else idle_in_ns
        self.namespaces = [f"{self.prefix}n{i}" for i in range(namespaces)]
        self.bridges = [f"{self.prefix}b{j}" for j in range(self.n_bridges)]
        self.root_taps = [f"{self.prefix}t{k}" for k in range(root_taps)]
        self.procs: list[subprocess.Popen[str]] = []
        self.pgid_file = f"/tmp/{self.prefix}.pgids"
        self.build_seconds = 0.0
        self.teardown_seconds = 0.0

    # -- names ----------------------------------------------------------------------------------

    def root_end(self, i: int) -> str:
        return f"{self.prefix}r{i}"

    @property
    def ns_end(self) -> str:
        return f"{self.prefix}e"

    # -- building -------------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        self._signals = signals_raise()
        self._signals.__enter__()
        try:
            self.build()
        except BaseException:
            self.teardown()
            self._signals.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.teardown()
        finally:
            self._signals.__exit__(None, None, None)

    def build(self) -> None:
        t0 = time.monotonic()
        with open(self.pgid_file, "w"):
            pass  # exists from the start, so --cleanup can find a run that crashed mid-build
        root = [f"netns add {ns}" for ns in self.namespaces]
        root += [f"link add {br} type bridge" for br in self.bridges]
        run(["ip", "-batch", "-"], stdin="\n".join(root) + "\n")
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self._build_ns, range(self.n)))
        self._start_holders()
        # A veth peer created straight into another namespace comes up down whatever the request says
        # (measured here), and the namespace tuns are made down: bring them up from inside.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self._finish_ns, range(self.n)))
        lines = [f"link set {br} up" for br in self.bridges]
        for i in range(self.n):
            master = f" master {self.bridges[(i // 2) % len(self.bridges)]}" if i % 2 == 0 else ""
            lines.append(f"link set {self.root_end(i)} up{master}")
        for k, tap in enumerate(self.root_taps):
            master = f" master {self.bridges[k % len(self.bridges)]}" if self.bridges else ""
            lines.append(f"link set {tap} up{master}")
        run(["ip", "-batch", "-"], stdin="\n".join(lines) + "\n")
        self.build_seconds = time.monotonic() - t0

    def _build_ns(self, i: int) -> None:
        ns = self.namespaces[i]
        nxt = self.namespaces[(i + 1) % self.n]
        lines = [
            "link set lo up",
            f"link add {self.ns_end} up type veth peer name {self.root_end(i)} netns {os.getpid()}",
        ]
        if nxt != ns:
            lines.append(f"link add {self.prefix}x up type veth peer name {self.prefix}y netns {nxt}")
        else:
            lines.append(f"link add {self.prefix}x up type veth peer name {self.prefix}y")
        run(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(lines) + "\n")

    def _finish_ns(self, i: int) -> None:
        lines = [f"link set {self.prefix}y up"]
        if self.namespaces[i] in self.tun_namespaces:
            lines.append(f"link set {self.prefix}u up")
        run(["ip", "-n", self.namespaces[i], "-batch", "-"], stdin="\n".join(lines) + "\n")

    @property
    def tun_namespaces(self) -> list[str]:
        """The namespaces holding a tun (`<prefix>u`), spread evenly over the ring."""
        step = max(1, self.n // max(1, self.n_ns_tuns))
        return [self.namespaces[j * step] for j in range(self.n_ns_tuns)]

    def _start_holders(self) -> None:
        specs = [f"{tap}:tap:-" for tap in self.root_taps]
        specs += [f"{self.prefix}u:tun:/run/netns/{ns}" for ns in self.tun_namespaces]
        groups = [specs[h::self.n_holders] for h in range(self.n_holders)]
        idle_ns = [f"/run/netns/{self.namespaces[j * 4]}" for j in range(min(self.n_idle_in_ns, self.n))
                   if j * 4 < self.n]
        argvs = [["tun", *g] for g in groups if g] + [["idle", str(self.n_idle), *idle_ns]]
        for args in argvs:
            proc = subprocess.Popen([sys.executable, HOLDERS, *args], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, start_new_session=True)
            self.procs.append(proc)
            with open(self.pgid_file, "a") as f:
                f.write(f"{proc.pid}\n")
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("ready"):
                raise RuntimeError(f"holder {proc.args} failed to start (exit {proc.poll()})")

    # -- what was built -------------------------------------------------------------------------

    @property
    def expected(self) -> dict[str, int]:
        """What a correct collector must see of ours: prefixed links, veth ends with a peer, held taps/tuns."""
        return {"links": 4 * self.n + len(self.bridges) + self.n_root_taps + self.n_ns_tuns,
                "peers": 4 * self.n, "held": self.n_root_taps + self.n_ns_tuns, "namespaces": self.n}

    @property
    def holder_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def summary(self) -> str:
        return (f"{self.n} namespaces ({self.prefix}n*), {len(self.bridges)} root bridges, "
                f"{2 * self.n} veth pairs, {self.n_root_taps} root taps + "
                f"{self.n_ns_tuns} namespace tuns held by {self.n_holders} processes, "
                f"{self.n_idle} idle processes ({min(self.n_idle, self.n_idle_in_ns)} in namespaces); "
                f"built in {self.build_seconds:.2f} s")

    # -- removing -------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove everything this run made. Never raises; safe to call twice."""
        for proc in self.procs:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass
            _killpg(proc.pid)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        t0 = time.monotonic()
        remove_prefixed(self.prefix, [self.pgid_file])
        self.teardown_seconds = time.monotonic() - t0


def cpu_busy(seconds: float = 1.0) -> float:
    """% of all CPUs busy over `seconds` (from /proc/stat): other people's load on this shared host."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + vals[4]  # idle + iowait
        return sum(vals), idle

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_quiet(max_wait: float, own_prefix: str = PREFIX, max_foreign: int = 20,
               max_busy: float = 25.0) -> str:
    """Wait (at most `max_wait` s) until few foreign namespaces exist and the CPUs are mostly idle.

    Other engineers run kernel tests on this host at the same time; figures taken while they build a
    few hundred namespaces measure them, not us. Returns a line saying what the host looked like.
    """
    deadline = time.monotonic() + max_wait
    while True:
        names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        foreign = sum(1 for n in names if not n.startswith(own_prefix))
        busy = cpu_busy(1.0)
        quiet = foreign <= max_foreign and busy <= max_busy
        if quiet or time.monotonic() >= deadline:
            return (f"host {'quiet' if quiet else 'NOT quiet (gave up waiting)'}: {foreign} foreign "
                    f"named namespaces, CPUs {busy:.0f}% busy")
        time.sleep(2.0)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _root_links(prefix: str) -> list[str]:
    out = run(["ip", "-o", "link", "show"], check=False)
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            dev = parts[1].strip().split("@")[0]
            if dev.startswith(prefix):
                names.append(dev)
    return names


def _group_is_ours(pgid: int) -> bool:
    """True if some process of group `pgid` is one of our helpers (holders.py, or a `sleep infinity`).

    A pgid file may outlive its run (a crash, then a reboot): its numbers may since name someone else's
    process group, which `--cleanup` must not kill.
    """
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat_path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            with open(stat_path[:-4] + "cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if argv[:2] == [b"sleep", b"infinity"] or (len(argv) > 1 and argv[1] == HOLDERS.encode()):
            return True
    return False


def _pgid_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def remove_prefixed(prefix: str, pgid_files: Sequence[str]) -> None:
    """Kill the recorded process groups, delete namespaces and root links whose names start with `prefix`.

    Namespace deletion is asynchronous in the kernel (veth ends left in root go away a little later),
    so this polls until no root link with the prefix is left, deleting stragglers itself.
    """
    for path in pgid_files:
        try:
            with open(path) as f:
                pgids = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pgids = []
        pgids = [p for p in pgids if _group_is_ours(p)]
        for pgid in pgids:
            _killpg(pgid)
        deadline = time.monotonic() + 5
        while any(_pgid_alive(p) for p in pgids) and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            os.unlink(path)
        except OSError:
            pass
    names = [e for e in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
             if e.startswith(prefix)]
    for ns in names:  # processes left inside our namespaces (should be none after killpg)
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    bridge = re.compile(rf"^{PREFIX}[0-9a-f]{{4}}b\d+$")
    lines = [f"link del {dev}" for dev in _root_links(prefix) if bridge.match(dev)]
    lines += [f"netns del {ns}" for ns in names]
    if lines:
        run(["ip", "-force", "-batch", "-"], stdin="\n".join(lines) + "\n", check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = _root_links(prefix)
        if not left:
            break
        if time.monotonic() > deadline - 15:  # give the kernel's namespace cleanup a few seconds first
            run(["ip", "-force", "-batch", "-"], stdin="".join(f"link del {d}\n" for d in left), check=False)
        time.sleep(0.1)


def cleanup_all() -> None:
    """Sweep leftovers of every earlier run of these benchmarks (prefix `vntbm`), nothing else."""
    remove_prefixed(PREFIX, glob.glob(f"/tmp/{PREFIX}*.pgids"))
    # Orphaned helpers whose pgid file was lost: our holders.py processes, recognised by argv.
    for pid_dir in glob.glob("/proc/[0-9]*"):
        try:
            with open(f"{pid_dir}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == HOLDERS.encode() and argv[0] == sys.executable.encode():
            _killpg(int(pid_dir.rsplit("/", 1)[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespaces", "-n", type=int, default=50)
    ap.add_argument("--hold", action="store_true", help="keep the topology until Ctrl-C / SIGTERM")
    ap.add_argument("--cleanup", action="store_true", help=f"remove leftovers of earlier runs ({PREFIX}*)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    if args.cleanup:
        cleanup_all()
        print(f"removed leftovers named {PREFIX}*")
        return 0
    t0 = time.monotonic()
    with Topology(args.namespaces) as topo:
        print(topo.summary(), flush=True)
        if args.hold:
            try:
                while True:
                    time.sleep(3600)
            except (KeyboardInterrupt, Interrupted):
                pass
    print(f"torn down in {topo.teardown_seconds:.2f} s; total {time.monotonic() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
