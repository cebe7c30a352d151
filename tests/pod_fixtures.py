"""A Kubernetes node's base picture and the recorded trees the `cri` and `cgroups` sources read over it.

The trees are tests/data/sources/cri (containerd task bundles under run/containerd, CRI-O userdata under
run/containers/storage and var/lib/containers/storage) and tests/data/sources/cgroups (/proc/PID/stat and
cgroup files, an Incus instance directory); their README.md files say what each entry stands for. The
picture below holds the namespaces and devices those trees name:

- pod `default/web-0` (containerd) in `cni-<uuid>`, its host veth named as Calico names it;
- pod `prod/db-0` (containerd) in a namespace with no name (found by the sandbox's init.pid), whose host
  veth is a `cali…` device with another pod's hash;
- pod `shop/api-…` (CRI-O) in a pinns namespace `<uuid>`, its host veth from the bridge plugin;
- pod `kube-system/kube-proxy-…` on the host network (its pause is a root-namespace process);
- a Docker container (systemd scope, and one more through cgroup v1 lines), a rootless Podman container,
  Incus containers (default and `dev` project), a plain LXC container, a systemd service with its own
  namespace, a login shell's `unshare -n` namespace, and a namespace whose process is gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vnettop.collect.sources.calico import veth_name
from vnettop.model import Host, Link, LinkRef, Namespace, Snapshot

DATA = Path(__file__).parent / "data" / "sources"
ROOT = 4026531840
POD_A, POD_C, POD_E = 4026533001, 4026533003, 4026533005
DOCKER, PODMAN, LXC, LXC_DEV, LXC_PLAIN, SERVICE, SESSION, DOCKER_V1, GONE = range(4026533011, 4026533020)

A, A2, B, C, G, E, E2 = ("a1" * 32, "a2" * 32, "b1" * 32, "c1" * 32, "d1" * 32, "e1" * 32, "e2" * 32)
UA, UB, UC, UE = ("5b2a1c3e-8f4d-4e6a-9b7c-1d2e3f405162", "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f",
                  "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918", "3f1e2d4c-5b6a-4798-8a6b-5c4d3e2f1a0b")
NETNS_A = "cni-7f3e9a52-1c4b-4d8e-a6f0-2b9c8d7e6a51"
NETNS_E = "4d2c8a1e-9b7f-4e3d-a1c5-6f0e2d9b8a73"
DOCKER_ID, PODMAN_ID, DOCKER_V1_ID = "3d" * 32, "4e" * 32, "5f" * 32
CALI_A = veth_name("default", "web-0")
CALI_WRONG = "cali0123456789a"
TASKS = "run/containerd/io.containerd.runtime.v2.task/k8s.io"


def _link(netns: int, ifindex: int, name: str, kind: str = "veth", **kw: object) -> Link:
    return Link(netns, ifindex, name, kind, f"0a:58:0a:f4:{netns % 256:02x}:{ifindex:02x}", 1450, True, "up",
                **kw)  # type: ignore[arg-type]


def _pair(host_ifindex: int, host_name: str, inside: int) -> tuple[Link, Link]:
    return (_link(ROOT, host_ifindex, host_name, peer=LinkRef(inside, 2, "eth0")),
            _link(inside, 2, "eth0", peer=LinkRef(ROOT, host_ifindex, host_name)))


def node_snapshot() -> Snapshot:
    namespaces = (
        Namespace(ROOT, (), True, (1, 1500)),
        Namespace(POD_A, (NETNS_A,), False, (2001, 2002)),
        Namespace(POD_C, (), False, (2201,)),
        Namespace(POD_E, (NETNS_E,), False, (2101, 2102)),
        Namespace(DOCKER, (), False, (2301,)),
        Namespace(PODMAN, (), False, (2401,)),
        Namespace(LXC, (), False, (2501,)),
        Namespace(LXC_DEV, (), False, (2551,)),
        Namespace(LXC_PLAIN, (), False, (2561,)),
        Namespace(SERVICE, (), False, (2601,)),
        Namespace(SESSION, ("mine",), False, (2701,)),
        Namespace(DOCKER_V1, (), False, (2801,)),
        Namespace(GONE, (), False, (2901,)),
    )
    links = [_link(ROOT, 1, "lo", "loopback"), _link(ROOT, 2, "eth0", "device")]
    for ns in (POD_A, POD_C, POD_E, DOCKER):
        links.append(_link(ns, 1, "lo", "loopback"))
    for host_ifindex, name, inside in ((10, CALI_A, POD_A), (11, CALI_WRONG, POD_C), (12, "veth3a9c01f2", POD_E),
                                       (13, "veth1d2e3f4", DOCKER)):
        links.extend(_pair(host_ifindex, name, inside))
    links.sort(key=lambda link: link.key)
    return Snapshot(Host("node-1", "6.18.0"), namespaces, tuple(links))


def tree(tmp_path: Path, name: str) -> Path:
    """A copy of the recorded tree `name` (cri, cgroups) under tmp_path, to read or to spoil."""
    root = tmp_path / name
    shutil.copytree(DATA / name, root, ignore=shutil.ignore_patterns("README.md"))
    return root
