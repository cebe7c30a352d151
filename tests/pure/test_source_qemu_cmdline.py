"""The `qemu_cmdline` source: qemu command lines recorded from libvirt (tests/data/sources/libvirt/proc),
the other `-netdev` forms, weird input, the join to the held taps, and the merge with libvirt's entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources_fixtures import DATA, ROOT, fixture_root
from vnettop.collect.sources import Enrichment, scope
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.libvirt import LibvirtSource
from vnettop.collect.sources.qemu_cmdline import BadCmdline, QemuCmdline, backend, is_qemu, parse
from vnettop.model import Host, Link, Namespace, Process, Snapshot, TunHolder, TunInfo

WEB = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
DB = "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
PROC = DATA / "libvirt" / "proc"


def _argv(pid: int) -> list[str]:
    return (PROC / str(pid) / "cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def test_the_recorded_libvirt_9_command_line() -> None:
    qemu = parse(_argv(4242))
    assert (qemu.name, qemu.uuid) == ("instance-0000002a", WEB)
    assert [(b.id, b.fds, b.ifname, b.vhost) for b in qemu.backends] == [("hostnet0", (28,), None, False)]


def test_the_older_key_value_netdev_with_vhost() -> None:
    qemu = parse(_argv(4243))
    assert (qemu.name, qemu.uuid) == ("db-1", DB)
    assert [(b.id, b.fds, b.vhost) for b in qemu.backends] == [("hostnet0", (33,), True)]


@pytest.mark.parametrize(("value", "expected"), [
    ('{"type":"tap","fds":"30:31","vhost":true,"vhostfds":"32:33","id":"hostnet1"}', ("hostnet1", (30, 31), None, True)),
    ("tap,id=n0,ifname=tap0,script=no,downscript=no", ("n0", (), "tap0", False)),
    ("tap,fds=40:41,id=mq,vhost=on,vhostfds=42:43", ("mq", (40, 41), None, True)),
    ("type=tap,fd=7,id=x", ("x", (7,), None, False)),
    ("tap,id=a,,b,fd=9", ("a,b", (9,), None, False)),
])
def test_tap_backends(value: str, expected: tuple[object, ...]) -> None:
    found = backend(value)
    assert found is not None and (found.id, found.fds, found.ifname, found.vhost) == expected


@pytest.mark.parametrize("value", ["user,id=n0,hostfwd=tcp::2222-:22", '{"type":"user","id":"n0"}', "{not json",
                                   '["tap"]', "bridge,id=b0,br=br0"])
def test_other_backends_are_not_taps(value: str) -> None:
    assert backend(value) is None


def test_nic_and_net_options_count_too() -> None:
    qemu = parse(["qemu-system-x86_64", "-name", "n", "-nic", "tap,ifname=tapN,model=virtio", "-net",
                  "tap,fd=5", "--netdev=tap,fd=6,id=eq"])
    assert [(b.ifname, b.fds) for b in qemu.backends] == [("tapN", ()), (None, (5,)), (None, (6,))]


@pytest.mark.parametrize("argv", [
    ["qemu-system-x86_64", "-name", "debug-threads=on"],
    ["qemu-system-x86_64", "-name", ",guest=x"],
    ["qemu-system-x86_64", "-name"],
    ["qemu-system-x86_64", "-name", "web", "-uuid", "not-a-uuid"],
    ["qemu-system-x86_64", "-name", "web", "-uuid"],
])
def test_a_weird_name_or_uuid_is_refused(argv: list[str]) -> None:
    with pytest.raises(BadCmdline):
        parse(argv)


def test_name_forms() -> None:
    assert parse(["qemu-kvm", "-name", "guest=my,,vm,debug-threads=on"]).name == "my,vm"
    assert parse(["kvm", "-name", "plain"]).name == "plain"
    assert parse(["qemu-system-aarch64", "-m", "64"]).name is None


@pytest.mark.parametrize(("comm", "argv0", "expected"), [
    ("qemu-system-x86", "/usr/bin/qemu-system-x86_64", True), ("CPU 0/KVM", "/usr/libexec/qemu-kvm", True),
    ("kvm", "kvm", True), ("openvpn", "/usr/sbin/openvpn", False), ("ovs-vswitchd", "ovs-vswitchd", False),
])
def test_is_qemu(comm: str, argv0: str, expected: bool) -> None:
    assert is_qemu(comm, argv0) is expected


def _tap(ifindex: int, name: str, holders: tuple[TunHolder, ...], netns: int = ROOT) -> Link:
    return Link(netns, ifindex, name, "tap", None, 1500, True, "up",
                tun=TunInfo("tap", False, False, True, False, holders=holders))


def _world(weird: bool = False) -> Snapshot:
    """A host with libvirt's two qemus (4242 JSON form, 4243 key=value), an openvpn holding a tun,
    a qemu started by hand (ifname=) whose tap name is also used in another namespace, and, if `weird`,
    a qemu with an unreadable -name."""
    web, db = " ".join(_argv(4242)), " ".join(_argv(4243))
    hand = "qemu-system-x86_64 -name lab -netdev tap,id=n0,ifname=tapLab,script=no -device e1000,netdev=n0"
    procs = [Process(4242, "qemu-system-x86", web, "root"), Process(4243, "qemu-system-x86", db, "root"),
             Process(600, "openvpn", "/usr/sbin/openvpn --config x", "root"),
             Process(700, "qemu-system-x86", hand, "root")]
    if weird:
        procs.append(Process(800, "qemu-system-x86", "qemu-system-x86_64 -name debug-threads=on", "root"))
    namespaces = (Namespace(ROOT, (), True, (1, 600, 700, 800, 4242, 4243), tuple(procs)),
                  Namespace(9, ("elsewhere",), False, (901,)))
    links = (
        _tap(2, "tap1ec9dbb7-e7", (TunHolder(4242, "qemu-system-x86", (28,)),)),
        _tap(3, "vnet3", (TunHolder(4243, "qemu-system-x86", (33,), vhost_fds=(35,)),)),
        _tap(4, "tun0", (TunHolder(600, "openvpn", (5,)),)),
        _tap(5, "tapLab", (TunHolder(700, "qemu-system-x86", (12,)),)),
        _tap(6, "tapHotplug", (TunHolder(4242, "qemu-system-x86", (40,)),)),  # given later over QMP
        _tap(2, "tapLab", (), netns=9),
    )
    return Snapshot(Host("h", "k"), namespaces, links)


def _read(root: Path, base: Snapshot) -> Enrichment:
    source = QemuCmdline(str(root))
    try:
        return source.read(base)
    finally:
        source.close()


def test_each_qemu_is_a_vm_on_the_taps_its_fds_are(tmp_path: Path) -> None:
    part = _read(tmp_path / "empty", _world())
    assert part.errors == ()
    owners = {o.name: o for o in part.owners or ()}
    assert sorted(owners) == ["db-1", "instance-0000002a", "lab"]  # not openvpn
    web = owners["instance-0000002a"]
    assert (web.kind, web.id, web.runtime, web.source, web.exact) == ("vm", WEB, "qemu", "cmdline", False)
    assert web.links == ((ROOT, 2), (ROOT, 6)) and web.pids == (4242,)
    assert dict(web.details)["netdev"] == "hostnet0=tap1ec9dbb7-e7"
    assert dict(owners["db-1"].details)["netdev"] == "hostnet0=vnet3 (vhost)"
    lab = owners["lab"]
    assert lab.id is None and lab.links == ((ROOT, 5),)  # ifname= in its own namespace, not netns 9's
    assert dict(lab.details)["netdev"] == "n0=tapLab"


def test_a_weird_name_costs_that_vm_and_one_error_naming_the_process(tmp_path: Path) -> None:
    part = _read(tmp_path / "empty", _world(weird=True))
    assert [e.scope for e in part.errors] == [scope("qemu_cmdline")]
    assert part.errors[0].message.startswith("qemu pid 800 (/proc/800/cmdline): its -name gives no guest name")
    assert sorted(o.name for o in part.owners or ()) == ["db-1", "instance-0000002a", "lab"]


def test_procs_cmdline_under_the_root_keeps_a_name_with_a_space(tmp_path: Path) -> None:
    argv = ["qemu-system-x86_64", "-name", "guest=my vm,debug-threads=on", "-netdev", "tap,fd=3,id=n"]
    root = tmp_path / "root"
    (root / "proc" / "50").mkdir(parents=True)
    (root / "proc" / "50" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    proc = Process(50, "qemu-system-x86", " ".join(argv), "root")
    base = Snapshot(Host("h", "k"), (Namespace(ROOT, (), True, (50,), (proc,)),),
                    (_tap(2, "tapx", (TunHolder(50, "qemu-system-x86", (3,)),)),))
    assert [o.name for o in _read(root, base).owners or ()] == ["my vm"]
    # /proc/50 now belongs to another program (the pid was reused): the picture's line is used
    (root / "proc" / "50" / "cmdline").write_bytes(b"sleep\x001000\x00")
    assert [o.name for o in _read(root, base).owners or ()] == ["my"]


def test_libvirts_exact_entry_and_the_command_lines_merge_into_one(tmp_path: Path) -> None:
    base = _world()
    root = fixture_root(tmp_path, "libvirt")
    lv = LibvirtSource(str(root))
    snap = apply(base, [("libvirt", lv.read(base)), ("qemu_cmdline", _read(root, base))])
    lv.close()
    assert snap.owners is not None
    vms = [o for o in snap.owners if o.kind == "vm"]
    assert sorted(o.name for o in vms) == ["db-1", "lab", "web-1"], vms
    web = next(o for o in vms if o.name == "web-1")
    assert web.exact and web.source == "/run/libvirt/qemu/instance-0000002a.xml" and web.runtime == "libvirt"
    assert dict(web.details)["also"] == "cmdline"
    assert web.links == ((ROOT, 2), (ROOT, 6)) and web.pids == (4242,)  # the hot-plugged tap the XML lacks
    db = next(o for o in vms if o.name == "db-1")
    assert dict(db.details)["also"] == "cmdline" and db.links == ((ROOT, 3),)
