"""Shared fixtures: the `kit` fixture builds throwaway kernel objects and always removes them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.kernelkit import KernelKit, sweep_stale

IS_ROOT = os.geteuid() == 0


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI sets this to clear leftovers of a crashed earlier run. Off by default: developers may run
    # several test sessions at once, and one must not delete another's objects.
    if IS_ROOT and os.environ.get("VNETTOP_TEST_SWEEP") == "1":
        sweep_stale()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="real-kernel test: needs root")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def kit() -> Iterator[KernelKit]:
    """A KernelKit whose objects are removed after the test, pass or fail."""
    if not IS_ROOT:
        pytest.skip("real-kernel test: needs root")
    k = KernelKit()
    try:
        yield k
    finally:
        k.cleanup()
