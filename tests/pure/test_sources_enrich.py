"""Joining sources' answers (merge, parents, errors) and asking them only when needed (SourceSet)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import replace

import pytest

from tests.sources_fixtures import ROOT, openstack_snapshot
from vnettop.collect.sources import Enrichment, scope
from vnettop.collect.sources.enrich import (
    SourceSet,
    _link_shape,
    _same_shape,
    apply,
    merge_owners,
    read_safely,
)
from vnettop.model import BridgeInfo, CollectError, FdbEntry, Link, NsFd, Owner, Snapshot, Stats
from vnettop.ui.changes import same_structure


def owner(name: str, ident: str | None, exact: bool, source: str, **kw: object) -> Owner:
    return Owner("vm", name, ident, "qemu", source, exact, **kw)  # type: ignore[arg-type]


def test_the_same_thing_from_two_sources_is_one_entry_and_the_exact_one_wins() -> None:
    guess = owner("web-1?", "u1", False, "qemu command line", links=((ROOT, 2),))
    exact = owner("web-1", "u1", True, "/run/libvirt/qemu/web-1.xml", links=((ROOT, 3),))
    (merged,) = merge_owners([(guess,), (exact,)])
    assert merged.name == "web-1" and merged.exact
    assert dict(merged.details)["also"] == "qemu command line"
    assert merged.links == ((ROOT, 2), (ROOT, 3))


def test_parents_follow_their_owner_through_merging_and_sorting() -> None:
    part = (owner("zz-port", "p", False, "s", parent=1), owner("aa-vm", "v", False, "s"))
    merged = merge_owners([part])
    assert [o.name for o in merged] == ["aa-vm", "zz-port"]
    assert merged[1].parent == 0 and merged[0].parent is None


def test_errors_join_the_snapshots_and_leave_with_the_sections() -> None:
    base = openstack_snapshot()
    err = CollectError(scope("x"), "cannot read: boom")
    enriched = apply(base, [("x", Enrichment(owners=(), errors=(err,)))])
    assert enriched.errors[-1] == err and enriched.owners == ()
    assert enriched.kernel_picture() == base


def test_no_source_asked_leaves_the_section_unknown() -> None:
    base = openstack_snapshot()
    assert apply(base, []) is base and base.owners is None
    assert apply(base, [("x", Enrichment())]).owners is None


class Counting:
    """A source that counts its reads; `fd` (a pipe) fires when written to."""

    name = "counting"

    def __init__(self, with_fd: bool = False, available: bool = True, fail: bool = False) -> None:
        self.reads = 0
        self.is_available = available
        self.fail = fail
        self.pipe = os.pipe() if with_fd else None

    def available(self) -> bool:
        return self.is_available

    def read(self, base: Snapshot) -> Enrichment:
        self.reads += 1
        if self.fail:
            raise RuntimeError("runtime mid-restart")
        if self.pipe is not None:
            os.set_blocking(self.pipe[0], False)
            try:
                os.read(self.pipe[0], 100)
            except BlockingIOError:
                pass
        return Enrichment(owners=(owner("vm", str(self.reads), True, "test", links=(base.links[0].key,)),))

    def fileno(self) -> int | None:
        return None if self.pipe is None else self.pipe[0]

    def close(self) -> None:
        if self.pipe is not None:
            for fd in self.pipe:
                os.close(fd)
            self.pipe = None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def with_counters(snap: Snapshot, n: int) -> Snapshot:
    return replace(snap, links=tuple(replace(link, stats=Stats(rx_bytes=n)) for link in snap.links))


def test_an_idle_source_is_reused_by_identity_until_its_period() -> None:
    clock, source = Clock(), Counting()
    sources = SourceSet([source], period=5.0, clock=clock)
    base = openstack_snapshot()
    first = sources.enrich(base)
    clock.now += 1
    second = sources.enrich(with_counters(base, 7))  # counters moved: not a change of structure
    assert source.reads == 1 and sources.last_read == []
    assert second.owners is first.owners
    clock.now += 5
    sources.enrich(with_counters(base, 8))
    assert source.reads == 2 and sources.last_read == ["counting"]


def test_a_change_of_structure_asks_again() -> None:
    source = Counting()
    sources = SourceSet([source], clock=Clock())
    base = openstack_snapshot()
    sources.enrich(base)
    sources.enrich(replace(base, links=base.links[:-1]))
    assert source.reads == 2


def test_fds_held_on_namespaces_alone_do_not_ask_again_and_the_answer_is_a_fresh_reads() -> None:
    """Another process opening or closing fds on namespaces (a second monitor, a CNI plugin) changes
    `Namespace.fds` every second on some hosts: no source reads them, so no source is asked again, and
    the reused answer is what a fresh SourceSet gives for the new picture. pids still count."""
    source = Counting()
    sources = SourceSet([source], clock=Clock())
    base = openstack_snapshot()
    sources.enrich(base)
    held = replace(base, namespaces=tuple(replace(ns, fds=(NsFd(4242, 7 + i),))
                                          for i, ns in enumerate(base.namespaces)))
    reused = sources.enrich(held)
    assert source.reads == 1 and sources.last_read == []
    assert reused == SourceSet([Counting()], clock=Clock()).enrich(held)
    assert reused.namespaces is held.namespaces  # the new picture's fds are shown
    i = next(i for i, ns in enumerate(held.namespaces) if not ns.root)
    moved = replace(held, namespaces=tuple(replace(ns, pids=(*ns.pids, 99999)) if j == i else ns
                                           for j, ns in enumerate(held.namespaces)))
    sources.enrich(moved)
    assert source.reads == 2 and sources.last_read == ["counting"]


def test_a_bridges_learned_addresses_alone_do_not_ask_again_and_the_answer_is_a_fresh_reads() -> None:
    """A busy bridge learns and ages out addresses every few seconds: no source reads its FDB, so no
    source is asked again, the reused answer is what a fresh SourceSet gives for the new picture, and the
    new FDB is what is shown. A bridge's ports still count."""
    source = Counting()
    sources = SourceSet([source], clock=Clock())
    plain = openstack_snapshot()
    i = next(i for i, link in enumerate(plain.links) if link.kind == "bridge")
    ports = tuple(link.ifindex for link in plain.links
                  if link.netns == plain.links[i].netns and link.kind in ("tap", "veth"))[:2]
    assert ports

    def with_bridge(info: BridgeInfo) -> Snapshot:
        return replace(plain, links=tuple(replace(link, bridge=info) if j == i else link
                                          for j, link in enumerate(plain.links)))

    info = BridgeInfo(False, False, ports, (FdbEntry("52:54:00:00:00:01", ports[0], "learned"),))
    sources.enrich(with_bridge(info))
    learned = with_bridge(replace(info, fdb=(*info.fdb, FdbEntry("52:54:00:12:34:56", ports[-1], "learned"))))
    reused = sources.enrich(learned)
    assert source.reads == 1 and sources.last_read == []
    assert reused == SourceSet([Counting()], clock=Clock()).enrich(learned)
    assert reused.links is learned.links
    sources.enrich(with_bridge(replace(info, ports=ports[1:])))
    assert source.reads == 2 and sources.last_read == ["counting"]


