"""A Kubernetes-style pod network made by the real CNI `bridge` plugin, driven as the runtime drives it.

containerd's CRI plugin, for a pod sandbox, creates `/run/netns/cni-<uuid>`, starts the pause process
in it, and runs the CNI plugin binaries with `CNI_COMMAND=ADD` and the network config on stdin. Debian
12 has no crictl, so instead of a CRI client this fixture does those same steps itself: the namespace
(named as containerd names it), a pause-like holder process, and the unmodified `bridge` + `host-local`
plugins from containernetworking-plugins, with the pod's Kubernetes identity in CNI_ARGS exactly as the
kubelet passes it (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.components.base import Component, component, need_binary, need_root, poll_until, root_links, run

CNI_DIR = "/usr/lib/cni"


@dataclass
class CniPod:
    comp: Component
    netns: str  # cni-<uuid>
    container_id: str
    pod_name: str
    pod_namespace: str
    pod_uid: str
    pause_pid: int
    host_veth: str
    bridge: str
    address: str


def _cni(comp: Component, command: str, conf: dict[str, object], netns: str, cid: str,
         args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
           "CNI_NETNS": f"/run/netns/{netns}", "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR, "CNI_ARGS": args}
    return run([f"{CNI_DIR}/bridge"], env=env, input=json.dumps(conf), check=False)



def start_cni_pod(comp: Component) -> CniPod:
    need_root("CNI bridge plugin (namespaces and veths)")
    need_binary("bridge", "containernetworking-plugins")
    need_binary("host-local", "containernetworking-plugins")
    bridge = comp.name("kb")
    # isGateway (as on a real node) makes the plugin set ip_forward=1; teardown puts it back.
    if comp.host is not None:
        comp.expected_changes.add(comp.host.FORWARD_CHANGED)
    comp.record_link(bridge)
    netns = f"cni-{uuid.uuid4()}"
    comp.record_netns(netns)
    run(["ip", "netns", "add", netns])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    # The sandbox's pause process: holds the namespace for the pod's lifetime, like k8s's pause.
    pause = comp.spawn(["ip", "netns", "exec", netns, "sleep", "600"])
    netns_ino = os.stat(f"/run/netns/{netns}").st_ino
    poll_until(lambda: _ns_ino(pause.pid) == netns_ino)
    cid = secrets.token_hex(32)
    pod_name, pod_ns, pod_uid = comp.name("-web-0"), "default", str(uuid.uuid4())
    args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_ns};K8S_POD_NAME={pod_name};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={pod_uid}")
    conf = {"cniVersion": "1.0.0", "name": comp.name("k8s"), "type": "bridge", "bridge": bridge,
            "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(comp.dir / "ipam"),
                     "ranges": [[{"subnet": "172.31.253.0/24"}]]}}
    before = root_links()
    comp.on_close(lambda: _cni(comp, "DEL", conf, netns, cid, args))
    try:
        added = _cni(comp, "ADD", conf, netns, cid, args)
    finally:
        for n in root_links() - before:
            if n.startswith("veth"):
                comp.record_link(n)
    if added.returncode != 0:
        raise RuntimeError(f"CNI bridge ADD failed: {added.stdout} {added.stderr}")
    result = json.loads(added.stdout)
    host = next(i["name"] for i in result["interfaces"] if i["name"].startswith("veth"))
    address = result["ips"][0]["address"]
    return CniPod(comp, netns, cid, pod_name, pod_ns, pod_uid, pause.pid, host, bridge, address)


def _ns_ino(pid: int) -> int:
    """The netns inode of `pid` (`ip netns exec` execs its command, so the pid stays the same)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return 0


@pytest.fixture(scope="session")
def cni_pod() -> Iterator[CniPod]:
    with component("cni") as comp:
        yield start_cni_pod(comp)


__all__ = ["CniPod", "cni_pod", "start_cni_pod"]
