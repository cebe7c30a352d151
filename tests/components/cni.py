"""A Kubernetes-style pod sandbox: a `cni-<uuid>` namespace wired by the real CNI `bridge` plugin, and
the sandbox's pause process run as a real task of a private containerd.

For a pod, containerd's CRI plugin creates `/run/netns/cni-<uuid>`, runs the CNI plugin binaries with
`CNI_COMMAND=ADD` and the network config on stdin, then starts the sandbox container in that namespace
with the pod's identity as OCI annotations (`io.kubernetes.cri.sandbox-name/-namespace/-uid`). Debian 12
has no crictl, and a CRI client from Python (gRPC + the CRI protos) costs more than it proves here, so
the fixture does those same steps itself, with the unmodified parts: the `bridge` + `host-local` plugins
from containernetworking-plugins (CNI_ARGS as the kubelet passes them), and a private containerd (its
own root, state, socket; the CRI plugin disabled) whose task is started with `ctr run --with-ns
network:<netns> --annotation ...` in containerd's `k8s.io` namespace. The task's OCI config, with the
annotations, is in `<state>/io.containerd.runtime.v2.task/k8s.io/<id>/config.json`, as under CRI, and
its cgroup is `/kubepods/besteffort/pod<uid>/<id>`, as the kubelet's cgroupfs driver makes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.base import (
    Component,
    component,
    kill_pid,
    need_binary,
    need_root,
    poll_until,
    root_links,
    run,
)

CNI_DIR = "/usr/lib/cni"
K8S_NS = "k8s.io"  # containerd namespace CRI uses


@dataclass
class CniPod:
    comp: Component
    netns: str  # cni-<uuid>
    container_id: str  # the sandbox id (64 hex), CNI_CONTAINERID
    pod_name: str
    pod_namespace: str
    pod_uid: str
    pause_pid: int
    host_veth: str
    bridge: str
    address: str
    oci_config: Path  # the sandbox task's OCI runtime config (annotations)
    containerd_state: Path  # the private containerd's state directory (its task bundles)
    cgroup: str  # the sandbox's cgroup, as the kubelet's cgroupfs driver names it


def _cni(command: str, conf: dict[str, object], netns: str, cid: str,
         args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
           "CNI_NETNS": f"/run/netns/{netns}", "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR, "CNI_ARGS": args}
    return run([f"{CNI_DIR}/bridge"], env=env, input=json.dumps(conf), check=False)


def _start_containerd(comp: Component) -> str:
    """A private containerd; returns its socket path for `ctr -a`."""
    d = comp.dir / "containerd"
    d.mkdir()
    sock = d / "containerd.sock"
    # runc's state and the shim sockets default to /run/containerd whatever `state` says.
    comp.record_path("/run/containerd")
    (d / "config.toml").write_text(f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
""")
    comp.spawn(["containerd", "--config", str(d / "config.toml"), "--log-level", "warn"], log="containerd.log")
    poll_until(lambda: run(["ctr", "-a", str(sock), "version"], check=False).returncode == 0, timeout=20)
    return str(sock)


def _rootfs(comp: Component) -> Path:
    """A pause-like rootfs: busybox-static alone (`sleep` stands in for pause's `pause()`)."""
    busybox = need_binary("busybox", "busybox-static")
    rootfs = comp.dir / "pause-rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "sleep")
    return rootfs


