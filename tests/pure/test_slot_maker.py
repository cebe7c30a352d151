"""`model.slot_maker` and the Link copies (`link_with_stats`, `link_with`): the collector's cheaper ways to
make a Link or its counters, or to copy a Link with some fields changed, give exactly the class's own.

Why it matters: the parser makes every device with `make_Link` and every counters record with
`make_Stats`, bypassing the dataclass's __init__; a field set wrongly or left unset would be a false
fact on screen, and the makers pickle the child's devices across a fork (`scan_ahead`).
"""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from vnettop.model import Link, LinkRef, Stats, link_with, link_with_stats, make_Link, make_Stats, slot_maker

NA, NB = 4026532001, 4026532002


@pytest.mark.parametrize("cls, maker", [(Link, make_Link), (Stats, make_Stats), (LinkRef, slot_maker(LinkRef))])
def test_a_maker_sets_every_field_as_the_constructor_does(cls: type, maker: object) -> None:
    """Each field given a value of its own: the made object holds the very objects, equals (and hashes as)
    the constructor's, is of the class itself and as frozen."""
    values = [object() for _ in dataclasses.fields(cls)]
    made = maker(*values)  # type: ignore[operator]
    built = cls(*values)
    assert type(made) is cls
    for f, value in zip(dataclasses.fields(cls), values, strict=True):
        assert getattr(made, f.name) is value, f.name
    assert made == built and hash(made) == hash(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(cls)[0].name, 1)
    with pytest.raises(TypeError):  # every field is asked for: one missing is an error, not a default
        maker(*values[:-1])  # type: ignore[operator]


def test_made_links_and_counters_pickle_through_their_makers() -> None:
    link = make_Link(4026532001, 7, "vnt0", "veth", "02:00:00:00:00:01", 1500, True, "up", None, None,
                     LinkRef(4026532002, 3, "vnt1"), ("fe80::1/64",), make_Stats(1, 2, 3, 4, 5, 6, 7, 8),
                     None, None, None, True, ())
    assert link == Link(4026532001, 7, "vnt0", "veth", "02:00:00:00:00:01", 1500, True, "up",
                        peer=LinkRef(4026532002, 3, "vnt1"), addresses=("fe80::1/64",),
                        stats=Stats(1, 2, 3, 4, 5, 6, 7, 8), carrier=True)
    data = pickle.dumps(link, pickle.HIGHEST_PROTOCOL)
    assert b"make_Link" in data and b"make_Stats" in data
    assert pickle.loads(data) == link


def test_classes_made_by_more_than_their_fields_are_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Cached:
        value: int
        memo: int = dataclasses.field(default=0, init=False)

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        value: int

    @dataclasses.dataclass(frozen=True, slots=True, init=False)
    class OwnInit:
        value: int

        def __init__(self, value: int) -> None:
            object.__setattr__(self, "value", abs(value))

    @dataclasses.dataclass(frozen=True, slots=True)
    class Shadowing:
        new: int
        _set0: int

    for cls in (Checked, Cached, Unslotted, OwnInit, Shadowing):
        with pytest.raises(TypeError):
            slot_maker(cls)


def test_link_with_stats_is_replace() -> None:
    link = Link(NA, 2, "x", "veth", "02:00:00:00:00:02", 1500, True, "up", master=LinkRef(NA, 4, "br"))
    link = dataclasses.replace(link, peer=LinkRef(NB, 3, "y"), addresses=("10.0.0.1/24",))
    assert link_with_stats(link, Stats(1, 2, 3, 4, 5, 6, 7, 8)) == dataclasses.replace(
        link, stats=Stats(1, 2, 3, 4, 5, 6, 7, 8))


def test_link_with_stats_copies_every_field_but_the_counters() -> None:
    """Every field set to a value of its own (none left at its default): the copy has each one, the
    very object, but the counters; it is a Link like any (equal to `replace`, hashable, frozen)."""
    values = {f.name: object() for f in dataclasses.fields(Link)}
    link = Link(**values)  # type: ignore[arg-type]
    stats = Stats(1, 2, 3, 4, 5, 6, 7, 8)
    copy = link_with_stats(link, stats)
    assert type(copy) is Link and copy is not link
    for f in dataclasses.fields(Link):
        assert getattr(copy, f.name) is (stats if f.name == "stats" else values[f.name]), f.name
    assert copy == dataclasses.replace(link, stats=stats)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.name = "y"  # type: ignore[misc]


def test_link_with_is_replace_for_every_field() -> None:
    """The resolve's copy with its references set (slot by slot, no __init__): for each field changed
    alone and for the resolve's usual set, the very objects of `replace`, a frozen Link like any."""
    values = {f.name: object() for f in dataclasses.fields(Link)}
    link = Link(**values)  # type: ignore[arg-type]
    for f in dataclasses.fields(Link):
        new = object()
        copy = link_with(link, {f.name: new})
        assert type(copy) is Link and copy is not link
        for g in dataclasses.fields(Link):
            assert getattr(copy, g.name) is (new if g is f else values[g.name]), (f.name, g.name)
    refs = {"master": LinkRef(NA, 4, "br"), "peer": LinkRef(NB, 3, "y")}
    copy = link_with(link, refs)
    assert copy == dataclasses.replace(link, **refs) and hash(copy) == hash(dataclasses.replace(link, **refs))
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.peer = None  # type: ignore[misc]
