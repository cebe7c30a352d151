"""Owners shown everywhere (pure outlets): the wording, the trace (from a device and from an owner),
`find` by owner, MAC and IP, DOT labels, the Prometheus series, and the text dump's veth ends."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tests.pure.test_render_prom import check_metrics, samples
from vnettop import cli, owners
from vnettop import topology as topo
from vnettop.demo import CONTAINER, POD, PROXY_ID, ROOT, WEB1_PORT, demo_snapshot
from vnettop.errors import NotFoundError
from vnettop.model import Owner
from vnettop.render.dot import render_dot
from vnettop.render.prom import render_prom
from vnettop.render.text import render_text, render_trace

SNAP = demo_snapshot()


def _owner(name: str) -> Owner:
    return next(o for o in SNAP.owners or () if o.name == name)


def test_wording_is_name_kind_and_how_when_inferred() -> None:
    assert owners.owner_text(_owner("web-1")) == "web-1 (vm)"
    assert owners.owner_text(_owner("nginx-7d4")) == "nginx-7d4 (pod default)"
    assert owners.owner_text(_owner("P2")) == "P2 (vm, qemu command line)"
    assert owners.how_known(_owner("ba48a3fc-7a")) == "inferred from name pattern"
    long = _owner("ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c")
    assert owners.owner_text(long, 12) == "ba48a3fc-7a… (neutron-network, name pattern)"


def test_the_vm_is_chosen_over_its_neutron_port_and_veth_ends_name_the_namespace_they_reach() -> None:
    tap = SNAP.find_links("tap796091c0-07")[0]
    assert [o.kind for o in owners.of_link(SNAP, tap)] == ["vm", "neutron-port"]
    assert owners.link_note(SNAP, tap) == "web-1 (vm)"
    veth = SNAP.find_links("vethd41c2e")[0]
    assert owners.link_note(SNAP, veth) == "→ proxy (container)"
    assert owners.link_note(SNAP, SNAP.find_links("em1")[0]) == ""


def test_an_owners_devices_are_its_own_its_namespaces_and_its_ports() -> None:
    assert [link.name for link in owners.devices(SNAP, _owner("web-1"))] == ["tap796091c0-07"]
    proxy = owners.devices(SNAP, _owner("proxy"))
    assert [(link.netns, link.name) for link in proxy] == [(ROOT, "vethd41c2e"), (CONTAINER, "eth0")]
    net = owners.devices(SNAP, _owner("ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"))
    assert [link.name for link in net] == ["brqba48a3fc-7a", "tapba48a3fc-7a", "ns-ba48a3fc-7a"]


def test_trace_names_each_hops_owner_in_text_and_json() -> None:
    hops = topo.trace(SNAP, SNAP.find_links("vethd41c2e")[0])
    by_label = {h.label: h.owner for h in hops}
    assert by_label["pid 4242"] == "proxy (container)" and by_label["nginx[4251]"] == "proxy (container)"
    assert by_label["vethd41c2e"] == ""
    text = render_trace("t", topo.trace(SNAP, SNAP.find_links("tap796091c0-07")[0]))
    assert "qemu-kvm[7802]  [web-1 (vm)]  holds tap796091c0-07 fd 31" in text
    assert "tap796091c0-07  [web-1 (vm)]  tap @ root" in text
    assert topo.hop_to_dict(hops[0])["owner"] is None


def test_trace_from_an_owner_starts_at_its_devices() -> None:
    hops = topo.trace_owner(SNAP, _owner("nginx-7d4"))
    assert (hops[0].kind, hops[0].owner, hops[0].depth) == ("owner", "nginx-7d4 (pod default)", 0)
    assert [(h.label, h.depth) for h in hops[1:3]] == [("veth5d1e2f3a", 1), ("eth0", 2)]
    assert any(h.kind == "namespace" and h.ref == POD for h in hops)
    assert topo.hop_to_dict(hops[0])["owner_index"] == list(SNAP.owners or ()).index(_owner("nginx-7d4"))
    text = render_trace("t", hops)
    assert text.splitlines()[1] == f"nginx-7d4 (pod default)  exact, containerd, id {_owner('nginx-7d4').id}"


def test_resolving_an_owner_by_name_or_id_prefix_or_saying_what_is_close() -> None:
    assert owners.resolve(SNAP, "WEB-1") == (_owner("web-1"),)
    assert owners.resolve(SNAP, PROXY_ID[:8]) == (_owner("proxy"),)
    with pytest.raises(NotFoundError, match=r"no owner 'wbe-1' \(close: web-1"):
        owners.resolve(SNAP, "wbe-1")
    with pytest.raises(NotFoundError, match="no owners in this snapshot"):
        owners.resolve(SNAP.kernel_picture(), "web-1")


@pytest.mark.parametrize(("query", "label", "why"), [
    ("web-1", "tap796091c0-07 @ root", "owner web-1 (vm)"),
    (WEB1_PORT[:8], "tap796091c0-07 @ root", ""),  # the device's own name carries the prefix
    (WEB1_PORT, "tap796091c0-07 @ root", "owner 796091c0-07 (neutron-port)"),
    ("fa:16:3e:85:f8:0c", "tap796091c0-07 @ root", "owner 796091c0-07 (neutron-port)"),  # the guest's MAC
    ("fe:16:3e:85:f8:0c", "tap796091c0-07 @ root", "mac"),
    ("10.244.1.7", "eth0 @ cni-5d1e2f3a-4b6c-4d8e-9f0a-1b2c3d4e5f60", "ip"),
    ("proxy", "vethd41c2e @ root", "owner proxy (container)"),
])
def test_find_by_owner_mac_and_ip(query: str, label: str, why: str) -> None:
    first = topo.find(SNAP, query)[0]
    assert (first.label, first.why) == (label, why)


def test_find_wants_a_whole_address() -> None:
    assert [m.label for m in topo.find(SNAP, "10.0.0.2")] == [
        "ns-ba48a3fc-7a @ qdhcp-ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c"]
    assert topo.find(SNAP, "10.0.0.") == []


def test_text_dump_words_owners_as_the_tui_does() -> None:
    text = render_text(SNAP)
    assert "owner web-1 (vm)  owner 796091c0-07 (neutron-port)" in text
    assert "owner nginx-7d4 (pod default)" in text
    assert re.search(r"vethd41c2e .*⇄ eth0 @ pid 4242 \(ifindex 2\)  → proxy \(container\)$", text, re.M)
    assert "-> proxy (container)" in render_text(SNAP, ascii=True)


def test_dot_labels_name_owners() -> None:
    dot = render_dot(SNAP)
    assert 'label="tap796091c0-07\\ntap\\nowner web-1 (vm)\\nowner 796091c0-07 (neutron-port)"' in dot
    assert 'label="vethd41c2e\\nveth\\n-> proxy (container)"' in dot
    assert 'label="pid 4242\\nnet:[4026532401]\\nowner proxy (container)";' in dot


def test_prometheus_owner_labels_and_family() -> None:
    text = render_prom(SNAP)
    found = samples(text)
    links = {s[1]["device"]: s[1] for s in found if s[0] == "vnettop_link_info" and s[1]["netns"] == "root"}
    assert (links["tap796091c0-07"]["owner"], links["tap796091c0-07"]["owner_kind"]) == ("web-1", "vm")
    assert links["em1"]["owner"] == ""
    ns = {s[1]["inode"]: s[1] for s in found if s[0] == "vnettop_namespace_info"}
    assert (ns[str(CONTAINER)]["owner"], ns[str(CONTAINER)]["owner_kind"]) == ("proxy", "container")
    info = {(s[1]["kind"], s[1]["name"]): s[1] for s in found if s[0] == "vnettop_owner_info"}
    assert len(info) == len(SNAP.owners or ())
    port = info[("neutron-port", "796091c0-07")]
    assert (port["id"], port["exact"], port["parent"], port["parent_kind"]) == (WEB1_PORT, "true", "web-1", "vm")
    assert info[("vm", "P2")]["exact"] == "false" and info[("vm", "P2")]["runtime"] == "qemu"
    assert not any("pid" in labels for name, labels, _ in found if name == "vnettop_owner_info")
    done = check_metrics(text)
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout


def test_prometheus_has_no_owner_family_when_no_source_was_asked() -> None:
    assert "vnettop_owner_info" not in render_prom(SNAP.kernel_picture())
    assert "# TYPE vnettop_owner_info gauge" in render_prom(replace(SNAP, owners=()))


def test_cli_trace_owner(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trace", "--demo", "--owner", "proxy"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        "trace from proxy (container)", f"proxy (container)  exact, docker, id {PROXY_ID}",
        "└─ vethd41c2e  veth @ root (owner's)"]
    assert "namespace pid 4242  [proxy (container)]" in out
    doc = json.loads(_run(capsys, "trace", "--demo", "--owner", "web-1", "-f", "json")[1])
    assert doc["start"] == {"owner": "web-1", "kind": "vm", "id": _owner("web-1").id, "label": "web-1 (vm)"}
    assert [h["owner"] for h in doc["hops"][:3]] == ["web-1 (vm)", "web-1 (vm)", "web-1 (vm)"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--owner", "wbe-1"], "vnettop: no owner 'wbe-1' (close: web-1)\n"),
    (["--owner", "web-1", "--pid", "7802"], "one of them"),
    (["--owner", "web-1", "--netns", "root"], "--netns goes with a DEVICE"),
])
def test_cli_trace_owner_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                             message: str) -> None:
    code, out, err = _run(capsys, "trace", "--demo", *argv)
    assert code != 0 and out == "" and err.count("\n") == 1 and message in err


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    done = capsys.readouterr()
    return code, done.out, done.err
