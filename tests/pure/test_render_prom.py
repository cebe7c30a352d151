"""The Prometheus exposition: valid for promtool, stable labels, hostile names escaped, unknown absent."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess

import pytest

from tests.fixtures_snapshots import compute_node
from tests.ui.hostile import hostile_snapshot
from vnettop.demo import demo_snapshot
from vnettop.model import Link, Snapshot, TunHolder
from vnettop.render.prom import label_value, render_prom
from vnettop.textsafe import printable_line

SAMPLE = re.compile(r'^([a-z_]+)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing on CI (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)


def samples(text: str) -> list[tuple[str, dict[str, str], str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, m.group(4)))
    return out


@pytest.mark.parametrize("make", [demo_snapshot, compute_node, hostile_snapshot])
def test_promtool_accepts_it_with_no_lint_finding(make: object) -> None:
    text = render_prom(make())  # type: ignore[operator]
    done = check_metrics(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


def test_every_family_has_help_and_type_before_its_samples() -> None:
    text = render_prom(compute_node())
    declared: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            declared.append(line.split()[2])
        elif line.startswith("# TYPE "):
            assert line.split()[2] == declared[-1]
        else:
            assert SAMPLE.match(line).group(1) == declared[-1]  # type: ignore[union-attr]
    assert len(declared) == len(set(declared))


def test_links_are_facts_with_their_peers_and_masters() -> None:
    found = {(s[1]["netns"], s[1]["device"]): s[1] for s in samples(render_prom(compute_node()))
             if s[0] == "vnettop_link_info"}
    assert found[("root", "veth-a")]["master"] == "br0"
    assert found[("root", "veth-a")]["peer"] == "veth-b"
    assert found[("root", "veth-a")]["peer_netns"].startswith("qdhcp-")
    # A process-only namespace is named by its inode, which lives as long as the namespace does.
    assert found[("root", "vethc1")]["peer_netns"] == "net:[4026532400]"
    counts = {s[1]["kind"]: int(s[2]) for s in samples(render_prom(compute_node())) if s[0] == "vnettop_links"}
    assert counts["veth"] == 5 and counts["tap"] == 2 and sum(counts.values()) == len(compute_node().links)


def test_orphans_are_counted_for_every_reason_and_listed() -> None:
    got = samples(render_prom(compute_node()))
    counts = {s[1]["reason"]: int(s[2]) for s in got if s[0] == "vnettop_orphans"}
    assert counts == {"tun-unheld": 0, "veth-peer-gone": 0, "veth-unattached": 2, "netns-empty": 0,
                      "bridge-near-limit": 0, "ovs-no-device": 0}
    listed = sorted(s[1]["device"] for s in got if s[0] == "vnettop_orphan_info")
    assert listed == ["vethc1", "vethx"]


def _with_new_pids(snap: Snapshot) -> Snapshot:
    """The same plumbing after every process restarted: new pids, same everything else."""
    def holders(link: Link) -> Link:
        if link.tun is None:
            return link
        moved = tuple(TunHolder(h.pid + 1000, h.comm, h.fds, h.exact, h.vhost_fds) for h in link.tun.holders)
        return dataclasses.replace(link, tun=dataclasses.replace(link.tun, holders=moved))
    namespaces = tuple(dataclasses.replace(ns, pids=tuple(p + 1000 for p in ns.pids),
                                           processes=tuple(dataclasses.replace(p, pid=p.pid + 1000)
                                                           for p in ns.processes))
                       for ns in snap.namespaces)
    return dataclasses.replace(snap, namespaces=namespaces, links=tuple(holders(x) for x in snap.links))


def test_no_series_changes_when_only_pids_change() -> None:
    # A pid in a label would make a new series at every restart (cardinality churn).
    snap = compute_node()
    assert render_prom(snap) == render_prom(_with_new_pids(snap))


def test_counters_are_not_labels_and_do_not_change_the_series() -> None:
    snap = compute_node()
    busier = dataclasses.replace(snap, links=tuple(
        dataclasses.replace(link, stats=dataclasses.replace(link.stats, rx_bytes=link.stats.rx_bytes + 10**9))
        for link in snap.links))
    assert render_prom(snap) == render_prom(busier)


def test_hostile_label_values_are_one_line_and_escaped() -> None:
    # The value is first made one-line and terminal-safe (as every outlet does), then escaped as the
    # exposition format requires: unescaping gives back exactly the safe one-line text.
    for raw in ('a"b\\c\nd', "x\x1b]2;PWNED\x07", "tab\there"):
        written = label_value(raw)
        assert "\n" not in written and re.fullmatch(r'(?:[^"\\]|\\["\\n])*', written), written
        assert unescape(written) == printable_line(raw)
        assert "\x1b" not in unescape(written) and "\n" not in unescape(written)
    # A name that is not UTF-8 (raw bytes carried as surrogate escapes) is written \xNN, as in JSON.
    assert label_value(b"vnt\xff\xfe".decode("utf-8", "surrogateescape")) == "vnt\\\\xff\\\\xfe"
    text = render_prom(hostile_snapshot())
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    for _name, labels, _value in samples(text):
        for v in labels.values():
            assert "\n" not in v


def unescape(value: str) -> str:
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def test_holders_that_could_not_be_read_have_no_sample() -> None:
    snap = compute_node()
    tap0 = next(x for x in snap.links if x.name == "tap0")
    assert tap0.tun is not None
    unknown = dataclasses.replace(tap0, tun=dataclasses.replace(tap0.tun, holders=None))  # type: ignore[arg-type]
    snap = dataclasses.replace(snap, links=tuple(unknown if x.key == tap0.key else x for x in snap.links))
    got = samples(render_prom(snap))
    holders = {(s[1]["device"]): s[2] for s in got if s[0] == "vnettop_tun_holders"}
    assert "tap0" not in holders and holders["tun0"] == "1" and holders["tap1"] == "0"
    assert all(s[1]["device"] != "tap0" for s in got if s[0] == "vnettop_tun_holder_info")
    assert all(s[1].get("device") != "tap0" for s in got if s[0] == "vnettop_orphan_info")
