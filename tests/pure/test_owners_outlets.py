"""Owners in the outlets: the JSON contract (written, read back, refused when malformed) and the text dump."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sources_fixtures import openstack_snapshot
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.neutron_names import NeutronNames
from vnettop.errors import SnapshotFormatError
from vnettop.model import Snapshot
from vnettop.render.json import snapshot_from_dict, snapshot_to_dict, snapshot_to_json
from vnettop.render.text import render_text


def enriched() -> Snapshot:
    base = openstack_snapshot()
    return apply(base, [("neutron_names", NeutronNames("/").read(base))])


def test_owners_are_written_as_the_schema_says_and_read_back_equal() -> None:
    snap = enriched()
    obj = json.loads(snapshot_to_json(snap))
    port = next(o for o in obj["owners"] if o["id"] == "1ec9dbb7-e7")
    assert set(port) == {"kind", "name", "id", "runtime", "source", "exact", "details", "links", "namespaces",
                         "pids", "parent"}
    assert port["kind"] == "neutron-port" and port["exact"] is False and port["source"] == "name pattern"
    assert port["links"] == [[4026531840, 2], [4026531840, 3], [4026531840, 4], [4026531840, 5]]
    assert snapshot_from_dict(obj) == snap


def test_a_snapshot_no_source_was_asked_about_has_no_owners_key() -> None:
    obj = snapshot_to_dict(openstack_snapshot())
    assert "owners" not in obj
    assert snapshot_from_dict(obj).owners is None


def test_asked_and_none_found_is_an_empty_list_not_unknown() -> None:
    snap = apply(openstack_snapshot(), [("x", NeutronNames("/").read(Snapshot(openstack_snapshot().host, (), ())))])
    obj = snapshot_to_dict(snap)
    assert obj["owners"] == []
    assert snapshot_from_dict(obj).owners == ()


@pytest.mark.parametrize(("change", "where"), [
    (lambda o: o.update(links=[[1]]), "owners"),
    (lambda o: o.update(exact="yes"), "exact"),
    (lambda o: o.update(parent=99), "parent"),
    (lambda o: o.pop("kind"), "kind"),
])
def test_a_malformed_owner_is_one_clear_error(change: Any, where: str) -> None:
    obj = snapshot_to_dict(enriched())
    change(obj["owners"][0])
    with pytest.raises(SnapshotFormatError, match=where):
        snapshot_from_dict(obj)


def test_the_text_dump_mentions_each_owned_device_and_namespace_once() -> None:
    text = render_text(enriched())
    tap = next(line for line in text.splitlines() if line.lstrip("├└─│ ").startswith("tap1ec9dbb7-e7"))
    assert tap.count("owner ") == 1 and "owner 1ec9dbb7-e7 (neutron-port, name pattern)" in tap
    router_ns = next(line for line in text.splitlines() if line.startswith("qrouter-"))
    assert "owner 5f0c2a9e-1b7d-4c3e-9a8f-2d6b4e1c7a90 (neutron-router, name pattern)" in router_ns
    assert "owner" not in next(line for line in text.splitlines() if line.lstrip("├└─│ ").startswith("tap0 "))
