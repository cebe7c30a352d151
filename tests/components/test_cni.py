"""A pod network made by the CNI bridge plugin: the host veth's peer resolves into `cni-<uuid>`."""

from __future__ import annotations

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
