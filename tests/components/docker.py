"""A private dockerd (its own data-root, exec-root, pid file and socket) and one busybox container.

dockerd is told to leave the host alone: `--iptables=false` (else it sets FORWARD's policy to DROP, which
with br_netfilter on cuts every Linux bridge on the host), `--ip-forward=false`, `--ip-masq=false`, and
`--bridge` names a Linux bridge the fixture made (`vnt...`), so `docker0` is never created. The image is a
busybox-static rootfs fed to `docker import`: no registry is needed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.base import Component, component, need_binary, need_root, poll_until, root_links, run


def busybox_tar(comp: Component) -> Path:
    """A tarball of a one-binary rootfs: /bin/busybox (static) and /bin/sh -> busybox."""
    busybox = need_binary("busybox", "busybox-static")
    rootfs = comp.dir / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in ("sh", "sleep"):
        os.symlink("busybox", rootfs / "bin" / applet)
    tar = comp.dir / "busybox.tar"
    run(["tar", "-C", str(rootfs), "-cf", str(tar), "."])
    return tar


@dataclass
class Docker:
    comp: Component
    host: str  # unix:///... for `docker -H`
    pid: int
    bridge: str
    exec_root: Path
    image: str
    had_docker0: bool

    def cli(self, *args: str, timeout: float = 60) -> str:
        return run(["docker", "-H", self.host, *args], timeout=timeout).stdout


@dataclass
class DockerContainer:
    docker: Docker
    id: str
    name: str
    pid: int
    netns_path: str  # SandboxKey: where dockerd bind-mounted the container's namespace
    host_veth: str


def start_docker(comp: Component) -> Docker:
    need_root("dockerd")
    need_binary("dockerd", "docker.io")
    need_binary("docker", "docker.io")
    tar = busybox_tar(comp)
    d = comp.dir
    bridge = comp.name("db")
    comp.record_link(bridge)
    run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "addr", "add", "172.31.251.1/24", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    had_docker0 = "docker0" in root_links()
    if not had_docker0:
        comp.record_link("docker0")  # must never appear; removed if it does (and the test says so)
    # Paths dockerd 20.10 hard-wires whatever its flags say.
    for path in ("/run/docker", "/run/containerd", "/run/runc", "/etc/docker/key.json", "/var/lib/containers"):
        comp.record_path(path)
    (d / "daemon.json").write_text("{}")
    sock = d / "docker.sock"
    comp.spawn(["dockerd", f"--config-file={d / 'daemon.json'}", f"--data-root={d / 'data'}",
                f"--exec-root={d / 'exec'}", f"--pidfile={d / 'docker.pid'}", f"--host=unix://{sock}",
                f"--bridge={bridge}", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--userland-proxy=false", "--storage-driver=vfs", "--log-level=warn"],
               log="dockerd.log")
    pid = comp.wait_pidfile(d / "docker.pid", timeout=30)
    host = f"unix://{sock}"
    poll_until(lambda: run(["docker", "-H", host, "version"], check=False).returncode == 0, timeout=30)
    image = f"vnt{comp.tag}bb:latest"
    run(["docker", "-H", host, "import", str(tar), image])
    return Docker(comp, host, pid, bridge, d / "exec", image, had_docker0)


def run_container(dk: Docker) -> DockerContainer:
    name = dk.comp.name("dc")
    before = root_links()
    dk.comp.on_close(lambda: run(["docker", "-H", dk.host, "rm", "-f", name], check=False))
    cid = dk.cli("run", "-d", "--name", name, "--network", "bridge", dk.image, "/bin/sleep", "600").strip()
    info = json.loads(dk.cli("inspect", cid))[0]
    pid = int(info["State"]["Pid"])
    sandbox = info["NetworkSettings"]["SandboxKey"]
    new = [n for n in root_links() - before if n.startswith("veth")]
    for n in new:
        dk.comp.record_link(n)
    assert len(new) == 1, f"expected one new host veth, got {new}"
    return DockerContainer(dk, cid, name, pid, sandbox, new[0])


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    with component("docker") as comp:
        yield start_docker(comp)


@pytest.fixture(scope="session")
def docker_container(docker: Docker) -> DockerContainer:
    return run_container(docker)


__all__ = ["Docker", "DockerContainer", "docker", "docker_container", "start_docker"]
