"""`model.slot_maker`: the collector's cheaper way to make a Link or its counters is exactly the class's own.

Why it matters: the parser makes every device with `make_Link` and every counters record with
`make_Stats`, bypassing the dataclass's __init__; a field set wrongly or left unset would be a false
fact on screen, and the makers pickle the child's devices across a fork (`scan_ahead`).
"""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from vnettop.model import Link, LinkRef, Stats, make_Link, make_Stats, slot_maker


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
