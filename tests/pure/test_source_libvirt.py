"""The `libvirt` source over the recorded compute-host tree (tests/data/sources/libvirt), bad files
beside good ones, the namespace rule of the tap join, and following a new domain live (inotify)."""

from __future__ import annotations

import dataclasses
import select
import shutil
from pathlib import Path

import pytest

from tests.sources_fixtures import DATA, ROOT, fixture_root, openstack_snapshot
from vnettop.collect.sources import scope
from vnettop.collect.sources.enrich import SourceSet, apply
from vnettop.collect.sources.libvirt import LibvirtSource
from vnettop.collect.sources.neutron_names import NeutronNames
from vnettop.model import Host, Link, Namespace, Owner, Snapshot

WEB = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
PORT = "1ec9dbb7-e7a4-4d1b-9c55-0a2b3c4d5e6f"
QEMU_DIR = "run/libvirt/qemu"
RECORDED = DATA / "libvirt" / QEMU_DIR / "instance-0000002a.xml"


def _root(tmp_path: Path) -> Path:
    return fixture_root(tmp_path, "libvirt")


def _read(root: Path, base: Snapshot | None = None) -> tuple[dict[tuple[str, str], Owner], list[str]]:
    source = LibvirtSource(str(root))
    try:
        part = source.read(base or openstack_snapshot())
    finally:
        source.close()
    assert part.owners is not None
    for error in part.errors:
        assert error.scope == scope("libvirt")
    return {(o.kind, o.name): o for o in part.owners}, [e.message for e in part.errors]


def test_a_nova_instance_is_named_by_its_display_name_with_its_facts(tmp_path: Path) -> None:
    owners, errors = _read(_root(tmp_path))
    assert errors == []
    vm = owners[("vm", "web-1")]
    assert vm.id == WEB and vm.runtime == "libvirt" and vm.exact
    assert vm.source == "/run/libvirt/qemu/instance-0000002a.xml"  # as on the host, not the test root
    details = dict(vm.details)
    assert details["domain"] == "instance-0000002a"
    assert (details["flavor"], details["project"], details["user"]) == ("m1.small", "demo", "alice")
    assert details["mac"] == "fa:16:3e:4c:2a:01" and details["ports"] == PORT
    assert vm.links == ((ROOT, 2),)  # tap1ec9dbb7-e7
    assert vm.pids == (4242,)


def test_a_nova_port_is_exact_under_its_vm_on_the_tap_carrying_its_prefix(tmp_path: Path) -> None:
    source = LibvirtSource(str(_root(tmp_path)))
    part = source.read(openstack_snapshot())
    source.close()
    assert part.owners is not None
    port = next(o for o in part.owners if o.kind == "neutron-port")
    assert (port.id, port.name, port.exact) == (PORT, PORT, True)
    assert port.links == ((ROOT, 2),)
    assert port.parent is not None and part.owners[port.parent].name == "web-1"


def test_a_plain_domain_keeps_its_libvirt_name(tmp_path: Path) -> None:
    owners, _errors = _read(_root(tmp_path))
    db = owners[("vm", "db-1")]
    assert dict(db.details)["domain"] == "db-1" and "flavor" not in dict(db.details)
    assert db.links == ((ROOT, 9),)  # vnet3: its qemu (4243) is not in the picture, so the root namespace
    assert db.pids == ()  # a pid the picture does not have is not pointed at


def test_the_nova_port_merges_with_the_name_pattern_entries_of_its_devices(tmp_path: Path) -> None:
    base = openstack_snapshot()
    lv = LibvirtSource(str(_root(tmp_path)))
    snap = apply(base, [("neutron_names", NeutronNames().read(base)), ("libvirt", lv.read(base))])
    lv.close()
    assert snap.owners is not None
    ports = [o for o in snap.owners if o.kind == "neutron-port" and o.id and o.id.startswith("1ec9dbb7-e7")]
    assert len(ports) == 1, ports
    port = ports[0]
    assert port.id == PORT and port.exact and dict(port.details)["also"] == "name pattern"
    names = sorted(name for key in port.links if (link := base.link(*key)) is not None for name in [link.name])
    assert names == ["qbr1ec9dbb7-e7", "qvb1ec9dbb7-e7", "qvo1ec9dbb7-e7", "tap1ec9dbb7-e7"]
    assert port.parent is not None and snap.owners[port.parent].label == "web-1 (vm)"


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_every_nova_metadata_version_is_read(version: str, tmp_path: Path) -> None:
    root = _root(tmp_path)
    xml = root / QEMU_DIR / "instance-0000002a.xml"
    xml.write_text(RECORDED.read_text().replace("libvirt/nova/1.1", f"libvirt/nova/{version}"))
    owners, _ = _read(root)
    assert dict(owners[("vm", "web-1")].details)["flavor"] == "m1.small"


def test_metadata_of_another_namespace_is_not_novas(tmp_path: Path) -> None:
    root = _root(tmp_path)
    xml = root / QEMU_DIR / "instance-0000002a.xml"
    xml.write_text(RECORDED.read_text().replace("libvirt/nova/1.1", "libvirt/nova/2.0"))
    owners, _ = _read(root)
    vm = owners[("vm", "instance-0000002a")]  # no display name: the domain name
    assert "flavor" not in dict(vm.details)
    assert not any(kind == "neutron-port" for kind, _ in owners)