def with_root_pids(snap: Snapshot, *pids: int) -> Snapshot:
    return replace(snap, namespaces=tuple(replace(ns, pids=tuple(sorted({*ns.pids, *pids}))) if ns.root else ns
                                          for ns in snap.namespaces))


@pytest.mark.parametrize("with_fd", [False, True])
def test_processes_coming_and_going_in_root_ask_again_only_after_the_period(with_fd: bool) -> None:
    """A shell or a cron job in the root namespace changes its pids every second on a busy host: that alone
    re-asks a source once its last answer is `period` old, not on every tick; anything else still at once."""
    clock, source = Clock(), Counting(with_fd=with_fd)
    sources = SourceSet([source], period=5.0, clock=clock)
    base = openstack_snapshot()
    assert any(ns.root for ns in base.namespaces)
    sources.enrich(base)
    for second in range(1, 5):  # a new root process every second: reused
        clock.now += 1
        sources.enrich(with_root_pids(base, 90000 + second))
        assert source.reads == 1 and sources.last_read == []
    clock.now += 1  # 5 s after the last read
    again = with_root_pids(base, 90005)
    enriched = sources.enrich(again)
    assert source.reads == 2 and sources.last_read == ["counting"]
    assert enriched.namespaces is again.namespaces  # the picture itself is always the new one
    clock.now += 1
    sources.enrich(replace(with_root_pids(base, 90006), links=base.links[:-1]))  # and a real change: at once
    assert source.reads == 3
    source.close()


