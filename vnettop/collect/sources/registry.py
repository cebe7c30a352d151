"""Every source vnettop knows, one line each (see `vnettop.collect.sources`).

A factory takes the root path the source reads under ("/" live; a fixture tree in tests), and, as
keywords, the settings a user gave for it by its name (`--ovsdb PATH` is `{"ovs": {"db": PATH}}`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from vnettop.collect.sources import Source
from vnettop.collect.sources.cgroups import CgroupSource
from vnettop.collect.sources.cri import CriSource
from vnettop.collect.sources.docker import DockerSource
from vnettop.collect.sources.libvirt import LibvirtSource
from vnettop.collect.sources.neutron_names import NeutronNames
from vnettop.collect.sources.ovs import OvsSource
from vnettop.collect.sources.podman import PodmanSource
from vnettop.collect.sources.proxmox import ProxmoxSource
from vnettop.collect.sources.qemu_cmdline import QemuCmdline

SOURCES: tuple[Callable[..., Source], ...] = (
    # the runtimes' own records first (exact), then what is inferred (a command line, a cgroup, a name)
    LibvirtSource,
    ProxmoxSource,
    DockerSource,
    PodmanSource,
    CriSource,
    OvsSource,
    QemuCmdline,
    CgroupSource,
    NeutronNames,
)

#: Per source name, keyword -> value for its factory.
Settings = Mapping[str, Mapping[str, str]]


def make_sources(root: str = "/", settings: Settings | None = None) -> list[Source]:
    """One instance of every registered source, reading under `root`, given its `settings` if any."""
    given = settings or {}
    return [factory(root, **given.get(str(getattr(factory, "name", "")), {})) for factory in SOURCES]