@pytest.mark.parametrize(("content", "why"), [
    (RECORDED.read_bytes()[:5000], "not well-formed XML"),
    (RECORDED.read_bytes().replace(b" pid='4242'", b""), "no qemu pid"),
    (RECORDED.read_bytes().replace(b" pid='4242'", b" pid='x'"), "bad qemu pid"),
    (b"<domain><name>x</name></domain>", "not a runtime XML"),
    (RECORDED.read_bytes().replace(b"<name>instance-0000002a</name>", b""), "no <name>"),
    (b"", "not well-formed XML"),
    (b"\xff\xfe garbage", "not well-formed XML"),
])
def test_a_bad_runtime_file_costs_its_domain_and_one_error_naming_it(content: bytes, why: str,
                                                                     tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / QEMU_DIR / "bad.xml").write_bytes(content)
    owners, errors = _read(root)
    assert len(errors) == 1 and errors[0].startswith("/run/libvirt/qemu/bad.xml: ") and why in errors[0]
    assert sorted(owners) == [("neutron-port", PORT), ("vm", "db-1"), ("vm", "web-1")]  # the rest intact


def test_an_unreadable_file_is_an_error_not_a_missing_domain(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / QEMU_DIR / "dir.xml").mkdir()  # not a file: passed over
    (root / QEMU_DIR / "loop.xml").symlink_to("loop.xml")  # cannot be opened
    owners, errors = _read(root)
    assert len(errors) == 1 and errors[0].startswith("/run/libvirt/qemu/loop.xml: cannot read")
    assert ("vm", "web-1") in owners


def _ns_world() -> Snapshot:
    """The qemu (pid 77) lives in namespace 2; a device named like its tap is in root and in 3 too."""
    def link(ns: int, ifindex: int, name: str) -> Link:
        return Link(ns, ifindex, name, "tap", None, 1500, True, "up")
    return Snapshot(Host("h", "k"), (Namespace(ROOT, (), True, (1,)), Namespace(2, ("qemu-ns",), False, (77,)),
                                     Namespace(3, ("other",), False, (78,))),
                    (link(ROOT, 5, "tap1ec9dbb7-e7"), link(2, 5, "tap1ec9dbb7-e7"), link(3, 5, "tap1ec9dbb7-e7")))


def test_the_tap_is_the_one_in_the_qemus_namespace(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / QEMU_DIR / "db-1.xml").unlink()
    xml = root / QEMU_DIR / "instance-0000002a.xml"
    xml.write_text(RECORDED.read_text().replace("pid='4242'", "pid='77'"))
    owners, _ = _read(root, _ns_world())
    assert owners[("vm", "web-1")].links == ((2, 5),) and owners[("vm", "web-1")].pids == (77,)
    xml.write_text(RECORDED.read_text().replace("pid='4242'", "pid='99'"))  # a qemu not in the picture
    owners, _ = _read(root, _ns_world())
    assert owners[("vm", "web-1")].links == ((ROOT, 5),)  # root; never the same name in namespace 3


def test_a_tap_missing_from_the_picture_is_not_guessed(tmp_path: Path) -> None:
    root = _root(tmp_path)
    base = openstack_snapshot()
    base = dataclasses.replace(base, links=tuple(ln for ln in base.links if ln.name != "tap1ec9dbb7-e7"))
    owners, _ = _read(root, base)
    assert owners[("vm", "web-1")].links == () and owners[("neutron-port", PORT)].links == ()


def test_no_state_directory_is_no_domain_and_no_error(tmp_path: Path) -> None:
    source = LibvirtSource(str(tmp_path / "nothing"))
    assert not source.available()
    part = source.read(openstack_snapshot())
    assert part.owners == () and part.errors == ()
    source.close()


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    root = _root(tmp_path)
    source = LibvirtSource(str(root))
    base = openstack_snapshot()
    first = source.read(base)
    xml = root / QEMU_DIR / "instance-0000002a.xml"
    xml.write_text(RECORDED.read_text().replace("<nova:name>web-1</nova:name>", "<nova:name>web-22</nova:name>"))
    second = source.read(base)
    source.close()
    assert "web-1" in {o.name for o in first.owners or ()}
    assert "web-22" in {o.name for o in second.owners or ()}
    assert "web-1" not in {o.name for o in second.owners or ()}


def _readable(fd: int | None, timeout: float = 2.0) -> bool:
    return fd is not None and bool(select.select([fd], [], [], timeout)[0])


def test_a_new_runtime_file_fires_the_fd_and_the_next_enrich_has_the_vm(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / QEMU_DIR).mkdir(parents=True)
    sources = SourceSet([LibvirtSource(str(root))], period=3600.0)
    try:
        base = openstack_snapshot()
        assert sources.enrich(base).owners == ()
        fd = sources.sources[0].fileno()
        assert not _readable(fd, 0)
        shutil.copy(RECORDED, root / QEMU_DIR / "instance-0000002a.xml")
        assert _readable(fd)
        snap = sources.enrich(base)  # the same kernel picture: only the fd says to read again
        assert sources.last_read == ["libvirt"]
        assert snap.owners is not None and "web-1 (vm)" in {o.label for o in snap.owners}
        assert not _readable(fd, 0)  # drained by the read
        assert sources.enrich(base) == snap and sources.last_read == []  # idle: reused
        (root / QEMU_DIR / "instance-0000002a.xml").unlink()  # the domain stopped
        assert _readable(fd)
        assert sources.enrich(base).owners == ()
    finally:
        sources.close()
