"""Fixtures shared by the real-kernel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vnettop.collect.collector import LiveCollector


@pytest.fixture
def collector() -> Iterator[LiveCollector]:
    """A live collector, closed after the test."""
    c = LiveCollector()
    try:
        yield c
    finally:
        c.close()
