"""The `cgroups` source over a recorded /proc tree (tests/data/sources/cgroups), and its merge with `cri`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pod_fixtures import (
    DOCKER,
    DOCKER_ID,
    DOCKER_V1,
    DOCKER_V1_ID,
    GONE,
    LXC,
    LXC_DEV,
    LXC_PLAIN,
    POD_A,
    POD_E,
    PODMAN,
    PODMAN_ID,
    ROOT,
    SERVICE,
    UA,
    UE,
    A,
    E,
    node_snapshot,
    tree,
)
from vnettop.collect.sources import cgroups, scope
from vnettop.collect.sources.cgroups import CgroupSource, cgroup_path, classify
from vnettop.collect.sources.cri import CriSource
from vnettop.collect.sources.enrich import apply
from vnettop.model import Owner


def _owners(root: Path) -> tuple[dict[tuple[str, str], Owner], list[str]]:
    part = CgroupSource(str(root)).read(node_snapshot())
    assert all(e.scope == scope("cgroups") for e in part.errors)
    return {(o.kind, o.id or ""): o for o in part.owners or ()}, [e.message for e in part.errors]


def test_kubepods_under_the_systemd_driver_is_the_pod_by_uid(tmp_path: Path) -> None:
    owners, _ = _owners(tree(tmp_path, "cgroups"))
    pod = owners[("pod", UA)]
    assert (pod.name, pod.runtime, pod.source, pod.exact) == (f"pod{UA}", "containerd", "cgroup", False)
    details = dict(pod.details)
    assert details["qos"] == "besteffort" and details["container"] == A and "name is not" in details["note"]
    assert pod.namespaces == (POD_A,) and pod.pids == (2001, 2002)
    assert pod.links == ((ROOT, 10), (POD_A, 2))


def test_kubepods_under_the_cgroupfs_driver_is_the_pod_by_uid(tmp_path: Path) -> None:
    owners, _ = _owners(tree(tmp_path, "cgroups"))
    pod = owners[("pod", UE)]
    assert pod.runtime == "kubernetes" and pod.namespaces == (POD_E,)
    assert dict(pod.details)["qos"] == "burstable" and dict(pod.details)["container"] == E


def test_docker_and_podman_scopes_and_cgroup_v1_lines(tmp_path: Path) -> None:
    owners, _ = _owners(tree(tmp_path, "cgroups"))
    docker = owners[("container", DOCKER_ID)]
    assert (docker.name, docker.runtime, docker.exact) == (DOCKER_ID[:12], "docker", False)
    assert docker.namespaces == (DOCKER,) and docker.links == ((ROOT, 13), (DOCKER, 2))
    podman = owners[("container", PODMAN_ID)]
    assert podman.runtime == "podman" and podman.namespaces == (PODMAN,)
    v1 = owners[("container", DOCKER_V1_ID)]  # `0::/` and `name=systemd:/docker/<id>`: the v1 line tells
    assert v1.runtime == "docker" and v1.namespaces == (DOCKER_V1,)


def test_lxc_payloads_are_exact_when_the_runtime_keeps_that_container(tmp_path: Path) -> None:
    owners, _ = _owners(tree(tmp_path, "cgroups"))
    web = owners[("container", "web-lxc")]
    assert (web.name, web.runtime, web.exact, web.namespaces) == ("web-lxc", "incus", True, (LXC,))
    build = owners[("container", "dev_build-1")]
    assert (build.name, build.runtime, build.exact) == ("build-1", "incus", True)
    assert dict(build.details)["project"] == "dev" and build.namespaces == (LXC_DEV,)
    plain = owners[("container", "plain")]
    assert (plain.runtime, plain.exact, plain.namespaces) == ("lxc", False, (LXC_PLAIN,))


def test_a_service_is_named_and_a_login_session_is_not(tmp_path: Path) -> None:
    owners, _ = _owners(tree(tmp_path, "cgroups"))
    service = owners[("service", "netns-dns.service")]
    assert service.runtime == "systemd" and service.namespaces == (SERVICE,)
    assert not any(o.kind == "session" or "session" in o.name for o in owners.values())
    assert len(owners) == 10  # 3 pods, 3 Docker/Podman, 3 LXC, 1 service; nothing for the session
    assert sum(1 for o in owners.values() if o.kind == "service") == 1


def test_a_vanished_process_costs_its_namespace_alone_with_one_error_naming_the_file(tmp_path: Path) -> None:
    root = tree(tmp_path, "cgroups")
    owners, errors = _owners(root)
    assert not any(GONE in o.namespaces for o in owners.values())
    assert errors == [f"cannot read {root / 'proc' / '2901' / 'stat'} (namespace {GONE}): the process is gone"]


def test_an_unreadable_cgroup_file_is_one_error_and_the_rest_intact(tmp_path: Path) -> None:
    root = tree(tmp_path, "cgroups")
    bad = root / "proc" / "2301" / "cgroup"
    bad.unlink()
    bad.mkdir()  # reading it fails (EISDIR) even as root
    owners, errors = _owners(root)
    assert ("container", DOCKER_ID) not in owners and ("pod", UA) in owners
    assert f"cannot read {bad} (namespace {DOCKER}): Is a directory" in errors and len(errors) == 2


@pytest.mark.parametrize("text, path", [
    ("0::/system.slice/docker-ab.scope\n", "/system.slice/docker-ab.scope"),
    ("12:pids:/x\n1:name=systemd:/docker/y\n0::/\n", "/docker/y"),
    ("4:memory:/m\n", "/m"),
    ("0::/\n", None),
    ("garbage", None),
])
def test_which_line_is_read(text: str, path: str | None) -> None:
    assert cgroup_path(text) == path


@pytest.mark.parametrize("path", ["/user.slice/user-0.slice/session-3.scope", "/init.scope",
                                  "/system.slice/docker-abc.scope", "/kubepods.slice/kubepods-podnotauid.slice",
                                  "/system.slice/libpod-conmon-" + "4e" * 32 + ".scope"])
def test_what_names_no_owner(path: str) -> None:
    assert classify(path) is None


def test_a_guaranteed_pod_and_a_crio_scope() -> None:
    found = classify(f"/kubepods.slice/kubepods-pod{UE.replace('-', '_')}.slice/crio-{E}.scope")
    assert found is not None and (found.kind, found.id, found.runtime) == ("pod", UE, "cri-o")
    assert dict(found.details)["qos"] == "guaranteed"


def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the cgroups source reads from now on, in order."""
    opened: list[str] = []
    real = cgroups._read

    def counting(path: str, limit: int) -> str:
        opened.append(path)
        return real(path, limit)

    monkeypatch.setattr(cgroups, "_read", counting)
    return opened


