"""Every source vnettop knows, one line each (see `vnettop.collect.sources`).

A factory takes the root path the source reads under ("/" live; a fixture tree in tests).
"""

from __future__ import annotations

from collections.abc import Callable

from vnettop.collect.sources import Source
from vnettop.collect.sources.neutron_names import NeutronNames

SOURCES: tuple[Callable[[str], Source], ...] = (
    NeutronNames,
)


def make_sources(root: str = "/") -> list[Source]:
    """One instance of every registered source, reading under `root`."""
    return [factory(root) for factory in SOURCES]
