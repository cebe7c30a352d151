"""The `cri` source over recorded containerd and CRI-O bundle trees (tests/data/sources/cri)."""

from __future__ import annotations

import json
import os
import select
import shutil
from pathlib import Path

import pytest

from tests.pod_fixtures import (
    CALI_A,
    CALI_WRONG,
    DATA,
    NETNS_A,
    NETNS_E,
    POD_A,
    POD_C,
    POD_E,
    ROOT,
    TASKS,
    UA,
    UB,
    UC,
    UE,
    A,
    C,
    E,
    node_snapshot,
    tree,
)
from vnettop.collect.sources import cri, scope
from vnettop.collect.sources.calico import MATCH, veth_name
from vnettop.collect.sources.cri import CriSource
from vnettop.collect.sources.enrich import SourceSet
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Owner


def _pods(root: Path) -> tuple[dict[str, Owner], list[str]]:
    source = CriSource(str(root))
    try:
        part = source.read(node_snapshot())
    finally:
        source.close()
    assert all(e.scope == scope("cri") for e in part.errors)
    return {o.name: o for o in part.owners or ()}, [e.message for e in part.errors]


def test_a_containerd_pod_in_its_cni_namespace(tmp_path: Path) -> None:
    pods, errors = _pods(tree(tmp_path, "cri"))
    assert errors == []
    web = pods["web-0"]
    assert (web.kind, web.id, web.runtime, web.exact) == ("pod", UA, "containerd", True)
    assert web.source == str(tmp_path / "cri" / TASKS / A / "config.json")
    details = dict(web.details)
    assert details["namespace"] == "default" and details["sandbox"] == A
    assert details["matched"] == f"network namespace /var/run/netns/{NETNS_A}"
    assert details["containers"] == "nginx"
    assert details["calico"] == MATCH
    assert web.namespaces == (POD_A,) and web.pids == (2001, 2002)
    assert web.links == ((ROOT, 10), (POD_A, 2))  # its eth0 and the Calico host veth, not its lo
    assert CALI_A == veth_name("default", "web-0")


def test_a_cri_o_pod_in_its_pinns_namespace(tmp_path: Path) -> None:
    pods, _ = _pods(tree(tmp_path, "cri"))
    api = pods["api-6d4f9c7b8-x2vqp"]
    assert (api.id, api.runtime, api.exact) == (UE, "cri-o", True)
    assert api.source.endswith(f"run/containers/storage/overlay-containers/{E}/userdata/config.json")
    details = dict(api.details)
    assert details["namespace"] == "shop" and details["containers"] == "api"
    assert details["matched"] == f"network namespace /var/run/netns/{NETNS_E}"
    assert "calico" not in details
    assert api.namespaces == (POD_E,) and api.links == ((ROOT, 12), (POD_E, 2))


def test_a_sandbox_without_a_namespace_path_is_found_by_its_pid_and_a_wrong_cali_name_is_said(
        tmp_path: Path) -> None:
    pods, _ = _pods(tree(tmp_path, "cri"))
    db = pods["db-0"]
    assert db.id == UC and db.namespaces == (POD_C,)
    details = dict(db.details)
    assert details["matched"] == "the sandbox's pid 2201"
    assert details["calico"] == f"{CALI_WRONG} is the pod's peer but Calico would name it {veth_name('prod', 'db-0')}"
    assert db.links == ((ROOT, 11), (POD_C, 2))  # its peer all the same: the kernel says so


def test_a_host_network_pod_owns_its_pid_only_and_stopped_pods_and_podman_are_left_out(tmp_path: Path) -> None:
    pods, _ = _pods(tree(tmp_path, "cri"))
    proxy = pods["kube-proxy-x7k2p"]
    assert proxy.id == UB and proxy.namespaces == () and proxy.links == () and proxy.pids == (1500,)
    assert dict(proxy.details)["network"] == "host"
    assert sorted(pods) == ["api-6d4f9c7b8-x2vqp", "db-0", "kube-proxy-x7k2p", "web-0"]


