"""`topology.vm_name`: which VM owns a tap, from qemu's `-name` argument."""

from __future__ import annotations

import pytest

from vnettop.model import Process
from vnettop.topology import vm_name


def _proc(cmdline: str, comm: str = "qemu-system-x86") -> Process:
    return Process(pid=7748, comm=comm, cmdline=cmdline, user="root")


@pytest.mark.parametrize(("cmdline", "expected"), [
    ("/usr/bin/qemu-system-x86_64 -name guest=P2,debug-threads=on -m 512", "P2"),
    ("qemu-system-x86_64 -name P2 -m 512", "P2"),
    ("qemu-system-x86_64 -name P2,process=qemu-P2", "P2"),
    ("qemu-system-x86_64 -name debug-threads=on,guest=web1", "web1"),
    ("qemu-system-x86_64 -name 'guest=my vm,,two,debug-threads=on'", "my vm,two"),
    ("qemu-system-x86_64 --name=guest=db", "db"),
    ("qemu-system-x86_64 -m 512 -netdev tap,id=n0,fd=26", None),
    ("qemu-system-x86_64 -name", None),
    ("qemu-system-x86_64 -name debug-threads=on", None),
])
def test_qemu_forms(cmdline: str, expected: str | None) -> None:
    assert vm_name(_proc(cmdline)) == expected


def test_unbalanced_quote_falls_back_to_spaces() -> None:
    assert vm_name(_proc("qemu-kvm -name guest=P'3 -m 1")) == "P'3"


def test_not_qemu() -> None:
    assert vm_name(_proc("dnsmasq -name P2 --port 53", comm="dnsmasq")) is None


def test_qemu_known_by_argv0_when_comm_differs() -> None:
    assert vm_name(_proc("/usr/libexec/qemu-kvm -name guest=P9", comm="CPU 0/KVM")) == "P9"
