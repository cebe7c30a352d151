"""Names that are not UTF-8: the internal form, the written form, matching, and the JSON round trip.

SNAPSHOT-SCHEMA.md "Names that are not text": a name is written with each undecodable byte as `\\xNN`
and the object gets `name_bytes`; reading it back gives the exact name; every command that takes a name
accepts the written form. Hypothesis feeds arbitrary byte strings through every step.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures_snapshots import compute_node
from vnettop import names
from vnettop import topology as topo
from vnettop.errors import SnapshotFormatError
from vnettop.model import Link, LinkRef, Namespace, Process, Snapshot
from vnettop.render.json import snapshot_from_dict, snapshot_to_json

raw_names = st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b)


@given(raw_names)
def test_bytes_survive_the_internal_form(raw: bytes) -> None:
    name = names.from_bytes(raw)
    assert names.to_bytes(name) == raw
    assert isinstance(name, str)


@given(raw_names)
def test_the_written_form_is_utf8_and_typing_it_finds_the_name(raw: bytes) -> None:
    name = names.from_bytes(raw)
    shown = names.written(name)
    shown.encode("utf-8")  # never a lone surrogate
    assert not shown.startswith(("b'", 'b"')) or raw.startswith((b"b'", b'b"'))  # never a bytes repr
    assert names.matches(shown, name)
    assert names.resolve(shown, ["other", name]) == name
    assert (names.hex_bytes(name) is None) == names.is_text(name)


def test_written_form_notation() -> None:
    name = names.from_bytes(b"vnt\xff\xfe")
    assert name == "vnt\udcff\udcfe"
    assert names.written(name) == "vnt\\xff\\xfe"  # literal backslash, x, two lower-case hex digits
    assert names.hex_bytes(name) == "766e74fffe"
    assert names.written("caf\u00e9") == "caf\u00e9" and names.hex_bytes("caf\u00e9") is None


def test_typed_forms_that_match() -> None:
    name = names.from_bytes(b"vnt\xff\xfe")
    for typed in ("vnt\\xff\\xfe", "vnt\\xFF\\xFE", name):
        assert names.matches(typed, name), typed
    assert not names.matches("vnt\\xff", name)
    assert not names.matches("vntxffxfe", name)
    assert names.matches("a\\nb", "a\nb") and names.matches("x\\u202e", "x\u202e")  # display escapes
    # A name that really holds a backslash is found by its own spelling first.
    literal = "a\\xff"
    assert names.resolve(literal, [literal, names.from_bytes(b"a\xff")]) == literal
    assert names.resolve("a\\xff", [names.from_bytes(b"a\xff")]) == "a\udcff"
    assert names.resolve("new\\xff", ["x"]) == "new\\xff"  # nothing known: left as typed


def test_shell_quote_gives_back_the_bytes() -> None:
    assert names.shell_quote("br0") == "br0"
    assert names.shell_quote(names.from_bytes(b"vnt\xff'\\")) == "$'vnt\\xff\\'\\\\'"
    assert names.shell_quote("a\nb") == "$'a\\x0ab'"


def _snapshot(link_raw: bytes, peer_raw: bytes, ns_raw: bytes, comm_raw: bytes) -> Snapshot:
    link_name, peer_name = names.from_bytes(link_raw), names.from_bytes(peer_raw)
    ns_name = names.from_bytes(ns_raw)
    proc = Process(7, names.from_bytes(comm_raw), "qemu " + names.from_bytes(comm_raw), "root")
    links = (
        Link(1, 2, link_name, "veth", None, 1500, True, "up", peer=LinkRef(2, 3, peer_name),
             master=LinkRef(1, 9, link_name)),
        Link(2, 3, peer_name, "veth", None, 1500, True, "up", peer=LinkRef(1, 2, link_name)),
    )
    spaces = (Namespace(1, (), True, (7,), (proc,)), Namespace(2, ("plain", ns_name), False, ()))
    return Snapshot(compute_node().host, spaces, links)


@given(raw_names, raw_names, raw_names.filter(lambda b: b"/" not in b), raw_names)
def test_json_round_trip_is_lossless_for_any_bytes(link_raw: bytes, peer_raw: bytes, ns_raw: bytes,
                                                   comm_raw: bytes) -> None:
    snap = _snapshot(link_raw, peer_raw, ns_raw, comm_raw)
    text = snapshot_to_json(snap)
    text.encode("utf-8")  # json.dumps never leaves a lone surrogate in
    back = snapshot_from_dict(json.loads(text))
    assert back.links == snap.links
    assert back.namespaces[1].names == snap.namespaces[1].names


def test_json_writes_the_schema_form() -> None:
    snap = _snapshot(b"vnt\xff\xfe", b"ok", b"vnt\xfe\x80", b"q\xffemu")
    doc = json.loads(snapshot_to_json(snap))
    first, second = doc["links"]
    assert first["name"] == "vnt\\xff\\xfe" and first["name_bytes"] == "766e74fffe"
    assert first["master"] == {"netns": 1, "ifindex": 9, "name": "vnt\\xff\\xfe", "name_bytes": "766e74fffe"}
    assert first["peer"] == {"netns": 2, "ifindex": 3, "name": "ok"}  # text: no name_bytes
    assert "name_bytes" not in second and second["peer"]["name_bytes"] == "766e74fffe"
    ns = doc["namespaces"][1]
    assert ns["names"] == ["plain", "vnt\\xfe\\x80"] and ns["names_bytes"] == [None, "766e74fe80"]
    assert "names_bytes" not in doc["namespaces"][0]
    assert doc["namespaces"][0]["processes"][0]["comm"] == "q\\xffemu"  # free text: written form
    assert "b'" not in json.dumps(doc)


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d["links"][0].__setitem__("name_bytes", "zz"), "links[0].name_bytes: not hex"),
    (lambda d: d["links"][0].__setitem__("name_bytes", "6162"), "are not the name"),
    (lambda d: d["links"][0]["peer"].__setitem__("name_bytes", 5), "expected a string"),
    (lambda d: d["namespaces"][1].__setitem__("names_bytes", [None]), "1 entries for 2 names"),
])
def test_bad_name_bytes_are_one_clear_error(change, fragment: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(snapshot_to_json(_snapshot(b"vnt\xff", b"p\xfe", b"n\xfd", b"c")))
    change(doc)
    with pytest.raises(SnapshotFormatError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        snapshot_from_dict(doc)


def test_lookups_accept_the_written_form() -> None:
    snap = _snapshot(b"vnt\xff\xfe", b"ok", b"vnt\xfe", b"c")
    link = topo.resolve_link(snap, "vnt\\xff\\xfe")
    assert link.key == (1, 2)
    assert topo.resolve_link(snap, "ok", "vnt\\xfe").key == (2, 3)
    assert snap.find_namespace("vnt\\xfe") is snap.namespaces[1]
    assert snap.find_links("vnt\\xff\\xfe", 1) == (link,)
    # the exact name still works, and a name that is really spelled with a backslash wins over it
    assert topo.resolve_link(snap, "vnt\udcff\udcfe").key == (1, 2)
    literal = dataclasses.replace(snap.links[1], name="vnt\\xff\\xfe")
    both = dataclasses.replace(snap, links=(snap.links[0], literal))
    assert both.find_links("vnt\\xff\\xfe") == (literal,)


def test_validation_counts_the_kernels_bytes() -> None:
    from vnettop.actions import validate as v
    from vnettop.errors import ValidationError

    nine = names.from_bytes(b"vnt" + b"\xff" * 6)  # 9 bytes (3 per escaped byte if counted as UTF-8)
    assert v.check_ifname(nine) == nine
    assert v.check_netns_name(nine) == nine
    with pytest.raises(ValidationError, match="16 bytes long"):
        v.check_ifname(names.from_bytes(b"vnt" + b"\xfe" * 13))
    with pytest.raises(ValidationError, match=r"'a\\xa0'.*0xa0"):  # the kernel's Latin-1 space
        v.check_ifname(names.from_bytes(b"a\xa0"))
    with pytest.raises(ValidationError, match="lone surrogate"):
        v.check_ifname("a\ud800")


def test_plans_print_commands_that_give_the_same_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vnettop.actions import plans as p
    from vnettop.actions.journal import Journal

    dev, ns = names.from_bytes(b"vnt\xff\xfe"), names.from_bytes(b"vnt\xfe")
    plan = p.DeleteLink(dev, netns=ns)
    assert plan.ip_command() == "ip -n $'vnt\\xfe' link del dev $'vnt\\xff\\xfe'"
    plan.validate()
    journal = Journal(str(tmp_path / "j.jsonl"))
    journal.record(plan.to_dict(), plan.ip_command(), "applied", True, plan.describe())
    (entry,) = journal.entries()  # the file is UTF-8 and the plan comes back exactly
    assert p.plan_from_dict(entry["plan"]) == plan
