"""libvirt + QEMU (TCG): a Nova-style domain's tap is held by its qemu, which vnettop names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.components.libvirt import NOVA_NS, Domain
from tests.components.snap import collect, link_in
from vnettop import topology

pytestmark = pytest.mark.kernel


def test_tap_is_held_by_qemu_with_the_domain_name(libvirt_domain: Domain) -> None:
    dom = libvirt_domain
    snap = collect()
    tap = link_in(snap, dom.tap)
    assert tap.tun is not None and tap.tun.type == "tap"
    assert tap.master is not None and tap.master.name == dom.libvirt.bridge
    assert tap.mac is not None and tap.mac.lower() == "fe" + dom.mac[2:]  # libvirt's host side of the MAC
    held = topology.holders(snap, tap)
    assert [h.pid for _, h in held] == [dom.qemu_pid], held
    proc, holder = held[0]
    assert holder.exact
    assert proc is not None and topology.vm_name(proc) == dom.name


def test_runtime_xml_carries_the_nova_metadata(libvirt_domain: Domain) -> None:
    """What an owner reader gets from /run/libvirt/qemu/<name>.xml (checks the fixture, for its users)."""
    dom = libvirt_domain
    root = ET.parse(Path(f"/run/libvirt/qemu/{dom.name}.xml")).getroot()
    domain = root.find("domain")
    assert domain is not None and domain.findtext("uuid") == dom.uuid
    assert domain.find(f"devices/interface/target[@dev='{dom.tap}']") is not None
    inst = domain.find(f"metadata/{{{NOVA_NS}}}instance")
    assert inst is not None
    assert inst.findtext(f"{{{NOVA_NS}}}name") == dom.display_name
    flavor = inst.find(f"{{{NOVA_NS}}}flavor")
    assert flavor is not None and flavor.get("name") == dom.flavor
    assert inst.findtext(f"{{{NOVA_NS}}}owner/{{{NOVA_NS}}}project") == dom.project
    assert inst.find(f"{{{NOVA_NS}}}ports/{{{NOVA_NS}}}port[@uuid='{dom.port_id}']") is not None
