"""Podman: a real container on a CNI bridge; its host veth's peer is in Podman's `netns-<uuid>`."""

from __future__ import annotations

import os

import pytest

from tests.components.podman import PodmanContainer
from tests.components.snap import collect, link_in, namespace

pytestmark = pytest.mark.kernel


def test_container_veth_peer_resolves_into_netns_uuid(podman_container: PodmanContainer) -> None:
    c = podman_container
    assert c.netns.startswith("netns-")
    ns_ino = os.stat(f"/run/netns/{c.netns}").st_ino
    assert os.stat(f"/proc/{c.pid}/ns/net").st_ino == ns_ino
    snap = collect()
    ns = namespace(snap, ns_ino)
    assert c.netns in ns.names and c.pid in ns.pids
    host = link_in(snap, c.host_veth)
    assert host.master is not None and host.master.name == c.bridge
    assert host.peer is not None and host.peer.netns == ns_ino
    inner = snap.link(host.peer.netns, host.peer.ifindex)
    assert inner is not None and inner.name == "eth0" and inner.peer is not None
    assert (inner.peer.netns, inner.peer.ifindex) == (host.netns, host.ifindex)
    assert any(a.startswith("172.31.252.") for a in inner.addresses), inner.addresses
