"""Container owners at scale: the Docker and Podman sources beside the kernel collect and `docker inspect`.

A private dockerd (the component fixture's: own data root, exec root and socket, no iptables, no docker0)
runs `--containers` busybox containers with `--network none` (each its own namespace, nothing on the
host's bridges). Measured, each several times, best and median:
- the Docker source: a first read (the list plus one inspect per container, within its 0.5 s budget;
  what the budget left is read from config.v2.json), a repeat read (the list only: inspected containers
  are remembered while their pid lives), a re-read while its data-root watch saw nothing (the kernel
  picture changed, docker did not: no request at all), and a read from config.v2.json alone (daemon down);
- the Podman source's read (every pid's /proc/PID/comm, then conmon's argv): first and repeat;
- the live collector's repeat collect without any source and with these two: the added share (target:
  owners add at most 10% to the repeat collect at 200 namespaces);
- what an operator runs instead: `docker inspect $(docker ps -q)` as whole processes.

    python3 benchmarks/bench_container_sources.py --containers 200
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import timing  # noqa: E402
from timing import times  # noqa: E402

from tests.components.base import component  # noqa: E402
from tests.components.docker import start_docker  # noqa: E402
from vnettop.collect.collector import LiveCollector  # noqa: E402
from vnettop.collect.sources.docker import DockerSource  # noqa: E402
from vnettop.collect.sources.podman import PodmanSource  # noqa: E402


def show(label: str, ms: list[float], note: str = "") -> None:
    timing.show(label, ms, note, width=52)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, kernel {platform.release()}, "
          f"python {platform.python_version()}")
    with component("docker") as comp:
        dk = start_docker(comp)
        names = []
        start = time.perf_counter()
        for i in range(args.containers):
            name = f"vnt{comp.tag}c{i}"  # a container name, not a device: no 15-byte limit
            comp.on_close(lambda n=name: subprocess.run(["docker", "-H", dk.host, "rm", "-f", n],
                                                        capture_output=True, check=False))
            dk.cli("run", "-d", "--network", "none", "--name", name, dk.image, "/bin/sleep", "3600")
            names.append(name)
        print(f"{args.containers} containers started in {time.perf_counter() - start:.1f} s")
        sock = dk.host[len("unix://"):]
        data = str(comp.dir / "data")

        bare = LiveCollector(sources=[])
        base = bare.collect()
        print(f"kernel picture: {len(base.namespaces)} namespaces, {len(base.links)} devices")

        def first_read() -> object:
            src = DockerSource("/", socket=sock, data_root=data)
            try:
                return src.read(base)
            finally:
                src.close()

        first = first_read()
        owners = [o for o in getattr(first, "owners", ()) if o.namespaces]
        print(f"docker source: {len(owners)} containers named on a namespace, "
              f"{len(getattr(first, 'errors', ()))} errors")
        show("docker source, first read (list + inspects)", times(first_read, args.repeat))
        kept = DockerSource("/", socket=sock, data_root=data)
        kept.read(base)
        show("docker source, repeat read (list only)", times(lambda: kept.read(base), args.repeat))
        kept.close()
        watched = DockerSource("/", socket=sock, data_root=data)
        watched.fileno()  # as the live loop does: the data root's watch
        watched.read(base)
        show("docker source, re-read, data root quiet (no request)", times(lambda: watched.read(base), args.repeat))
        watched.close()
        files = DockerSource("/", socket=str(comp.dir / "none.sock"), data_root=data)
        show("docker source, config.v2.json only (daemon down)", times(lambda: files.read(base), args.repeat))
        files.close()
        pod = PodmanSource("/")
        show("podman source, first read (every pid's comm)", times(lambda: PodmanSource("/").read(base), 3))
        pod.read(base)
        show("podman source, repeat read", times(lambda: pod.read(base), args.repeat))
        pod.close()

        bare.collect()
        plain = times(bare.collect, args.repeat)
        bare.close()
        both = LiveCollector(sources=[DockerSource("/", socket=sock, data_root=data), PodmanSource("/")])
        both.collect()
        enriched = times(both.collect, args.repeat)
        both.close()
        show("repeat collect, no source", plain)
        show("repeat collect, docker + podman sources", enriched,
             f"({(statistics.median(enriched) / statistics.median(plain) - 1) * 100:+.1f}% median; an idle "
             "host re-reads no source)")

        def cli() -> None:
            ids = dk.cli("ps", "-q").split()
            dk.cli("inspect", *ids)

        show("`docker inspect $(docker ps -q)` (what a user runs)", times(cli, 3))


if __name__ == "__main__":
    main()
