"""Podman (no daemon) with its CNI backend, private storage and run roots, and one busybox container.

Two traps (REAL-COMPONENTS.md): root here lacks CAP_SYS_RESOURCE, so containers.conf must lower
`default_ulimits`; and netavark cannot be told to leave the firewall alone, so the CNI backend is used
with a bridge-only conflist (`vnt...`, no firewall/portmap plugins) and host-local IPAM state kept in
the private directory. The container's namespace is still Podman's own `/run/netns/netns-<uuid>`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.components.base import Component, component, named_netns, need_binary, need_root, root_links, run
from tests.components.docker import busybox_tar


@dataclass
class PodmanContainer:
    comp: Component
    env: dict[str, str]
    id: str
    name: str
    pid: int
    netns: str  # netns-<uuid>, under /run/netns
    host_veth: str
    bridge: str


def _podman(comp: Component, env: dict[str, str], *args: str, timeout: float = 60) -> str:
    d = comp.dir
    return run(["podman", f"--root={d / 'storage'}", f"--runroot={d / 'run'}", "--storage-driver=vfs",
                "--cgroup-manager=cgroupfs", "--events-backend=none", *args], env=env, timeout=timeout).stdout


def start_podman_container(comp: Component) -> PodmanContainer:
    need_root("podman (root containers on a CNI bridge)")
    need_binary("podman", "podman")
    need_binary("conmon", "conmon")
    need_binary("bridge", "containernetworking-plugins")
    tar = busybox_tar(comp)
    d = comp.dir
    net, bridge = comp.name("pn"), comp.name("pb")
    comp.record_link(bridge)
    cni = d / "cni"
    cni.mkdir()
    (cni / f"{net}.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": net,
        "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": False, "ipMasq": False,
                     "hairpinMode": False,
                     "ipam": {"type": "host-local", "dataDir": str(d / "ipam"),
                              "ranges": [[{"subnet": "172.31.252.0/24"}]]}}]}))
    (d / "containers.conf").write_text(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "{cni}"
default_network = "{net}"
[engine]
tmp_dir = "{d / 'libpod'}"
events_logger = "none"
cgroup_manager = "cgroupfs"
runtime = "runc"
""")
    (d / "storage.conf").write_text(f'[storage]\ndriver = "vfs"\nrunroot = "{d / "run"}"\n'
                                    f'graphroot = "{d / "storage"}"\n')
    env = dict(os.environ, CONTAINERS_CONF=str(d / "containers.conf"),
               CONTAINERS_STORAGE_CONF=str(d / "storage.conf"), XDG_RUNTIME_DIR=str(d / "xdg"))
    # libcni keeps its result cache under /var/lib/cni whatever Podman is told.
    comp.record_path("/var/lib/cni")
    comp.record_path("/var/lib/containers")  # its blob-info cache, whatever --root says
    comp.record_path("/run/runc")  # runc's default state root under Podman
    image = f"localhost/vnt{comp.tag}bb:latest"
    _podman(comp, env, "import", str(tar), image)
    name = comp.name("pc")
    netns_before, links_before = named_netns(), root_links()
    comp.on_close(lambda: _podman(comp, env, "rm", "-f", "-t", "0", name))
    try:
        cid = _podman(comp, env, "run", "-d", "--name", name, "--network", net, image,
                      "/bin/sleep", "600").strip()
    finally:
        for ns in named_netns() - netns_before:
            if ns.startswith("netns-"):
                comp.record_netns(ns)
        for n in root_links() - links_before:
            if n.startswith(("veth", "podman")):
                comp.record_link(n)
    info = json.loads(_podman(comp, env, "inspect", cid))[0]
    pid = int(info["State"]["Pid"])
    sandbox = info["NetworkSettings"]["SandboxKey"]
    veths = [n for n in comp.links if n.startswith("veth")]
    assert len(veths) == 1, f"expected one new host veth, got {veths}"
    return PodmanContainer(comp, env, cid, name, pid, os.path.basename(sandbox), veths[0], bridge)


@pytest.fixture(scope="session")
def podman_container() -> Iterator[PodmanContainer]:
    with component("podman") as comp:
        yield start_podman_container(comp)


__all__ = ["PodmanContainer", "podman_container"]
