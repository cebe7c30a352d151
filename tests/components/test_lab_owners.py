"""`lab up` adds a real Docker container on the lab network (a private dockerd: DOCKER_HOST), vnettop names
it on its veth and namespace, and `lab down` removes the container, its image and its namespace name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.base import tag
from tests.components.docker import Docker
from tests.kernel.test_lab import host_state
from vnettop.actions import lab_owners
from vnettop.actions.lab import Lab, _no_snapshot
from vnettop.actions.mutator import Mutator
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.registry import make_sources

pytestmark = pytest.mark.kernel


@pytest.fixture
def lab(docker: Docker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Lab, list[str]]]:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("no static busybox (busybox-static) to make the lab's image from")
    monkeypatch.setenv("DOCKER_HOST", docker.host)
    lines: list[str] = []
    lab = Lab(f"vnt{tag()}L", state_dir=str(tmp_path / "state"), out=lines.append, programs=False, owners=True)
    try:
        yield lab, lines
    finally:
        lab.down(Mutator(False, None, snapshot_provider=_no_snapshot))


def test_lab_up_adds_a_named_container_and_down_removes_it(lab: tuple[Lab, list[str]], docker: Docker) -> None:
    the_lab, lines = lab
    before = host_state(the_lab.prefix)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    assert the_lab.up(mutator) == 0, "\n".join(lines)
    name = f"{the_lab.prefix}-web"
    assert docker.cli("ps", "--filter", f"name={name}", "--format", "{{.Names}}").split() == [name]
    ns_name = f"{the_lab.prefix}ctr-web"
    collector = LiveCollector(sources=make_sources("/", {"docker": {
        "socket": docker.host, "data_root": str(docker.comp.dir / "data")}}))
    try:
        snap = collector.collect()
    finally:
        collector.close()
    (owner,) = [o for o in snap.owners or () if o.runtime == "docker" and o.name == name]
    assert dict(owner.details)["image"] == lab_owners.IMAGE
    (ns,) = [n for n in snap.namespaces if ns_name in n.names]
    assert owner.namespaces == (ns.inode,)
    (compute,) = [n for n in snap.namespaces if f"{the_lab.prefix}-compute" in n.names]
    tap = [ln for ln in snap.links if ln.key in owner.links and ln.netns == compute.inode]
    assert len(tap) == 1 and tap[0].name.startswith("tap") and tap[0].master is not None
    assert tap[0].master.name is not None and tap[0].master.name.startswith("brq")
    eth0 = [ln for ln in snap.links if ln.key in owner.links and ln.netns == ns.inode]
    assert [ln.name for ln in eth0] == ["eth0"] and eth0[0].addresses[0] == lab_owners.ADDRESS

    assert the_lab.down(mutator) == 0, "\n".join(lines)
    assert docker.cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}").split() == []
    assert lab_owners.IMAGE.split(":")[0] not in docker.cli("images", "--format", "{{.Repository}}")
    assert not os.path.exists(f"/run/netns/{ns_name}")
    after = host_state(the_lab.prefix)
    assert after == before


def test_no_docker_is_one_line_and_the_lab_still_comes_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody.sock'}")
    lines: list[str] = []
    lab = Lab(f"vnt{tag()}L", state_dir=str(tmp_path / "state"), out=lines.append, programs=False, owners=True)
    mutator = Mutator(False, None, snapshot_provider=_no_snapshot)
    try:
        assert lab.up(mutator) == 0, "\n".join(lines)
        notes = [line for line in lines if "no container" in line]
        assert len(notes) == 1 and "docker" in notes[0], lines
    finally:
        assert lab.down(mutator) == 0