def start_cni_pod(comp: Component) -> CniPod:
    need_root("CNI bridge plugin and containerd (namespaces, veths, a container)")
    need_binary("bridge", "containernetworking-plugins")
    need_binary("host-local", "containernetworking-plugins")
    need_binary("containerd", "containerd")
    need_binary("ctr", "containerd")
    rootfs = _rootfs(comp)
    sock = _start_containerd(comp)
    bridge = comp.name("kb")
    # isGateway (as on a real node) makes the plugin set ip_forward=1; teardown puts it back.
    if comp.host is not None:
        comp.expected_changes.add(comp.host.FORWARD_CHANGED)
    comp.record_link(bridge)
    netns = f"cni-{uuid.uuid4()}"
    comp.record_netns(netns)
    run(["ip", "netns", "add", netns])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    cid = secrets.token_hex(32)
    pod_name, pod_ns, pod_uid = comp.name("-web-0"), "default", str(uuid.uuid4())
    args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_ns};K8S_POD_NAME={pod_name};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={pod_uid}")
    conf = {"cniVersion": "1.0.0", "name": comp.name("k8s"), "type": "bridge", "bridge": bridge,
            "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(comp.dir / "ipam"),
                     "ranges": [[{"subnet": "172.31.253.0/24"}]]}}
    before = root_links()
    comp.on_close(lambda: _cni("DEL", conf, netns, cid, args))
    try:
        added = _cni("ADD", conf, netns, cid, args)
    finally:
        for n in root_links() - before:
            if n.startswith("veth"):
                comp.record_link(n)
    if added.returncode != 0:
        raise RuntimeError(f"CNI bridge ADD failed: {added.stdout} {added.stderr}")
    result = json.loads(added.stdout)
    host = next(i["name"] for i in result["interfaces"] if i["name"].startswith("veth"))
    address = result["ips"][0]["address"]

    ctr = ["ctr", "-a", sock, "-n", K8S_NS]
    # The kubelet's cgroupfs driver puts a pod's containers in /kubepods/<qos>/pod<uid>/<id> (CRI's
    # cgroup_parent + the id): the same here, and the directories runc leaves are removed afterwards.
    cgroup = f"/kubepods/besteffort/pod{pod_uid}/{cid}"
    made = [d for d in _cgroup_dirs(cgroup) if not d.exists()]
    comp.on_close(lambda: _remove_cgroups(made))
    comp.on_close(lambda: _remove_task(ctr, cid))
    annotations = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": cid,
                   "io.kubernetes.cri.sandbox-name": pod_name, "io.kubernetes.cri.sandbox-namespace": pod_ns,
                   "io.kubernetes.cri.sandbox-uid": pod_uid}
    run([*ctr, "run", "-d", "--with-ns", f"network:/run/netns/{netns}", "--label", "io.cri-containerd.kind=sandbox",
         "--cgroup", cgroup,
         *(a for k, v in annotations.items() for a in ("--annotation", f"{k}={v}")),
         "--rootfs", str(rootfs), cid, "/bin/sleep", "600"])
    pid = _task_pid(ctr, cid)
    comp.on_close(lambda: kill_pid(pid))  # should the shim have gone first
    oci = comp.dir / "containerd" / "state" / "io.containerd.runtime.v2.task" / K8S_NS / cid / "config.json"
    return CniPod(comp, netns, cid, pod_name, pod_ns, pod_uid, pid, host, bridge, address, oci,
                  comp.dir / "containerd" / "state", cgroup)


def _cgroup_dirs(path: str) -> list[Path]:
    """`path` and its parents in every mounted cgroup hierarchy (v1: one per controller; v2: one), deepest
    first."""
    parts = [p for p in path.split("/") if p]
    mounts = [Path(line.split()[1]) for line in Path("/proc/self/mounts").read_text().splitlines()
              if line.split()[2] in ("cgroup", "cgroup2")]
    return [m.joinpath(*parts[:n]) for n in range(len(parts), 0, -1) for m in mounts]


def _remove_cgroups(made: list[Path]) -> None:
    for d in made:  # deepest first; a cgroup directory goes with rmdir alone, once empty
        with contextlib.suppress(OSError):
            d.rmdir()


def _task_pid(ctr: list[str], cid: str) -> int:
    def probe() -> int:
        out = run([*ctr, "task", "ls"], check=False).stdout
        m = re.search(rf"^{cid}\s+(\d+)\s+RUNNING", out, re.M)
        return int(m.group(1)) if m else 0
    return poll_until(probe, timeout=20)


def _remove_task(ctr: list[str], cid: str) -> None:
    run([*ctr, "task", "kill", "-s", "SIGKILL", cid], check=False)
    # `task delete` fails until the killed task has stopped; done once it succeeds or the task is gone.
    poll_until(lambda: run([*ctr, "task", "delete", cid], check=False).returncode == 0
               or cid not in run([*ctr, "task", "ls"], check=False).stdout, timeout=10)
    run([*ctr, "container", "delete", cid], check=False)


@pytest.fixture(scope="session")
def cni_pod() -> Iterator[CniPod]:
    with component("cni") as comp:
        yield start_cni_pod(comp)


__all__ = ["CniPod", "cni_pod", "start_cni_pod"]
