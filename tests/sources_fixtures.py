"""Base pictures (kernel snapshots) and fixture trees the source tests run over.

`openstack_snapshot()` is a Neutron host as its agents name things: a router namespace with its
interface, gateway and HA ports, the same router's DVR SNAT namespace, a DHCP namespace and its port,
a Linux-bridge network bridge, a hybrid-plug port (tap, qbr, qvb/qvo), an OVN metadata namespace, and
devices whose names only look alike (`tap0`, `vnet3`, `tapdeadbeef-0`, `qvoZZZZZZZZ-zz`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.pod_fixtures import node_snapshot
from vnettop.demo import demo_snapshot
from vnettop.model import Host, Link, LinkRef, Namespace, Process, Snapshot

ROOT, QROUTER, SNAT, QDHCP, OVNMETA = 4026531840, 4026532001, 4026532002, 4026532003, 4026532004
ROUTER = "5f0c2a9e-1b7d-4c3e-9a8f-2d6b4e1c7a90"
NETWORK = "ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"
META_NET = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#: Recorded file trees, one per source name (tests/data/sources/<name>/ is that source's root).
DATA = Path(__file__).parent / "data" / "sources"


def _link(netns: int, ifindex: int, name: str, kind: str = "veth", **kw: object) -> Link:
    mac = f"fa:16:3e:00:00:{ifindex:02x}"
    return Link(netns, ifindex, name, kind, mac, 1450, True, "up", **kw)  # type: ignore[arg-type]


def openstack_snapshot() -> Snapshot:
    namespaces = (
        Namespace(ROOT, (), True, (1, 4242), (Process(4242, "qemu-kvm", "qemu-kvm -name guest=vm-1", "qemu"),)),
        Namespace(QROUTER, (f"qrouter-{ROUTER}",), False, (900,)),
        Namespace(SNAT, (f"snat-{ROUTER}",), False, ()),
        Namespace(QDHCP, (f"qdhcp-{NETWORK}",), False, (901,)),
        Namespace(OVNMETA, (f"ovnmeta-{META_NET}",), False, ()),
    )
    links = (
        _link(ROOT, 1, "lo", "loopback"),
        _link(ROOT, 2, "tap1ec9dbb7-e7", "tap"),
        _link(ROOT, 3, "qbr1ec9dbb7-e7", "bridge"),
        _link(ROOT, 4, "qvb1ec9dbb7-e7", peer=LinkRef(ROOT, 5, "qvo1ec9dbb7-e7")),
        _link(ROOT, 5, "qvo1ec9dbb7-e7", peer=LinkRef(ROOT, 4, "qvb1ec9dbb7-e7")),
        _link(ROOT, 6, "brqba48a3fc-7a", "bridge"),
        _link(ROOT, 7, "tapc0ffee00-11", peer=LinkRef(QDHCP, 2, "ns-c0ffee00-11")),
        _link(ROOT, 8, "tap0", "tap"),
        _link(ROOT, 9, "vnet3", "tap"),
        _link(ROOT, 10, "tapdeadbeef-0", "tap"),
        _link(ROOT, 11, "qvoZZZZZZZZ-zz"),
        _link(QROUTER, 2, "qr-aaaa1111-22", "device"),
        _link(QROUTER, 3, "qg-bbbb2222-33", "device"),
        _link(QROUTER, 4, "ha-cccc3333-44", "device"),
        _link(SNAT, 2, "sg-dddd4444-55", "device"),
        _link(QDHCP, 2, "ns-c0ffee00-11", peer=LinkRef(ROOT, 7, "tapc0ffee00-11")),
        _link(OVNMETA, 2, "tap0a1b2c3d-40"),
    )
    return Snapshot(Host("compute-1", "6.18.0"), namespaces, links)


def base_pictures() -> dict[str, Snapshot]:
    """Every base picture a source must cope with: none at all, the demo world, an OpenStack host, a
    Kubernetes node (tests/pod_fixtures.py)."""
    return {"empty": Snapshot(Host("h", "k"), (Namespace(ROOT, (), True, ()),), ()),
            "demo": demo_snapshot(), "openstack": openstack_snapshot(), "k8s-node": node_snapshot()}


def fixture_root(tmp_path: Path, source_name: str) -> Path:
    """The file tree a source reads under (its fixture data for `source_name`, under tmp_path)."""
    root = tmp_path / "root"
    recorded = DATA / source_name
    if recorded.is_dir() and not root.exists():  # a source's recorded tree, when it has one
        shutil.copytree(recorded, root, symlinks=True)
    root.mkdir(exist_ok=True)
    return root
