"""The lab's owners: a real Docker container plugged into the lab's network, so `vnettop` has a name to
show on a veth and a namespace (`web (container)`), when Docker is installed and its daemon answers.

What `add_container` does, after the lab's own topology is up (every step is recorded in the lab's state
file before it is made, so `lab down` removes it even after a crash halfway):
1. an image: `vnettop-lab-busybox:latest` if the daemon has it, else `docker import` of a one-binary
   rootfs (this host's static busybox, `/bin/sh` and `/bin/sleep` linked to it) made on the spot. Nothing
   is ever pulled from a registry; without a static busybox the container is skipped with one line;
2. `docker run -d --network none --name PREFIX-web`: dockerd makes the namespace and touches no
   bridge, firewall or forwarding (`none`), so the host's networking is left as found;
3. the container's namespace gets a name, `PREFIXctr-web` (`ip netns attach`): outside the lab's own
   `PREFIX-*` names, so `lab status` counts the lab as before; removed by `lab down` like any lab name;
4. a Neutron-style port: a veth `tapXXXXXXXX-XX` on the lab network's bridge in the compute namespace,
   its peer `eth0` in the container with 10.0.0.10/24 (through the Mutator: printed and journalled).
`remove` (from `lab down`): `docker rm -f` the container, `docker rmi` an image the lab imported, the
namespace name through the Mutator. A Docker that is absent or does not answer within `TIMEOUT` skips
all of it with one line; `lab up` never fails because of Docker.

The `docker` command is used (not the Engine API) because this is set-up, not collection: it honours
DOCKER_HOST and the user's docker context exactly as the user's own `docker` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

from vnettop.actions import netnsfs
from vnettop.actions import plans as p
from vnettop.errors import VnettopError

if TYPE_CHECKING:
    from vnettop.actions.lab import Lab
    from vnettop.actions.mutator import Mutator

IMAGE = "vnettop-lab-busybox:latest"
#: Longest one `docker` call may take (an import or a run on a slow disk is seconds).
TIMEOUT = 60.0
#: Longest the "does the daemon answer" probe may take.
PROBE = 5.0
ADDRESS = "10.0.0.10/24"


def _docker(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def docker_answers() -> str | None:
    """None when `docker` is installed and its daemon answers; else why not, in a few words."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        proc = _docker("version", "--format", "{{.Server.Version}}", timeout=PROBE)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"docker does not answer ({exc})"
    return None if proc.returncode == 0 else f"the docker daemon does not answer ({_last_line(proc)})"


def _busybox() -> str | None:
    """A static busybox on this host (a dynamic one would not run in an empty rootfs)."""
    for path in ("/bin/busybox", "/usr/bin/busybox"):
        try:
            with open(path, "rb") as f:
                head = f.read(1 << 16)
        except OSError:
            continue
        if head.startswith(b"\x7fELF") and b"/lib64/ld-linux" not in head and b"/lib/ld-" not in head:
            return path
    return None


def _image(lab: Lab) -> str | None:
    """The lab's image, imported now if missing; None (and a line said why) when none can be made."""
    if _docker("image", "inspect", IMAGE, timeout=PROBE).returncode == 0:
        return IMAGE
    busybox = _busybox()
    if busybox is None:
        lab.out("  . no container: no static busybox here to make a local image from (Debian package "
                "busybox-static), and the lab never pulls one")
        return None
    with tempfile.TemporaryDirectory(prefix="vnettop-lab-") as tmp:
        tar = os.path.join(tmp, "rootfs.tar")
        with tarfile.open(tar, "w") as t:
            bin_dir = tarfile.TarInfo("bin")
            bin_dir.type, bin_dir.mode = tarfile.DIRTYPE, 0o755
            t.addfile(bin_dir)
            t.add(busybox, "bin/busybox")
            for applet in ("sh", "sleep"):
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                t.addfile(info)
        lab._remember("docker_images", IMAGE)
        proc = _docker("import", tar, IMAGE)
    if proc.returncode != 0:
        raise VnettopError(f"docker import: {_last_line(proc)}")
    lab.out(f"  + docker import (static busybox) {IMAGE}")
    return IMAGE


def _attach(name: str, pid: int) -> None:
    """`ip netns attach NAME PID`: name the namespace of `pid` (a bind mount under /run/netns)."""
    netnsfs._share_run_dir()
    path = netnsfs.netns_path(name)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
    os.close(fd)
    try:
        netnsfs._mount(f"/proc/{pid}/ns/net", path, "none", netnsfs.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise


def add_container(lab: Lab, mutator: Mutator, compute: str, bridge: str) -> None:
    """Steps 1-4 of the module docstring; a missing Docker is one line, a failing one raises."""
    why = docker_answers()
    if why is not None:
        lab.out(f"  . no container: {why}")
        return
    image = _image(lab)
    if image is None:
        return
    name, netns = f"{lab.prefix}-web", f"{lab.prefix}ctr-web"
    lab._remember("docker_containers", name)
    proc = _docker("run", "-d", "--network", "none", "--name", name, "--label", f"vnettop.lab={lab.prefix}",
                   image, "/bin/sleep", "2147483647")
    if proc.returncode != 0:
        raise VnettopError(f"docker run: {_last_line(proc)}")
    lab.out(f"  + docker run -d --network none --name {name} {image}")
    inspect = _docker("inspect", "--format", "{{.State.Pid}}", name, timeout=PROBE)
    pid = inspect.stdout.strip()
    if inspect.returncode != 0 or not pid.isdigit() or pid == "0":
        raise VnettopError(f"docker inspect {name}: no running process ({_last_line(inspect)})")
    lab._remember("owner_namespaces", netns)
    _attach(netns, int(pid))
    lab.out(f"  + ip netns attach {netns} {pid}")
    tap = f"tap{str(uuid.uuid4())[:11]}"
    up = p.SetLinkState
    for plan in (p.CreateVethPair(tap, "eth0", netns=compute, peer_netns=netns),
                 p.SetMaster(tap, netns=compute, bridge=bridge), up(tap, netns=compute),
                 up("lo", netns=netns), p.AddAddress("eth0", netns=netns, address=ADDRESS),
                 up("eth0", netns=netns)):
        lab._apply(mutator, plan)


def remove(lab: Lab, mutator: Mutator, state: dict[str, Any]) -> bool:
    """Undo what `add_container` recorded in `state`; whether everything went."""
    ok = True
    names = [n for n in state.get("docker_containers", []) if isinstance(n, str)]
    images = [i for i in state.get("docker_images", []) if isinstance(i, str)]
    if (names or images) and shutil.which("docker") is not None:
        for name in names:
            try:
                proc = _docker("rm", "-f", name)
            except (OSError, subprocess.SubprocessError) as exc:
                lab.out(f"  ! docker rm -f {name}: {exc}")
                ok = False
                continue
            gone = proc.returncode == 0 or "No such container" in (proc.stderr or "")
            why = "" if gone else f": {_last_line(proc)}"
            lab.out(f"  {'-' if gone else '!'} docker rm -f {name}{why}")
            ok = ok and gone
        for image in images:
            try:
                proc = _docker("rmi", image)
            except (OSError, subprocess.SubprocessError):
                continue
            lab.out(f"  {'-' if proc.returncode == 0 else '.'} docker rmi {image}")
    for netns in state.get("owner_namespaces", []):
        if not isinstance(netns, str) or not os.path.lexists(netnsfs.netns_path(netns)):
            continue
        plan = p.DeleteNamespace(netns)
        result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
        lab.out(f"  {'-' if result.ok else '!'} {result.ip_command}")
        ok = ok and result.ok
    return ok
