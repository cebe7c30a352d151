"""Pod owners of a real containerd sandbox task in a `cni-<uuid>` namespace wired by the CNI bridge plugin
(the `cni_pod` fixture): the `cri` source from its OCI bundle, the `cgroups` source from its cgroup, and
one pod after the merge, as the live collector shows it."""

from __future__ import annotations

import os

import pytest

from tests.components.cni import CniPod
from tests.components.snap import link_in
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources import scope
from vnettop.collect.sources.cgroups import CgroupSource
from vnettop.collect.sources.cri import CriSource
from vnettop.model import Owner, Snapshot

pytestmark = pytest.mark.kernel


def _collect(pod: CniPod, *, cri: bool = True, cgroups: bool = True) -> Snapshot:
    sources = ([CriSource("/", containerd_state=str(pod.containerd_state))] if cri else []) + (
        [CgroupSource("/")] if cgroups else [])
    collector = LiveCollector(sources=sources)
    try:
        return collector.collect()
    finally:
        collector.close()


def _pod(snap: Snapshot, uid: str) -> Owner:
    found = [o for o in snap.owners or () if o.kind == "pod" and o.id == uid]
    assert len(found) == 1, (snap.owners, [e for e in snap.errors if e.scope.startswith(scope(""))])
    return found[0]


def test_the_sandbox_bundle_names_the_pod_its_cni_namespace_and_host_veth(cni_pod: CniPod) -> None:
    p = cni_pod
    ns_ino = os.stat(f"/run/netns/{p.netns}").st_ino
    snap = _collect(p, cgroups=False)
    pod = _pod(snap, p.pod_uid)
    assert (pod.name, pod.runtime, pod.exact, pod.source) == (p.pod_name, "containerd", True, str(p.oci_config))
    details = dict(pod.details)
    assert details["namespace"] == p.pod_namespace and details["sandbox"] == p.container_id
    assert details["matched"] == f"network namespace /run/netns/{p.netns}"
    assert "calico" not in details  # the bridge plugin names its veths veth…, not after the pod
    assert pod.namespaces == (ns_ino,) and p.pause_pid in pod.pids
    host = link_in(snap, p.host_veth)
    inner = link_in(snap, "eth0", ns_ino)
    assert set(pod.links) == {host.key, inner.key}


def test_the_cgroup_names_the_same_pod_by_uid_and_the_merge_keeps_one(cni_pod: CniPod) -> None:
    p = cni_pod
    ns_ino = os.stat(f"/run/netns/{p.netns}").st_ino
    with open(f"/proc/{p.pause_pid}/cgroup", encoding="utf-8") as f:
        assert f"/kubepods/besteffort/pod{p.pod_uid}/{p.container_id}" in f.read()
    alone = _pod(_collect(p, cri=False), p.pod_uid)
    assert (alone.name, alone.source, alone.exact) == (f"pod{p.pod_uid}", "cgroup", False)
    assert dict(alone.details)["container"] == p.container_id and dict(alone.details)["qos"] == "besteffort"
    assert alone.namespaces == (ns_ino,)
    both = _collect(p)
    merged = _pod(both, p.pod_uid)
    assert merged.name == p.pod_name and merged.exact and dict(merged.details)["also"] == "cgroup"
    assert not [e for e in both.errors if e.scope in (scope("cri"), scope("cgroups"))]