def test_a_source_with_an_fd_is_asked_again_when_it_fires_and_only_then() -> None:
    clock, source = Clock(), Counting(with_fd=True)
    sources = SourceSet([source], period=1.0, clock=clock)
    base = openstack_snapshot()
    sources.enrich(base)
    clock.now += 60  # no period for a source with an fd
    sources.enrich(base)
    assert source.reads == 1
    assert source.pipe is not None
    os.write(source.pipe[1], b"x")
    sources.enrich(base)
    assert source.reads == 2
    sources.close()


def test_watches_are_made_before_the_first_read_unless_reading_once() -> None:
    """A source's fd (its inotify watches) exists before its first read, so no change after that read
    goes unseen; a set that reads once (`watch=False`, `vnettop dump`) never asks for it, and gives
    the same picture."""
    calls: list[str] = []

    class Watching(Counting):
        def fileno(self) -> int | None:
            calls.append("fileno")
            return super().fileno()

        def read(self, base: Snapshot) -> Enrichment:
            calls.append("read")
            return super().read(base)

    base = openstack_snapshot()
    watched = Watching(with_fd=True)
    kept = SourceSet([watched], clock=Clock()).enrich(base)
    assert calls and calls.index("fileno") < calls.index("read")
    watched.close()
    calls.clear()
    once = Watching(with_fd=True)
    assert SourceSet([once], clock=Clock(), watch=False).enrich(base) == kept
    assert calls == ["read"]
    once.close()


def test_an_unavailable_source_is_not_read_and_a_failing_one_is_one_error() -> None:
    absent, failing = Counting(available=False), Counting(fail=True)
    failing.name = "failing"  # type: ignore[misc]
    snap = SourceSet([absent, failing], clock=Clock()).enrich(openstack_snapshot())
    assert absent.reads == 0
    assert [(e.scope, e.message) for e in snap.errors] == [
        ("source failing", "cannot read: RuntimeError('runtime mid-restart')")]
    assert read_safely(failing, openstack_snapshot()).owners is None


def test_the_redraw_test_sees_a_section_change() -> None:
    base = openstack_snapshot()
    a = apply(base, [("x", Enrichment(owners=(owner("vm", "1", True, "s"),)))])
    b = apply(base, [("x", Enrichment(owners=(owner("vm", "2", True, "s"),)))])
    assert same_structure(a, apply(base, [("x", Enrichment(owners=(owner("vm", "1", True, "s"),)))]))
    assert not same_structure(a, b)
    assert not same_structure(base, a)


def test_the_structure_check_compares_every_field_but_counters_and_learned_addresses() -> None:
    """`structure_change` compares links field by field (`_same_shape`, written out from Link's fields):
    it must say what comparing `_link_shape`s says, for a change in any one field, so a field added to
    Link later is compared too."""
    bridge = BridgeInfo(stp=False, vlan_filtering=False, ports=(3, 4))
    base = Link(5, 2, "br0", "bridge", "52:54:00:00:00:01", 1500, True, "up", addresses=("10.0.0.1/24",),
                bridge=bridge, carrier=True, info=(("k", "v"),))

    def other(value: object) -> object:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        if isinstance(value, str):
            return value + "x"
        return ("changed",) if value is None or isinstance(value, tuple) else None

    changed = 0
    for f in dataclasses.fields(Link):
        if f.name in ("stats", "bridge"):
            continue
        moved = dataclasses.replace(base, **{f.name: other(getattr(base, f.name))})
        assert _same_shape(base, moved) is False and _link_shape(base) != _link_shape(moved), f.name
        changed += 1
    assert changed == len(dataclasses.fields(Link)) - 2
    counters = dataclasses.replace(base, stats=Stats(1, 2, 3, 4))
    learned = dataclasses.replace(base, bridge=dataclasses.replace(bridge, fdb=(FdbEntry("aa", 3, "learned"),)))
    for same in (counters, learned, dataclasses.replace(base)):
        assert _same_shape(base, same) and _link_shape(base) == _link_shape(same)
    for bridged in (dataclasses.replace(base, bridge=None), dataclasses.replace(base, bridge=dataclasses.replace(
            bridge, ports=(3,))), dataclasses.replace(base, bridge=dataclasses.replace(bridge, stp=True))):
        assert not _same_shape(base, bridged) and _link_shape(base) != _link_shape(bridged)
