"""The neutron_names source: Neutron's device and namespace names -> ports, networks and routers."""

from __future__ import annotations

from tests.sources_fixtures import (
    META_NET,
    NETWORK,
    OVNMETA,
    QDHCP,
    QROUTER,
    ROOT,
    ROUTER,
    SNAT,
    openstack_snapshot,
)
from vnettop.collect.sources.enrich import apply
from vnettop.collect.sources.neutron_names import NeutronNames
from vnettop.model import Owner


def owners() -> tuple[Owner, ...]:
    snap = openstack_snapshot()
    enriched = apply(snap, [("neutron_names", NeutronNames("/").read(snap))])
    assert enriched.owners is not None
    return enriched.owners


def by_id(ident: str) -> Owner:
    (found,) = [o for o in owners() if o.id == ident]
    return found


def test_a_hybrid_plugged_port_is_one_owner_of_its_four_devices() -> None:
    port = by_id("1ec9dbb7-e7")
    assert port.kind == "neutron-port" and port.name == "1ec9dbb7-e7"
    assert port.links == ((ROOT, 2), (ROOT, 3), (ROOT, 4), (ROOT, 5))
    assert dict(port.details)["role"] == "hybrid bridge, hybrid veth (OVS side), hybrid veth (bridge side), tap"


def test_every_answer_is_labelled_a_name_pattern() -> None:
    assert owners() and all(o.source == "name pattern" and not o.exact and o.runtime == "neutron"
                            for o in owners())


def test_names_that_only_look_alike_are_not_claimed() -> None:
    claimed = {key for o in owners() for key in o.links}
    for ifindex in (1, 8, 9, 10, 11):  # lo, tap0, vnet3, tapdeadbeef-0 (short), qvoZZZZZZZZ-zz (not hex)
        assert (ROOT, ifindex) not in claimed


def test_a_routers_two_namespaces_are_one_router() -> None:
    router = by_id(ROUTER)
    assert router.kind == "neutron-router"
    assert router.namespaces == (QROUTER, SNAT)


def test_router_ports_have_the_router_as_parent() -> None:
    all_owners = owners()
    for ident in ("aaaa1111-22", "bbbb2222-33", "cccc3333-44", "dddd4444-55"):
        port = by_id(ident)
        assert port.parent is not None and all_owners[port.parent].id == ROUTER, ident


def test_the_dhcp_port_spans_both_ends_and_belongs_to_its_network() -> None:
    port = by_id("c0ffee00-11")
    assert port.links == ((ROOT, 7), (QDHCP, 2))
    assert port.parent is not None and owners()[port.parent].id == NETWORK


def test_a_linux_bridge_joins_the_network_its_namespace_names_in_full() -> None:
    network = by_id(NETWORK)
    assert network.kind == "neutron-network"
    assert network.links == ((ROOT, 6),) and network.namespaces == (QDHCP,)
    assert not [o for o in owners() if o.id == "ba48a3fc-7a"]


def test_the_ovn_metadata_namespace_names_its_network() -> None:
    network = by_id(META_NET)
    assert network.kind == "neutron-network" and network.namespaces == (OVNMETA,)
    assert "OVN metadata namespace" in dict(network.details)["role"]
