"""Docker owners from a real dockerd: the container's name, id and image on its namespace and host veth."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

import pytest

from tests.components.base import poll_until, root_links
from tests.components.docker import Docker, DockerContainer
from tests.components.snap import link_in
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.docker import DockerSource
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Owner, Snapshot

pytestmark = pytest.mark.kernel


def _settings(dk: Docker) -> dict[str, dict[str, str]]:
    return {"docker": {"socket": dk.host, "data_root": str(dk.comp.dir / "data")}}


@pytest.fixture
def collector(docker: Docker) -> Iterator[LiveCollector]:
    c = LiveCollector(sources=make_sources("/", _settings(docker)))
    yield c
    c.close()


def _owner(snap: Snapshot, cid: str) -> Owner:
    found = [o for o in snap.owners or () if o.runtime == "docker" and o.id == cid]
    assert len(found) == 1, f"docker owners: {[o for o in snap.owners or () if o.runtime == 'docker']}"
    return found[0]


def test_the_container_owns_its_namespace_and_host_veth(docker_container: DockerContainer,
                                                        collector: LiveCollector) -> None:
    c = docker_container
    snap = collector.collect()
    assert not [e for e in snap.errors if e.scope == "source docker"], snap.errors
    owner = _owner(snap, c.id)
    assert (owner.kind, owner.name, owner.source, owner.exact) == ("container", c.name, "docker.sock", True)
    assert dict(owner.details)["image"] == c.docker.image
    assert dict(owner.details)["sandbox"] == os.path.basename(c.netns_path)
    ns_ino = os.stat(f"/proc/{c.pid}/ns/net").st_ino
    assert owner.namespaces == (ns_ino,) and c.pid in owner.pids
    host = link_in(snap, c.host_veth)
    assert host.key in owner.links
    assert host.peer is not None and host.peer.key in owner.links  # eth0 inside


def test_a_stopped_daemon_still_names_it_from_config_v2_json(docker_container: DockerContainer) -> None:
    """The socket refusing (daemon down or restarting) is the config.v2.json reading; simulated by a
    socket path nobody listens on, while the data root is the live daemon's."""
    c = docker_container
    dead = c.docker.comp.dir / "dead.sock"
    src = DockerSource("/", socket=str(dead), data_root=str(c.docker.comp.dir / "data"))
    c2 = LiveCollector(sources=[src])
    try:
        snap = c2.collect()
    finally:
        c2.close()
    owner = _owner(snap, c.id)
    assert (owner.name, owner.source, owner.exact) == (c.name, "config.v2.json", True)
    assert link_in(snap, c.host_veth).key in owner.links


def test_a_started_container_fires_the_fd_and_shows_at_the_next_enrich(docker_container: DockerContainer,
                                                                        collector: LiveCollector) -> None:
    dk = docker_container.docker
    first = collector.collect()
    src = next(s for s in collector._sources.sources if s.name == "docker")
    fd = src.fileno()
    assert fd is not None
    name = dk.comp.name("d2")
    before = root_links()
    dk.comp.on_close(lambda: dk.cli("rm", "-f", name))
    cid = dk.cli("run", "-d", "--name", name, "--network", "bridge", dk.image, "/bin/sleep", "600").strip()
    for veth in root_links() - before:
        dk.comp.record_link(veth)
    try:
        poll_until(lambda: select.select([fd], [], [], 0)[0], timeout=10)
        snap = collector.collect()
        owner = _owner(snap, cid)
        assert owner.name == name and cid not in {o.id for o in first.owners or ()}
        root = snap.root
        assert root is not None
        host = [ln.name for ln in snap.links if ln.key in owner.links and ln.netns == root.inode]
        assert len(host) == 1 and host[0].startswith("veth"), host  # its host veth
    finally:
        dk.cli("rm", "-f", name)
