"""The VM owner sources on a real libvirt + QEMU (TCG) domain with Nova's metadata: the runtime XML's
exact owner, qemu's command line agreeing and merging into it, the Nova port on its tap, and a domain
started and destroyed while a live collector runs."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.components.base import poll_until, run
from tests.components.libvirt import URI, Domain, Libvirt, domain_xml
from tests.components.snap import link_in
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources.qemu_cmdline import QemuCmdline
from vnettop.collect.sources.registry import make_sources
from vnettop.model import Owner, Snapshot

pytestmark = pytest.mark.kernel


def _collect() -> Snapshot:
    c = LiveCollector(sources=make_sources("/"))
    try:
        return c.collect()
    finally:
        c.close()


def _vm(snap: Snapshot, dom_uuid: str) -> Owner | None:
    assert snap.owners is not None, "no owner source answered"
    found = [o for o in snap.owners if o.kind == "vm" and o.id == dom_uuid]
    assert len(found) <= 1, found
    return found[0] if found else None


def test_the_domain_is_an_exact_vm_named_by_nova(libvirt_domain: Domain) -> None:
    dom = libvirt_domain
    snap = _collect()
    tap = link_in(snap, dom.tap)
    vm = _vm(snap, dom.uuid)
    assert vm is not None, [e.message for e in snap.errors]
    assert (vm.name, vm.runtime, vm.exact) == (dom.display_name, "libvirt", True)
    assert vm.source == f"/run/libvirt/qemu/{dom.name}.xml"
    details = dict(vm.details)
    assert (details["domain"], details["flavor"], details["project"], details["user"]) == (
        dom.name, dom.flavor, dom.project, dom.user)
    assert details["mac"] == dom.mac
    assert vm.links == (tap.key,) and vm.pids == (dom.qemu_pid,)
    assert details["also"] == "cmdline"  # qemu's command line named the same VM (same uuid): one entry
    assert vm in snap.owners_of_link(tap.key)


def test_the_nova_port_is_exact_on_its_tap_under_the_vm(libvirt_domain: Domain) -> None:
    dom = libvirt_domain
    snap = _collect()
    assert snap.owners is not None
    tap = link_in(snap, dom.tap)
    ports = [o for o in snap.owners if o.kind == "neutron-port" and o.id == dom.port_id]
    assert len(ports) == 1, snap.owners
    port = ports[0]
    assert port.exact and port.links == (tap.key,)
    assert port.parent is not None and snap.owners[port.parent].id == dom.uuid


def test_the_command_line_alone_agrees(libvirt_domain: Domain) -> None:
    dom = libvirt_domain
    c = LiveCollector(sources=[])
    try:
        kernel = c.collect()
    finally:
        c.close()
    part = QemuCmdline("/").read(kernel)
    mine = [o for o in part.owners or () if o.id == dom.uuid]
    assert len(mine) == 1, (part.owners, part.errors)
    vm = mine[0]
    tap = link_in(kernel, dom.tap)
    assert (vm.name, vm.runtime, vm.source, vm.exact) == (dom.name, "qemu", "cmdline", False)
    assert vm.links == (tap.key,) and vm.pids == (dom.qemu_pid,)
    assert dict(vm.details)["netdev"] == f"hostnet0={dom.tap}"


def test_a_domain_started_and_destroyed_live(libvirt: Libvirt) -> None:
    """A second domain (the session's stays up), made like the fixture's under its own name."""
    comp = libvirt.comp
    name, dom_uuid, port_id = comp.name("vl"), str(uuid.uuid4()), str(uuid.uuid4())
    tap, mac = f"vnt{port_id[:11]}", "fa:16:3e:00:7e:01"
    xml = comp.dir / f"{name}.xml"
    xml.write_text(domain_xml(name, dom_uuid, libvirt.bridge, tap, mac, port_id, "live-1", "m1.vnt", "vnt-admin",
                              "vnt-demo"))
    comp.record_link(tap)
    comp.on_close(lambda: run(["virsh", "-q", "-c", URI, "destroy", name], check=False, timeout=60))
    c = LiveCollector(sources=make_sources("/"))
    try:
        c.collect()
        libvirt.virsh("create", str(xml))
        started = time.monotonic()
        vm = poll_until(lambda: _vm(c.collect(), dom_uuid), timeout=5, interval=0.05)
        assert time.monotonic() - started < 1.0  # within a refresh of `virsh create` returning
        assert vm.name == "live-1" and vm.exact and vm.source == f"/run/libvirt/qemu/{name}.xml"
        libvirt.virsh("destroy", name)
        poll_until(lambda: _vm(c.collect(), dom_uuid) is None, timeout=10)
    finally:
        c.close()
