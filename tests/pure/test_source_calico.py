"""Calico's host veth name for a pod, checked against Calico's own expectations."""

from __future__ import annotations

from tests.pod_fixtures import CALI_A, CALI_WRONG, POD_A, POD_C, ROOT, node_snapshot
from vnettop.collect.sources.calico import MATCH, check, veth_name
from vnettop.model import Link


def test_the_name_is_the_one_calicos_own_tests_expect() -> None:
    # libcalico-go lib/backend/k8s/conversion conversion_test.go: pod "podA" in "default" gets
    # InterfaceName "cali7f94ce7c295" ("If this fails, fix the code not this expect!"), and with
    # FELIX_INTERFACEPREFIX "eni,…", VethNameForWorkload("namespace", "podname") is "eni82111e10a96".
    assert veth_name("default", "podA") == "cali7f94ce7c295"
    assert veth_name("namespace", "podname", prefix="eni") == "eni82111e10a96"
    assert len(veth_name("a-very-long-kubernetes-namespace", "and-a-long-pod-name-0")) == 15


def _by_name() -> dict[str, list[Link]]:
    out: dict[str, list[Link]] = {}
    for link in node_snapshot().links:
        out.setdefault(link.name, []).append(link)
    return out


def test_a_peer_named_as_calico_names_the_pod_matches() -> None:
    snap = node_snapshot()
    peer = next(link for link in snap.links if link.name == CALI_A)
    assert check("default", "web-0", [peer], _by_name()) == ([(ROOT, 10)], MATCH)
    assert peer.peer is not None and peer.peer.netns == POD_A


def test_the_calico_veth_is_found_by_name_even_without_a_peer_link() -> None:
    assert check("default", "web-0", [], _by_name()) == ([(ROOT, 10)], MATCH)


def test_a_cali_peer_with_another_pods_hash_is_reported_not_claimed() -> None:
    snap = node_snapshot()
    peer = next(link for link in snap.links if link.name == CALI_WRONG)
    assert peer.peer is not None and peer.peer.netns == POD_C
    found, note = check("prod", "db-0", [peer], _by_name())
    assert found == []
    assert note == f"{CALI_WRONG} is the pod's peer but Calico would name it {veth_name('prod', 'db-0')}"


def test_no_calico_no_word() -> None:
    snap = node_snapshot()
    peer = next(link for link in snap.links if link.name == "veth3a9c01f2")
    assert check("shop", "api", [peer], _by_name()) == ([], None)
