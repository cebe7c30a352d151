"""The Docker source over recorded replies and config.v2.json files, and over a daemon that misbehaves."""

from __future__ import annotations

import copy
import json
import select
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.container_fixtures import (
    ROOT,
    SIDECAR_PID,
    WEB_EXEC_PID,
    WEB_ID,
    WEB_NS,
    WEB_PID,
    FakeDaemon,
    api_replies,
    container_snapshot,
    docker_tree,
    refusing_socket,
)
from tests.pure.test_sources_contract import outside, paths_touched
from vnettop.collect.sources import scope
from vnettop.collect.sources.docker import TIMEOUT, DockerSource
from vnettop.collect.sources.enrich import SourceSet, apply
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Owner


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return docker_tree(tmp_path / "root")


@pytest.fixture
def daemon(root: Path) -> Iterator[FakeDaemon]:
    d = FakeDaemon(root / "run" / "docker.sock", api_replies())
    yield d
    d.close()


def _web(owners: tuple[Owner, ...] | None) -> Owner:
    assert owners is not None
    found = [o for o in owners if o.id == WEB_ID]
    assert len(found) == 1, owners
    return found[0]


def _check_web(owner: Owner, source: str) -> None:
    assert (owner.kind, owner.name, owner.runtime, owner.source, owner.exact) == (
        "container", "web", "docker", source, True)
    details = dict(owner.details)
    assert details["image"] == "busybox:latest"
    assert details["sandbox"] == "3f32dac4f1b6"
    assert details["ip"] == "172.31.251.2/24" and details["mac"] == "02:42:ac:1f:fb:02"
    assert owner.namespaces == (WEB_NS,)
    # eth0 inside, its host veth end; not lo, not the other container's or unrelated devices
    assert owner.links == ((ROOT, 5), (WEB_NS, 2))
    # the main pid and its `docker exec`; not the process of another container sharing the namespace
    assert owner.pids == (WEB_PID, WEB_EXEC_PID) and SIDECAR_PID not in owner.pids


def test_the_engine_api_names_the_container(root: Path, daemon: FakeDaemon) -> None:
    src = DockerSource(str(root))
    try:
        part = src.read(container_snapshot())
    finally:
        src.close()
    assert part.errors == ()
    _check_web(_web(part.owners), "docker.sock")
    assert daemon.requests == ["/containers/json", f"/containers/{WEB_ID}/json"]


def test_an_inspected_container_is_not_asked_again_while_its_pid_lives(root: Path, daemon: FakeDaemon) -> None:
    src = DockerSource(str(root))
    snap = container_snapshot()
    src.read(snap)
    part = src.read(snap)
    src.close()
    _web(part.owners)
    assert daemon.requests == ["/containers/json", f"/containers/{WEB_ID}/json", "/containers/json"]


def test_no_socket_reads_config_v2_json_silently(root: Path) -> None:
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    assert part.errors == ()
    _check_web(_web(part.owners), "config.v2.json")
    assert [o.name for o in part.owners or ()] == ["web"]  # the stopped `old-job` owns nothing


def _one_error(errors: tuple[object, ...], *words: str) -> str:
    assert len(errors) == 1, errors
    text = str(getattr(errors[0], "message", ""))
    assert getattr(errors[0], "scope", None) == scope("docker")
    assert "\n" not in text
    for word in words:
        assert word in text, text
    return text


def test_a_daemon_mid_restart_falls_back_to_the_files_and_says_so(root: Path) -> None:
    refusing_socket(root / "run" / "docker.sock")
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    _one_error(part.errors, str(root / "run" / "docker.sock"), "connection refused", "config.v2.json")
    _check_web(_web(part.owners), "config.v2.json")


def test_a_hung_daemon_costs_at_most_the_budget(root: Path, daemon: FakeDaemon) -> None:
    daemon.mode = "hang"
    snap = container_snapshot()
    src = DockerSource(str(root))
    start = time.monotonic()
    part = src.read(snap)
    took = time.monotonic() - start
    src.close()
    assert took < TIMEOUT + 0.2, took
    _one_error(part.errors, "docker.sock", "timed out")
    _web(part.owners)  # from config.v2.json