def test_a_malformed_config_costs_its_pod_alone_with_one_error_naming_it(tmp_path: Path) -> None:
    root = tree(tmp_path, "cri")
    bad = root / TASKS / C / "config.json"
    bad.write_text('{"ociVersion": "1.1.0", "annotations": {')
    pods, errors = _pods(root)
    assert "db-0" not in pods and {"web-0", "api-6d4f9c7b8-x2vqp", "kube-proxy-x7k2p"} <= set(pods)
    assert len(errors) == 1 and errors[0].startswith(f"cannot read {bad}: not JSON")


@pytest.mark.parametrize("text, why", [
    ("[1, 2]", "not an OCI runtime config (not a JSON object)"),
    ('{"annotations": "x"}', "'annotations' is not an object"),
])
def test_json_that_is_no_oci_config_is_said_so(tmp_path: Path, text: str, why: str) -> None:
    root = tree(tmp_path, "cri")
    (root / TASKS / A / "config.json").write_text(text)
    pods, errors = _pods(root)
    assert "web-0" not in pods and errors == [f"cannot read {root / TASKS / A / 'config.json'}: {why}"]


def test_a_sandbox_missing_the_pods_identity_is_an_error_not_a_nameless_pod(tmp_path: Path) -> None:
    root = tree(tmp_path, "cri")
    path = root / TASKS / A / "config.json"
    config = json.loads(path.read_text())
    del config["annotations"]["io.kubernetes.cri.sandbox-uid"]
    path.write_text(json.dumps(config))
    pods, errors = _pods(root)
    assert "web-0" not in pods and len(pods) == 3
    assert errors == [f"cannot read {path}: a sandbox without the pod's uid annotation"]


def test_a_config_is_parsed_again_only_when_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(tmp_path, "cri")
    parsed: list[str] = []
    real = cri.parse_config

    def counting(runtime: str, path: str, ident: str, text: str, pid: int | None) -> cri.Bundle | None:
        parsed.append(path)
        return real(runtime, path, ident, text, pid)

    monkeypatch.setattr(cri, "parse_config", counting)
    source = CriSource(str(root))
    source.read(node_snapshot())
    assert len(parsed) == 8  # 5 containerd bundles, 2 CRI-O, 1 Podman
    parsed.clear()
    source.read(node_snapshot())
    assert parsed == []
    path = root / TASKS / A / "config.json"
    path.write_text(path.read_text().replace('"web-0"', '"web-1"'))
    pods = {o.name for o in source.read(node_snapshot()).owners or ()}
    assert parsed == [str(path)] and "web-1" in pods


def test_a_new_bundle_makes_the_fd_readable_and_the_next_enrich_has_the_pod(tmp_path: Path) -> None:
    tasks = tmp_path / "root" / TASKS
    tasks.mkdir(parents=True)
    source = CriSource(str(tmp_path / "root"))
    sources = SourceSet([source], period=3600.0)
    try:
        first = sources.enrich(node_snapshot())
        assert first.owners == ()
        fd = source.fileno()
        assert fd is not None and select.select([fd], [], [], 0)[0] == []
        shutil.copytree(DATA / "cri" / TASKS / A, tasks / A)
        assert select.select([fd], [], [], 0)[0] == [fd]
        second = sources.enrich(node_snapshot())
        assert sources.last_read == ["cri"]
        assert [o.name for o in second.owners or ()] == ["web-0"]
        assert select.select([fd], [], [], 0)[0] == []  # the read consumed the event
        third = sources.enrich(node_snapshot())
        assert sources.last_read == [] and third.owners == second.owners
    finally:
        sources.close()


def test_containerds_state_directory_is_a_setting(tmp_path: Path) -> None:
    state = tmp_path / "elsewhere"
    shutil.copytree(DATA / "cri" / "run" / "containerd", state)
    (source,) = [s for s in make_sources(str(tmp_path / "empty"), {"cri": {"containerd_state": str(state)}})
                 if s.name == "cri"]
    try:
        assert source.available()
        names = {o.name for o in source.read(node_snapshot()).owners or ()}
    finally:
        source.close()
    assert names == {"web-0", "db-0", "kube-proxy-x7k2p"}


def test_nothing_there_is_not_available_and_reads_as_no_pods(tmp_path: Path) -> None:
    source = CriSource(str(tmp_path))
    assert not source.available()
    assert source.read(node_snapshot()).owners == ()
    assert source.fileno() is None
    source.close()
    assert os.listdir(tmp_path) == []
