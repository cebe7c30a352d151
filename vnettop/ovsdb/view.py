"""What OVSDB says about bridges, ports and interfaces, as frozen records (no kernel join yet).

Maps are kept as sorted (key, value) tuples so records are hashable and compare by value: an unchanged
database gives an equal view, which the UI's redraw test and the collector's reuse rule rely on.
"""

from __future__ import annotations

from dataclasses import dataclass

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class OvsInterface:
    name: str
    uuid: str
    type: str  # "" (system), "internal", "patch", "vxlan", "geneve", "gre", "tap", "dpdk", …
    ofport: int | None
    admin_state: str | None
    link_state: str | None
    mac_in_use: str | None
    options: Pairs = ()
    external_ids: Pairs = ()
    #: The ifindex ovs-vswitchd last saw it under, in its own namespace (OVSDB `ifindex`; None: not set).
    ifindex: int | None = None

    def option(self, key: str) -> str | None:
        return dict(self.options).get(key)


@dataclass(frozen=True, slots=True)
class OvsPort:
    name: str
    uuid: str
    tag: int | None
    trunks: tuple[int, ...]
    interfaces: tuple[OvsInterface, ...]
    external_ids: Pairs = ()
    other_config: Pairs = ()


@dataclass(frozen=True, slots=True)
class OvsBridge:
    name: str
    uuid: str
    datapath_type: str
    fail_mode: str | None
    ports: tuple[OvsPort, ...]
    external_ids: Pairs = ()


@dataclass(frozen=True, slots=True)
class OvsView:
    """The whole switch as OVSDB describes it, bridges by name, ports and interfaces by name."""

    db: str
    ovs_version: str | None
    system_id: str | None
    bridges: tuple[OvsBridge, ...]