def test_an_answer_is_kept_while_the_process_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path, "cgroups")
    opened = reads(monkeypatch)
    source = CgroupSource(str(root))
    first = source.read(node_snapshot())
    assert any(p.endswith("/cgroup") for p in opened)
    opened.clear()
    assert source.read(node_snapshot()) == first
    assert opened and not any(p.endswith("/cgroup") for p in opened)  # only the stat lines, for start times
    # pid 2301 is now another process (another start time), in libpod's scope
    stat = root / "proc" / "2301" / "stat"
    stat.write_text(stat.read_text().replace(" 51301 ", " 99999 "))
    (root / "proc" / "2301" / "cgroup").write_text(f"0::/machine.slice/libpod-{'6a' * 32}.scope\n")
    opened.clear()
    owners = {(o.kind, o.id) for o in source.read(node_snapshot()).owners or ()}
    assert [p for p in opened if p.endswith("/cgroup")] == [str(root / "proc" / "2301" / "cgroup")]
    assert ("container", "6a" * 32) in owners and ("container", DOCKER_ID) not in owners


def test_the_cgroup_pod_merges_into_the_cri_pod(tmp_path: Path) -> None:
    snap = node_snapshot()
    parts = [("cri", CriSource(str(tree(tmp_path, "cri"))).read(snap)),
             ("cgroups", CgroupSource(str(tree(tmp_path, "cgroups"))).read(snap))]
    owners = apply(snap, parts).owners or ()
    pods = [o for o in owners if o.kind == "pod" and o.id == UA]
    assert len(pods) == 1
    web = pods[0]
    assert web.name == "web-0" and web.exact and dict(web.details)["also"] == "cgroup"
    api = next(o for o in owners if o.kind == "pod" and o.id == UE)
    assert api.name == "api-6d4f9c7b8-x2vqp" and dict(api.details)["also"] == "cgroup"


def test_no_proc_no_owners_no_errors(tmp_path: Path) -> None:
    source = CgroupSource(str(tmp_path))
    assert not source.available() and source.fileno() is None
    part = source.read(node_snapshot())
    assert part.owners == () and part.errors == ()


def test_an_unchanged_namespace_record_reads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector hands back the very Namespace object while its pids stay the same: then not even
    the stat lines are read again, and the answer is the same; a new record (equal or not) is checked."""
    root = tree(tmp_path, "cgroups")
    opened = reads(monkeypatch)
    source = CgroupSource(str(root))
    snap = node_snapshot()
    first = source.read(snap)
    opened.clear()
    assert source.read(snap) == first and opened == []
    assert source.read(node_snapshot()) == first  # equal records, other objects: start times checked
    assert opened and not any(p.endswith("/cgroup") for p in opened)
