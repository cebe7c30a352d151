"""libvirtd + virtlogd started by hand, and one diskless QEMU (TCG) domain on a Linux bridge.

The daemons run in a private mount namespace where `/etc/libvirt`, `/var/lib/libvirt`,
`/var/cache/libvirt` and `/var/log/libvirt` are bind mounts of private directories: the host's own
configuration (its autostarted `default` network with dnsmasq and firewall rules) is never seen, and
nothing is written to it. `/run/libvirt` stays the host's, so the runtime XML lands where readers look
for it (`/run/libvirt/qemu/<name>.xml`); it is removed at teardown if it was not there before.

The /dev/kvm trap (REAL-COMPONENTS.md): with /dev/kvm at root 0600 and qemu running as libvirt-qemu,
libvirt's capability probe records KVM as usable although qemu's user cannot open it, and then re-probes
at every domain start. The private qemu.conf runs qemu as root, so the probe's verdict is true and stays
cached: the probe runs once per session (8 s here, into the private cache) and a domain starts in 0.5 s.
Hiding /dev/kvm behind a /dev/null bind mount, the other way out, is worse here: measured 22 s per
domain start (every start re-probes all three qemu-system binaries). The domain is `type='qemu'` (TCG),
which works whether KVM does or not.

The domain looks like a Nova instance: Nova's `<metadata>` (instance name, flavor, owner, ports) and a
tap named like Nova's `tap<port-uuid[:11]>`, with `vnt` in place of `tap` so tests own every name.
"""

from __future__ import annotations

import os
import shlex
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.base import (
    ON_CI,
    Component,
    component,
    need_binary,
    need_root,
    poll_until,
    read_pidfile,
    root_links,
    run,
)

URI = "qemu:///system"
SOCK = Path("/run/libvirt/libvirt-sock")
PRIVATE = ("/etc/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")


@dataclass
class Libvirt:
    comp: Component
    pid: int
    virtlogd_pid: int
    bridge: str

    def virsh(self, *args: str, timeout: float = 120) -> str:
        return run(["virsh", "-q", "-c", URI, *args], timeout=timeout).stdout


@dataclass
class Domain:
    libvirt: Libvirt
    name: str
    uuid: str
    tap: str
    mac: str
    port_id: str
    display_name: str
    flavor: str
    user: str
    project: str
    qemu_pid: int


def _live(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))
        return True
    except OSError:
        return False


def start_libvirt(comp: Component) -> Libvirt:
    need_root("libvirtd (qemu:///system, taps on a bridge)")
    need_binary("libvirtd", "libvirt-daemon-system")
    need_binary("virtlogd", "libvirt-daemon-system")
    need_binary("virsh", "libvirt-clients")
    need_binary("qemu-system-x86_64", "qemu-system-x86")
    if _live(SOCK):
        why = f"a libvirtd already answers on {SOCK}; the test one would share its /run/libvirt"
        if ON_CI:
            pytest.fail(why)
        pytest.skip(why)
    d = comp.dir
    comp.record_path("/run/libvirt")
    comp.record_path("/run/libvirtd.pid")  # not used (-p), listed in case a default path appears
    binds = []
    for target in PRIVATE:
        src = d / target.strip("/").replace("/", "_")
        src.mkdir()
        binds.append(f"mount --bind {shlex.quote(str(src))} {target}")
    etc = d / "etc_libvirt"
    (etc / "qemu").mkdir()
    (d / "var_log_libvirt" / "qemu").mkdir()
    (d / "var_lib_libvirt" / "qemu").mkdir()
    (d / "var_cache_libvirt" / "qemu").mkdir()
    (etc / "libvirtd.conf").write_text('auth_unix_rw = "none"\nauth_unix_ro = "none"\nlog_outputs = "3:stderr"\n')
    (etc / "virtlogd.conf").write_text('log_outputs = "3:stderr"\n')
    (etc / "qemu.conf").write_text('security_driver = "none"\nuser = "root"\ngroup = "root"\n'
                                   'stdio_handler = "logd"\n')
    script = " && ".join([
        *binds,
        f"virtlogd -d -p {d / 'virtlogd.pid'}",
        f"libvirtd -d -p {d / 'libvirtd.pid'} -f {etc / 'libvirtd.conf'}",
    ])
    run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=60)
    virtlogd = comp.wait_pidfile(d / "virtlogd.pid")
    pid = comp.wait_pidfile(d / "libvirtd.pid")
    poll_until(lambda: _live(SOCK), timeout=30)
    # The first call waits for the capability probe (once per session: the cache is private).
    run(["virsh", "-q", "-c", URI, "capabilities"], timeout=120)
    bridge = comp.name("lb")
    comp.record_link(bridge)
    run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "link", "set", bridge, "up"])
    return Libvirt(comp, pid, virtlogd, bridge)


NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"


def domain_xml(name: str, dom_uuid: str, bridge: str, tap: str, mac: str, port_id: str, display: str,
               flavor: str, user: str, project: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{dom_uuid}</uuid>
  <metadata>
    <nova:instance xmlns:nova="{NOVA_NS}">
      <nova:package version="27.1.0"/>
      <nova:name>{display}</nova:name>
      <nova:creationTime>2026-12-04 12:00:00</nova:creationTime>
      <nova:flavor name="{flavor}">
        <nova:memory>64</nova:memory><nova:disk>0</nova:disk><nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral><nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="{uuid.uuid5(uuid.NAMESPACE_DNS, user).hex}">{user}</nova:user>
        <nova:project uuid="{uuid.uuid5(uuid.NAMESPACE_DNS, project).hex}">{project}</nova:project>
      </nova:owner>
      <nova:ports>
        <nova:port uuid="{port_id}">
          <nova:ip type="fixed" address="10.0.0.5" ipVersion="4"/>
        </nova:port>
      </nova:ports>
    </nova:instance>
  </metadata>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <target dev='{tap}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def start_domain(lv: Libvirt) -> Domain:
    comp = lv.comp
    name = comp.name("vm")
    dom_uuid = str(uuid.uuid4())
    port_id = str(uuid.uuid4())
    tap = f"vnt{port_id[:11]}"  # Nova: f"tap{port_id[:11]}"
    mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3))
    display, flavor, user, project = f"{name}-web-1", "m1.vnt", "vnt-admin", "vnt-demo"
    xml = comp.dir / f"{name}.xml"
    xml.write_text(domain_xml(name, dom_uuid, lv.bridge, tap, mac, port_id, display, flavor, user, project))
    comp.record_link(tap)
    comp.on_close(lambda: run(["virsh", "-q", "-c", URI, "destroy", name], check=False, timeout=60))
    before = root_links()
    try:
        lv.virsh("create", str(xml))
    finally:
        for n in root_links() - before:
            if n.startswith("vnet"):  # libvirt's own tap names, should it ignore <target dev>
                comp.record_link(n)
    pidfile = Path(f"/run/libvirt/qemu/{name}.pid")
    qemu_pid: int = poll_until(lambda: read_pidfile(pidfile) or 0, timeout=30)
    poll_until(lambda: tap in root_links(), timeout=30)
    return Domain(lv, name, dom_uuid, tap, mac, port_id, display, flavor, user, project, qemu_pid)


@pytest.fixture(scope="session")
def libvirt() -> Iterator[Libvirt]:
    with component("libvirt") as comp:
        yield start_libvirt(comp)


@pytest.fixture(scope="session")
def libvirt_domain(libvirt: Libvirt) -> Domain:
    return start_domain(libvirt)


__all__ = ["Domain", "Libvirt", "libvirt", "libvirt_domain", "start_domain", "start_libvirt"]
