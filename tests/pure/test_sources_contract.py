"""The contract every registered source keeps (vnettop.collect.sources), checked over all of them.

- with no root at all (a path that does not exist) nothing raises;
- it refers only to kernel objects of the base picture, by key (links, namespaces, pids), and a parent
  index stays inside its own list;
- the base picture is unchanged: the enriched snapshot minus its sections is the kernel picture;
- its errors carry its name;
- it reads only under its root path (every open / listdir / scandir / stat it makes is audited).
"""

from __future__ import annotations

import copy
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.sources_fixtures import base_pictures, fixture_root
from vnettop.collect.sources import Enrichment, Source, scope
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.registry import SOURCES, make_sources
from vnettop.model import FdbEntry, Link, NsFd, Snapshot

_AUDITED = frozenset({"open", "os.listdir", "os.scandir", "os.stat", "os.readlink", "os.lstat"})
_watch = threading.local()


def _hook(event: str, args: tuple[object, ...]) -> None:
    paths = getattr(_watch, "paths", None)
    if paths is None or event not in _AUDITED or not args:
        return
    target = args[0]
    if isinstance(target, (str, bytes, os.PathLike)):
        paths.append(os.fsdecode(target))


sys.addaudithook(_hook)  # an audit hook cannot be removed: it records only while `_watch.paths` is set


@contextmanager
def paths_touched() -> Iterator[list[str]]:
    _watch.paths = []
    try:
        yield _watch.paths
    finally:
        _watch.paths = None


def outside(paths: list[str], root: Path) -> list[str]:
    base = os.path.realpath(root)
    return [p for p in paths if os.path.commonpath([base, os.path.realpath(p)]) != base]


FACTORIES = {factory(str(Path("/nonexistent"))).name: factory for factory in SOURCES}
BASES = base_pictures()


def test_every_registered_source_has_a_unique_name() -> None:
    names = [s.name for s in make_sources("/nonexistent")]
    assert len(names) == len(set(names)) == len(SOURCES) >= 1


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("base", sorted(BASES))
def test_with_no_root_nothing_raises(name: str, base: str, tmp_path: Path) -> None:
    source = FACTORIES[name](str(tmp_path / "does-not-exist"))
    try:
        source.available()
        part = source.read(BASES[base])
        assert isinstance(part, Enrichment)
        source.fileno()
    finally:
        source.close()


def _read(source: Source, base: Snapshot) -> Enrichment:
    try:
        return source.read(base)
    finally:
        source.close()


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("base", sorted(BASES))
def test_it_points_only_at_the_base_pictures_objects(name: str, base: str, tmp_path: Path) -> None:
    snap = BASES[base]
    part = _read(FACTORIES[name](str(fixture_root(tmp_path, name))), snap)
    links = {link.key for link in snap.links}
    inodes = {ns.inode for ns in snap.namespaces}
    pids = {pid for ns in snap.namespaces for pid in ns.pids}
    for i, owner in enumerate(part.owners or ()):
        assert set(owner.links) <= links, owner
        assert set(owner.namespaces) <= inodes, owner
        assert set(owner.pids) <= pids, owner
        assert owner.parent is None or (0 <= owner.parent < len(part.owners or ()) and owner.parent != i)
    for error in part.errors:
        assert error.scope == scope(name)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("base", sorted(BASES))
def test_the_base_picture_is_unchanged(name: str, base: str, tmp_path: Path) -> None:
    snap = BASES[base]
    before = copy.deepcopy(snap)
    part = _read(FACTORIES[name](str(fixture_root(tmp_path, name))), snap)
    enriched = apply(snap, [(name, part)])
    assert snap == before  # not changed in place
    assert enriched.kernel_picture() == snap
    assert enriched.kernel_picture().links is snap.links and enriched.namespaces is snap.namespaces


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_it_reads_only_under_its_root(name: str, tmp_path: Path) -> None:
    root = fixture_root(tmp_path, name)
    source = FACTORIES[name](str(root))
    with paths_touched() as touched:
        source.available()
        for snap in BASES.values():
            source.read(snap)
        source.fileno()
    source.close()
    assert outside(touched, root) == []


class _Snoop:
    """A source that breaks the rule: the audit must catch it (so the test above can fail)."""

    name = "snoop"

    def __init__(self, root: str) -> None:
        self.root = root

    def available(self) -> bool:
        return os.path.exists("/proc/self/status")

    def read(self, base: Snapshot) -> Enrichment:
        with open("/proc/self/status", encoding="utf-8") as f:
            f.read(1)
        return Enrichment()

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass


def test_the_root_audit_sees_a_read_outside(tmp_path: Path) -> None:
    snoop: Callable[[str], Source] = _Snoop
    source = snoop(str(tmp_path))
    with paths_touched() as touched:
        source.available()
        source.read(BASES["empty"])
    assert "/proc/self/status" in outside(touched, tmp_path)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("base", sorted(BASES))
def test_the_fds_held_on_namespaces_change_no_answer(name: str, base: str, tmp_path: Path) -> None:
    """The live loop does not ask the sources again when only `Namespace.fds` changed (enrich.py's
    `same_structure`): that holds only while no source's answer depends on them."""
    snap = BASES[base]
    held = replace(snap, namespaces=tuple(replace(ns, fds=(NsFd(4242, 7 + i),))
                                          for i, ns in enumerate(snap.namespaces)))
    root = str(fixture_root(tmp_path, name))
    assert _read(FACTORIES[name](root), held) == _read(FACTORIES[name](root), snap)


def with_learned(snap: Snapshot, n: int) -> Snapshot:
    """`snap` with `n` learned addresses on each bridge's first port (none if it has no port)."""
    def learned(link: Link) -> Link:
        if link.bridge is None:
            return link
        port = link.bridge.ports[0] if link.bridge.ports else None
        fdb = tuple(FdbEntry(f"52:54:00:00:00:{i:02x}", port, "learned") for i in range(n))
        return replace(link, bridge=replace(link.bridge, fdb=fdb))
    return replace(snap, links=tuple(learned(link) for link in snap.links))


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("base", sorted(BASES))
def test_a_bridges_learned_addresses_change_no_answer(name: str, base: str, tmp_path: Path) -> None:
    """The live loop does not ask the sources again when only bridges' FDBs changed (enrich.py's
    `_link_shape`): that holds only while no source's answer depends on them."""
    snap = BASES[base]
    root = str(fixture_root(tmp_path, name))
    assert _read(FACTORIES[name](root), with_learned(snap, 3)) == _read(FACTORIES[name](root), snap)

