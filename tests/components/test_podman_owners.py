"""Podman owners from a real Podman container: conmon's argv names it on its namespace and host veth."""

from __future__ import annotations

import os

import pytest

from tests.components.podman import PodmanContainer
from tests.components.snap import link_in
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.registry import make_sources

pytestmark = pytest.mark.kernel


def test_the_container_owns_its_namespace_and_host_veth(podman_container: PodmanContainer) -> None:
    c = podman_container
    collector = LiveCollector(sources=make_sources("/"))
    try:
        snap = collector.collect()
    finally:
        collector.close()
    assert not [e for e in snap.errors if e.scope == "source podman"], snap.errors
    found = [o for o in snap.owners or () if o.runtime == "podman" and o.id == c.id]
    assert len(found) == 1, [o for o in snap.owners or () if o.runtime == "podman"]
    owner = found[0]
    assert (owner.kind, owner.name, owner.source, owner.exact) == ("container", c.name, "conmon cmdline", True)
    details = dict(owner.details)
    assert details["netns"] == c.netns and details["oci_runtime"] == "runc"
    assert c.id in details["state"]  # Podman's own pid file vouched
    ns_ino = os.stat(f"/run/netns/{c.netns}").st_ino
    assert owner.namespaces == (ns_ino,) and c.pid in owner.pids
    host = link_in(snap, c.host_veth)
    assert host.key in owner.links and host.peer is not None and host.peer.key in owner.links
