"""The components tier: every test here is marked `components`; a missing component fails on CI.

On a developer's host a component that is not installed skips its tests, saying which Debian package
brings it. CI (CI=true) installs all of them (.ci/run), so there a skip would hide a broken install:
`need_binary`/`need_root` fail instead, and this hook turns any other skip in this tier into a failure
too (a fixture that skipped for a reason nobody foresaw).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.components.base import ON_CI
from tests.components.cni import cni_pod
from tests.components.docker import docker, docker_container
from tests.components.libvirt import libvirt, libvirt_domain
from tests.components.node_exporter import node_exporter
from tests.components.ovs import ovs
from tests.components.podman import podman_container
from tests.components.sshd import sshd

__all__ = ["cni_pod", "docker", "docker_container", "libvirt", "libvirt_domain", "node_exporter", "ovs",
           "podman_container", "sshd"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/components/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.components)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if ON_CI and report.skipped and "components" in item.keywords and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where every real component must run: {report.longrepr}"
    return report
