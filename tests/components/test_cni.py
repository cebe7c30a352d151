"""A pod network made by the CNI bridge plugin: the host veth's peer resolves into `cni-<uuid>`."""

from __future__ import annotations

import json
import os

import pytest

from tests.components.cni import CniPod
from tests.components.snap import collect, link_in, namespace

pytestmark = pytest.mark.kernel


def test_pod_veth_peer_resolves_into_cni_namespace(cni_pod: CniPod) -> None:
    p = cni_pod
    ns_ino = os.stat(f"/run/netns/{p.netns}").st_ino
    snap = collect()
    ns = namespace(snap, ns_ino)
    assert p.netns in ns.names and p.pause_pid in ns.pids
    host = link_in(snap, p.host_veth)
    assert host.master is not None and host.master.name == p.bridge
    assert host.peer is not None and host.peer.netns == ns_ino
    inner = snap.link(host.peer.netns, host.peer.ifindex)
    assert inner is not None and inner.name == "eth0"
    assert p.address in inner.addresses, (p.address, inner.addresses)
    bridge = link_in(snap, p.bridge)
    assert bridge.bridge is not None and host.ifindex in bridge.bridge.ports


def test_sandbox_task_carries_the_pod_identity_in_its_oci_config(cni_pod: CniPod) -> None:
    """Where an owner reader finds the pod (checks the fixture for its users): the CRI annotations."""
    p = cni_pod
    config = json.loads(p.oci_config.read_text())
    ann = config["annotations"]
    assert ann["io.kubernetes.cri.sandbox-name"] == p.pod_name
    assert ann["io.kubernetes.cri.sandbox-namespace"] == p.pod_namespace
    assert ann["io.kubernetes.cri.sandbox-uid"] == p.pod_uid
    netns = next(n for n in config["linux"]["namespaces"] if n["type"] == "network")
    assert netns["path"] == f"/run/netns/{p.netns}"
    assert os.stat(f"/proc/{p.pause_pid}/ns/net").st_ino == os.stat(f"/run/netns/{p.netns}").st_ino