def test_a_hung_daemon_and_no_files_leaves_the_owner_out_and_the_rest_intact(root: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    (bare / "run").mkdir(parents=True)
    d = FakeDaemon(bare / "run" / "docker.sock", api_replies(), mode="hang")
    snap = container_snapshot()
    before = copy.deepcopy(snap)
    src = DockerSource(str(bare))
    try:
        start = time.monotonic()
        part = src.read(snap)
        assert time.monotonic() - start < TIMEOUT + 0.2
    finally:
        src.close()
        d.close()
    assert part.owners == ()
    _one_error(part.errors, str(bare / "run" / "docker.sock"), "timed out")
    enriched = apply(snap, [("docker", part)])
    assert snap == before and enriched.kernel_picture() == snap


def test_a_malformed_reply_is_one_error_and_the_files_answer(root: Path, daemon: FakeDaemon) -> None:
    daemon.mode = "garbage"
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    _one_error(part.errors, "docker.sock", "malformed JSON")
    _check_web(_web(part.owners), "config.v2.json")


def test_a_failed_inspect_reads_that_container_from_its_file(root: Path, daemon: FakeDaemon) -> None:
    daemon.replies[f"/containers/{WEB_ID}/json"] = b'{"Id": '  # truncated
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    _one_error(part.errors, "docker.sock", f"/containers/{WEB_ID[:12]}/json", "1 container(s)")
    _check_web(_web(part.owners), "config.v2.json")


def test_a_truncated_config_v2_json_is_one_error_naming_it(root: Path) -> None:
    path = root / "var/lib/docker/containers" / WEB_ID / "config.v2.json"
    path.write_bytes(path.read_bytes()[:300])
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    _one_error(part.errors, str(path), "malformed")
    assert part.owners == ()


def test_a_dead_pid_and_an_unknown_sandbox_own_nothing(root: Path) -> None:
    path = root / "var/lib/docker/containers" / WEB_ID / "config.v2.json"
    doc = json.loads(path.read_text())
    doc["State"]["Pid"] = 999999
    doc["NetworkSettings"]["SandboxKey"] = "/var/run/docker/netns/000000000000"
    path.write_text(json.dumps(doc))
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    assert part.owners == () and part.errors == ()


def test_the_sandbox_path_finds_the_namespace_when_the_pid_cannot_be_read(root: Path) -> None:
    (root / "proc" / str(WEB_PID) / "ns" / "net").unlink()
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    assert _web(part.owners).namespaces == (WEB_NS,)


def test_settings_name_another_socket_and_data_root(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "private"
    other.mkdir()
    d = FakeDaemon(other / "d.sock", api_replies())
    (src,) = [s for s in make_sources(str(root), {"docker": {"socket": f"unix://{other / 'd.sock'}",
                                                              "data_root": str(other / "data")}})
              if s.name == "docker"]
    try:
        part = src.read(container_snapshot())
    finally:
        src.close()
        d.close()
    assert _web(part.owners).source == "d.sock" and d.requests


def test_it_reads_only_under_its_root(root: Path, daemon: FakeDaemon) -> None:
    src = DockerSource(str(root))
    with paths_touched() as touched:
        src.available()
        src.fileno()
        src.read(container_snapshot())
    src.close()
    assert touched and outside(touched, root) == []


def test_a_new_container_directory_fires_the_fd_and_the_next_enrich_reads_it(root: Path) -> None:
    src = DockerSource(str(root))
    sources = SourceSet([src])
    snap = container_snapshot()
    try:
        first = sources.enrich(snap)
        assert [o.name for o in first.owners or ()] == ["web"]
        fd = src.fileno()
        assert fd is not None and not select.select([fd], [], [], 0)[0]
        again = sources.enrich(snap)
        assert sources.last_read == [] and again.owners is first.owners
        # a second container `api` appears in the same namespace (say, it was recorded there)
        data = root / "var/lib/docker/containers"
        doc = json.loads((data / WEB_ID / "config.v2.json").read_text())
        new_id = "a" * 64
        doc.update(ID=new_id, Name="/api")
        doc["State"]["Pid"] = SIDECAR_PID
        (data / new_id).mkdir()
        (data / new_id / "config.v2.json").write_text(json.dumps(doc))
        assert select.select([fd], [], [], 1.0)[0]
        after = sources.enrich(snap)
        assert sources.last_read == ["docker"]
        assert sorted(o.name for o in after.owners or ()) == ["api", "web"]
    finally:
        sources.close()


def test_a_busy_daemon_past_the_budget_is_no_error_when_the_files_tell(root: Path, daemon: FakeDaemon) -> None:
    daemon.mode = "slow"
    src = DockerSource(str(root))
    start = time.monotonic()
    part = src.read(container_snapshot())
    src.close()
    assert time.monotonic() - start < TIMEOUT + 0.2
    assert part.errors == ()
    _check_web(_web(part.owners), "config.v2.json")


def test_a_busy_daemon_past_the_budget_without_the_file_is_one_error(root: Path, daemon: FakeDaemon) -> None:
    daemon.mode = "slow"
    (root / "var/lib/docker/containers" / WEB_ID / "config.v2.json").unlink()
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    _one_error(part.errors, "docker.sock", "timed out", "1 container(s)")
    assert part.owners == ()


def test_a_host_network_container_claims_no_host_device(root: Path) -> None:
    path = root / "var/lib/docker/containers" / WEB_ID / "config.v2.json"
    doc = json.loads(path.read_text())
    doc["State"]["Pid"] = 30000  # a process in the root namespace
    doc["NetworkSettings"].update(SandboxKey="/var/run/docker/netns/default", Networks={"host": {}})
    path.write_text(json.dumps(doc))
    (root / "proc" / "30000" / "ns").mkdir(parents=True)
    (root / "proc" / "30000" / "ns" / "net").symlink_to(f"net:[{ROOT}]")
    src = DockerSource(str(root))
    part = src.read(container_snapshot())
    src.close()
    owner = _web(part.owners)
    assert owner.links == () and owner.namespaces == () and owner.pids == (30000,)


def test_a_changed_picture_with_a_quiet_data_root_asks_the_daemon_nothing(root: Path, daemon: FakeDaemon) -> None:
    src = DockerSource(str(root))
    try:
        assert src.fileno() is not None
        snap = container_snapshot()
        src.read(snap)
        asked = len(daemon.requests)
        # the kernel picture changed (one device fewer), nothing under the data root did
        fewer = replace(snap, links=tuple(ln for ln in snap.links if ln.name != "vethother"))
        part = src.read(fewer)
        assert len(daemon.requests) == asked
        _check_web(_web(part.owners), "docker.sock")
        # dockerd rewrites the container's config.v2.json (a restart, a rename): asked again
        path = root / "var/lib/docker/containers" / WEB_ID / "config.v2.json"
        path.write_bytes(path.read_bytes())
        src.read(fewer)
        assert daemon.requests[asked:] == ["/containers/json"]
        # the main pid gone from the picture: asked again, whatever the watch says
        gone = replace(fewer, namespaces=tuple(replace(ns, pids=tuple(p for p in ns.pids if p != WEB_PID))
                                               for ns in fewer.namespaces))
        src.read(gone)
        assert daemon.requests[asked + 1:] == ["/containers/json", f"/containers/{WEB_ID}/json"]
    finally:
        src.close()
