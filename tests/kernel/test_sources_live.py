"""The live collector asks its sources after the kernel picture, on the real kernel.

A source that claims every device whose name carries this test's tag: a veth made after the first
collect is claimed on the next one (the picture's structure changed, so the source was asked again),
and the collector's kernel picture is what it would be without the source.
"""

from __future__ import annotations

from tests.kernelkit import KernelKit, poll_until
from vnettop.collect.collector import LiveCollector
from vnettop.collect.sources import Enrichment
from vnettop.model import Owner, Snapshot


class TagOwner:
    """Owns (by name) the devices whose name starts with `prefix`."""

    name = "tag_owner"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.reads = 0

    def available(self) -> bool:
        return True

    def read(self, base: Snapshot) -> Enrichment:
        self.reads += 1
        keys = tuple(sorted(link.key for link in base.links if link.name.startswith(self.prefix)))
        if not keys:
            return Enrichment(owners=())
        return Enrichment(owners=(Owner("test", self.prefix, None, "test", "name pattern", False, links=keys),))

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass


def test_a_device_made_between_collects_gets_its_owner(kit: KernelKit) -> None:
    ns = kit.netns("src")
    source = TagOwner(kit.name(""))
    with LiveCollector(sources=[source]) as collector:
        first = collector.collect()
        assert first.owners is not None
        claimed_before = {key for o in first.owners for key in o.links}
        a, _b = kit.veth(kit.name("sa"), kit.name("sb"), ns_b=ns)

        def claimed() -> Snapshot | None:
            snap = collector.collect()
            links = snap.find_links(a)
            return snap if links and snap.owners_of_link(links[0].key) else None

        snap = poll_until(claimed)
        (link,) = snap.find_links(a)
        assert link.key not in claimed_before
        (owner,) = snap.owners_of_link(link.key)
        assert owner.name == kit.name("") and not owner.exact
        peer = snap.links_in(kit.ns_inode(ns))
        assert any(snap.owners_of_link(p.key) for p in peer if p.name == kit.name("sb"))
        assert snap.kernel_picture().owners is None and snap.kernel_picture().links is snap.links


def test_without_sources_the_picture_has_no_sections(kit: KernelKit) -> None:
    with LiveCollector(sources=()) as collector:
        snap = collector.collect()
    assert snap.owners is None and snap.kernel_picture() is snap
