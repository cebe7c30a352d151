"""The lab's VMs as libvirt domains, when libvirt's daemon answers: `vnettop` then names each VM tap's
owner from libvirt's runtime XML (`vm2 (vm)`, exact), as on a real Nova compute node.

What `start_vm` does for one VM, in place of the lab's bare qemu process (each step recorded in the lab's
state file before it is made, so `lab down` removes it even after a crash halfway):
1. the VM's tap, already made in the compute namespace and on its bridge, is moved to the root
   namespace (through the Mutator): libvirtd opens an existing tap by name in its own namespace;
2. `virsh create --paused` of a transient, diskless TCG domain `PREFIX-vmN` with Nova's `<metadata>`
   (display name `vmN`, flavor, project, user, the Neutron port whose uuid the tap name carries) and the
   tap as an unmanaged ethernet interface (`<target dev=TAP managed='no'/>`: libvirt opens it and hands
   the fd to qemu, and never deletes or reconfigures it). Paused: the guest costs no CPU;
3. the tap goes back into the compute namespace and onto its bridge (through the Mutator); qemu keeps
   its fd on it, so the tap is held by the domain's qemu, wherever the device is.
`remove` (from `lab down`): `virsh destroy` of every recorded domain and of every running `PREFIX-*`
domain (found even without the state file), and a tap left in the root namespace by a crash between
steps 1 and 3 (recorded only while it is there, so a host device of the same name is never touched).
libvirt deletes its runtime XML `/run/libvirt/qemu/PREFIX-vmN.xml` when a domain stops.

How `vnettop` names the tap then: the runtime XML gives the VM (Nova's display name, exact); libvirt's
qemu lives in the root namespace while the tap is in the compute node's, so the tap is joined to it
through qemu's own fd on it (the command-line source, merged with the XML's entry by the domain's uuid).

libvirt is asked at `LIBVIRT_DEFAULT_URI` when set, else `qemu:///system`, through `virsh` (set-up, not
collection: no Python binding needed, and the URI is the user's own). A libvirt that is not installed or
does not answer within `PROBE` leaves the lab's VMs as qemu processes, with one line saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from vnettop.actions import plans as p
from vnettop.errors import VnettopError

if TYPE_CHECKING:
    from vnettop.actions.lab import Lab
    from vnettop.actions.mutator import Mutator

DEFAULT_URI = "qemu:///system"
#: Longest one `virsh` call may take (the first domain start after libvirtd started waits for its
#: capability probe of qemu: seconds).
TIMEOUT = 120.0
#: Longest the "does the daemon answer" probe may take.
PROBE = 10.0
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
FLAVOR, PROJECT, USER = "m1.lab", "lab", "lab-admin"


def uri() -> str:
    return os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI


def _virsh(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-q", "-c", uri(), *args], capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def libvirt_answers() -> str | None:
    """None when `virsh` is installed and libvirt answers at `uri()`; else why not, in a few words."""
    if shutil.which("virsh") is None:
        return "libvirt is not installed (no virsh)"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed"
    try:
        proc = _virsh("version", timeout=PROBE)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"libvirt does not answer at {uri()} ({exc})"
    if proc.returncode != 0:
        return f"libvirt does not answer at {uri()} ({_last_line(proc)})"
    return None


def domain_name(lab: Lab, role: str) -> str:
    return f"{lab.prefix}-{role}"


def domain_xml(name: str, role: str, tap: str, port: str | None) -> str:
    """A diskless TCG domain shaped like a Nova instance, on the pre-made tap `tap`."""
    mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3))
    user_id, project_id = (uuid.uuid5(uuid.NAMESPACE_DNS, f"{who}.vnettop-lab").hex
                           for who in (USER, PROJECT))
    ports = "" if port is None else (
        f"      <nova:ports><nova:port uuid={quoteattr(port)}/></nova:ports>\n")
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <uuid>{uuid.uuid4()}</uuid>
  <metadata>
    <nova:instance xmlns:nova="{NOVA_NS}">
      <nova:name>{escape(role)}</nova:name>
      <nova:flavor name="{FLAVOR}">
        <nova:memory>64</nova:memory><nova:disk>0</nova:disk><nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral><nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="{user_id}">{USER}</nova:user>
        <nova:project uuid="{project_id}">{PROJECT}</nova:project>
      </nova:owner>
{ports}    </nova:instance>
  </metadata>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='ethernet'>
      <target dev={quoteattr(tap)} managed='no'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def _root_has(dev: str) -> bool:
    """Whether the root namespace (this process's: the lab runs there) has a device named `dev`."""
    return os.path.lexists(f"/sys/class/net/{dev}")


def start_vm(lab: Lab, mutator: Mutator, compute: str, role: str, tap: str, bridge: str,
             port: str | None) -> bool:
    """Steps 1-3 of the module docstring; False (nothing done, one line said) when the tap's name is
    taken in the root namespace, so the caller starts a qemu process instead. A failing step raises."""
    if _root_has(tap):
        lab.out(f"  . {role}: a device {tap} exists in the root namespace; not a libvirt domain")
        return False
    name = domain_name(lab, role)
    lab._remember("root_taps", tap)
    lab._apply(mutator, p.MoveToNamespace(tap, netns=compute, to_netns=None))
    with tempfile.NamedTemporaryFile("w", prefix="vnettop-lab-", suffix=".xml") as f:
        f.write(domain_xml(name, role, tap, port))
        f.flush()
        lab._remember("libvirt_domains", name)
        proc = _virsh("create", "--paused", f.name)
    if proc.returncode != 0:
        raise VnettopError(f"virsh create {name}: {_last_line(proc)}")
    lab.out(f"  + {role}: virsh create --paused {name} (libvirt at {uri()}) holds {tap}")
    lab._apply(mutator, p.MoveToNamespace(tap, netns=None, to_netns=compute))
    lab.state["root_taps"].remove(tap)  # in the lab's namespace again: never a root device to remove
    lab._save()
    lab._apply(mutator, p.SetMaster(tap, netns=compute, bridge=bridge))
    lab._apply(mutator, p.SetLinkState(tap, netns=compute))
    return True


def running(prefix: str) -> list[str]:
    """Names of the running domains named PREFIX-*, or [] when libvirt is absent or does not answer."""
    if shutil.which("virsh") is None:
        return []
    try:
        proc = _virsh("list", "--name", timeout=PROBE)
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return sorted(n.strip() for n in proc.stdout.splitlines() if n.strip().startswith(prefix + "-"))


def remove(lab: Lab, mutator: Mutator, state: dict[str, Any]) -> bool:
    """Undo what `start_vm` recorded in `state`, and any running PREFIX-* domain; whether all went."""
    ok = True
    recorded = [n for n in state.get("libvirt_domains", []) if isinstance(n, str)]
    for name in sorted(set(recorded) | set(running(lab.prefix))):
        if shutil.which("virsh") is None:
            break
        try:
            proc = _virsh("destroy", name)
        except (OSError, subprocess.SubprocessError) as exc:
            lab.out(f"  ! virsh destroy {name}: {exc}")
            ok = False
            continue
        err = proc.stderr or ""
        gone = proc.returncode == 0 or "failed to get domain" in err or "not running" in err
        if proc.returncode == 0:
            lab.out(f"  - virsh destroy {name}")
        elif not gone:
            lab.out(f"  ! virsh destroy {name}: {_last_line(proc)}")
        ok = ok and gone
    for tap in state.get("root_taps", []):
        if not isinstance(tap, str) or not _root_has(tap):
            continue
        plan = p.DeleteLink(tap, netns=None)
        result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
        lab.out(f"  {'-' if result.ok else '!'} {result.ip_command}")
        ok = ok and result.ok
    return ok


def status_lines(lab: Lab) -> list[str]:
    """`domain NAME` per running lab domain."""
    return [f"domain {name} (libvirt at {uri()})" for name in running(lab.prefix)]
