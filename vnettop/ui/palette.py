"""The command palette's jump provider: any device, namespace or process by name, or by its owner's
name or id, its MAC or IP address (ctrl+p).

The actions (views, trace, write actions in write mode) come from `VnettopApp.get_system_commands`,
built from the same bindings as the footer, so the palette never offers what the keys do not.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.fuzzy import Matcher

from vnettop import topology
from vnettop.model import Snapshot
from vnettop.names import written
from vnettop.topology import vm_name
from vnettop.ui import ovs_rows
from vnettop.ui.fleet_hosts import fleet_hits
from vnettop.ui.labels import safe
from vnettop.ui.targets import Target

if TYPE_CHECKING:
    from vnettop.ui.app import VnettopApp

LIMIT = 40


def everything(snap: Snapshot) -> list[tuple[str, str, Target]]:
    """(label, help, target) for every namespace, device and process, for the empty-query list.

    Labels are plain text (control characters escaped); they become Text, never markup, on screen.
    A name that is not UTF-8 is in its written form (`vnt\\xff`, `vnettop.names`), so typing what the
    screen shows finds it.
    """
    out: list[tuple[str, str, Target]] = []
    for ns in snap.namespaces:
        out.append((safe(written(f"namespace {ns.label}")), f"net:[{ns.inode}]", Target.ns(ns.inode)))
    for link in snap.links:
        label = safe(written(f"{link.name} @ {snap.ns_label(link.netns)}"))
        out.append((label, safe(link.kind), Target.link(*link.key)))
    out.extend(ovs_rows.palette_entries(snap))
    for ns in snap.namespaces:
        for proc in ns.processes:
            vm = vm_name(proc)
            help_text = f"process, VM {safe(vm)}" if vm else "process"
            label = safe(written(f"{proc.comm}[{proc.pid}] @ {ns.label}"))
            out.append((label, help_text, Target.proc(ns.inode, proc.pid)))
    return out


def found_by_more(snap: Snapshot, query: str) -> list[tuple[str, str, Target]]:
    """(label, help, target) of what `topology.find` finds by an owner's name or id (a Neutron port
    uuid prefix), a MAC or an IP address: what fuzzy matching of the names cannot find. A query shorter
    than 2 characters finds nothing here (every owner would)."""
    if len(query.strip()) < 2:
        return []
    out: list[tuple[str, str, Target]] = []
    for m in topology.find(snap, query):
        if not m.why or len(out) >= LIMIT:
            continue
        if m.kind == "link" and isinstance(m.ref, tuple):
            target = Target.link(*m.ref)
        elif m.kind == "namespace":
            target = Target.ns(m.netns)
        elif isinstance(m.ref, int):
            target = Target.proc(m.netns, m.ref)
        else:
            continue
        prefix = "namespace " if m.kind == "namespace" else ""
        out.append((safe(written(prefix + m.label)), safe(f"{m.kind}, by {m.why}"), target))
    return out


def highlighted(matcher: Matcher, text: str) -> Text:
    """`text` with the fuzzy-matched letters reversed, as Text: `Matcher.highlight` parses markup."""
    out = Text(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if score:
        for offset in offsets:
            if not text[offset].isspace():
                out.stylize("reverse", offset, offset + 1)
    return out


class JumpProvider(Provider):
    """Offers "jump to" hits for the objects of the current snapshot."""

    @property
    def vnettop(self) -> VnettopApp:
        return cast("VnettopApp", self.app)

    async def discover(self) -> Hits:
        snap = self.vnettop.snapshot
        if snap is None:
            return
        for label, help_text, target in everything(snap)[:LIMIT]:
            yield DiscoveryHit(Text(f"jump to {label}"), partial(self.vnettop.jump_to, target),
                               help=escape(help_text))

    async def search(self, query: str) -> Hits:
        snap = self.vnettop.snapshot
        if snap is None:
            return
        matcher = self.matcher(query)
        for label, help_text, target in everything(snap):
            text = f"jump to {label}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, highlighted(matcher, text), partial(self.vnettop.jump_to, target),
                          help=escape(help_text))
        for label, help_text, target in found_by_more(snap, query):
            yield Hit(1.0, Text(f"jump to {label}"), partial(self.vnettop.jump_to, target),
                      help=escape(help_text))


class FleetProvider(Provider):
    """Over a fleet file: hosts by name, and devices and namespaces on every host by name, MAC, IP or
    Neutron port uuid prefix (`fleet find`'s matching); a hit opens that host and selects the device.

    Hosts are searched one at a time with a pause between them, so typing on cancels a search at once
    (a query matching everywhere stops after LIMIT hits)."""

    @property
    def vnettop(self) -> VnettopApp:
        return cast("VnettopApp", self.app)

    async def search(self, query: str) -> Hits:
        fleet = self.vnettop.fleet
        if fleet is None or len(query.strip()) < 2:
            return
        shown = 0
        for hits in fleet_hits(fleet, query):
            for hit in hits:
                yield Hit(1.0 if hit.target is None else 0.9, Text(hit.label),
                          partial(self.vnettop.open_host, hit.index, hit.target), help=escape(hit.help))
                shown += 1
                if shown >= LIMIT:
                    return
            await asyncio.sleep(0)
