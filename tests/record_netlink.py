"""Record real rtnetlink replies for the pure decoding tests (run as root: `python -m tests.record_netlink`).

Why recordings: the pure tests must run without root and still check the decoder against what a real
kernel sends, byte for byte. This script builds every kind of device this kernel can make inside two
throwaway namespaces (nothing in root), dumps them through a plain pyroute2 `IPRoute` and saves the exact
datagrams the kernel answered with, hex-encoded, under `tests/data/netlink/`. Kinds this kernel cannot
build (8021q vlan, bond, gre, ipvlan, wireguard) are encoded with pyroute2's own `ifinfmsg` encoder from a
real kernel reply used as a template, so they are laid out exactly like kernel replies; the README in
that folder says which files are synthetic.

Devices get fixed names and MAC addresses so the tests can assert literal values; only the namespace
names carry the kit's random tag.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_MULTI
from pyroute2.netlink.rtnl import RTM_NEWLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from tests.kernelkit import KernelKit, poll_until
from tests.netlink_data import DATA, split

OUT = DATA
MAC = {
    "va0": "02:00:00:00:0a:00",
    "va1": "02:00:00:00:0a:01",
    "br0": "02:00:00:00:0b:00",
    "brs": "02:00:00:00:0b:01",
    "tap0": "02:00:00:00:0d:00",
    "tapmq": "02:00:00:00:0d:01",
    "vx0": "02:00:00:00:0e:00",
    "mv0": "02:00:00:00:0f:00",
    "mvx": "02:00:00:00:0f:01",
    "x0": "02:00:00:00:1a:00",
    "x1": "02:00:00:00:1a:01",
}
STATIC_FDB = "02:00:00:00:0c:01"


def build(kit: KernelKit) -> tuple[str, str]:
    """Namespace A holds most devices; B holds one veth end and a macvlan whose lower is in A."""
    a, b = kit.netns("reca"), kit.netns("recb")
    ip = kit.ip
    ip("link", "add", "va0", "address", MAC["va0"], "type", "veth", "peer", "name", "va1",
       "address", MAC["va1"], netns=a)
    ip("link", "add", "br0", "address", MAC["br0"], "type", "bridge", netns=a)
    ip("link", "add", "brs", "address", MAC["brs"], "type", "bridge", "stp_state", "1",
       "forward_delay", "400", "priority", "4096", netns=a)
    ip("link", "set", "va1", "master", "br0", netns=a)
    ip("tuntap", "add", "mode", "tun", "name", "tun0", netns=a)
    ip("tuntap", "add", "mode", "tap", "name", "tap0", "user", "65534", "group", "65534", netns=a)
    ip("tuntap", "add", "mode", "tap", "name", "tapmq", "multi_queue", netns=a)
    ip("link", "set", "tap0", "address", MAC["tap0"], netns=a)
    ip("link", "set", "tapmq", "address", MAC["tapmq"], netns=a)
    ip("link", "set", "tap0", "master", "brs", netns=a)
    ip("link", "set", "tapmq", "master", "br0", netns=a)
    ip("link", "set", "tapmq", "type", "bridge_slave", "cost", "7", "priority", "9", netns=a)
    ip("link", "add", "vx0", "address", MAC["vx0"], "type", "vxlan", "id", "42", "remote", "192.0.2.1",
       "local", "10.0.0.2", "dstport", "4789", "dev", "va0", netns=a)
    ip("link", "add", "mv0", "link", "va0", "address", MAC["mv0"], "type", "macvlan", "mode", "bridge",
       netns=a)
    ip("link", "add", "mvx", "link", "va0", "address", MAC["mvx"], "type", "macvlan", "mode", "private",
       netns=a)
    ip("link", "set", "mvx", "netns", b, netns=a)
    ip("link", "add", "x0", "address", MAC["x0"], "type", "veth", "peer", "name", "x1",
       "address", MAC["x1"], "netns", b, netns=a)
    for dev in ("va0", "va1", "br0", "brs", "x0", "mv0"):
        ip("link", "set", dev, "up", netns=a)
    ip("link", "set", "x1", "up", netns=b)
    ip("addr", "add", "10.0.0.2/24", "dev", "va0", netns=a)
    ip("addr", "add", "2001:db8::2/64", "dev", "va0", "nodad", netns=a)
    ip("addr", "add", "10.9.0.1/16", "dev", "br0", netns=a)
    ip("addr", "add", "10.1.0.2/30", "dev", "x1", netns=b)
    subprocess.run(["bridge", "-n", a, "fdb", "add", STATIC_FDB, "dev", "va1", "master", "static"],
                   check=True)
    # va0 -> va1 -> br0: the ARP broadcast for an absent neighbour makes br0 learn va0's MAC on va1.
    # (A UDP datagram, not ping: ping is not installed everywhere.)
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.0.0.99', 9))"
    subprocess.run(["ip", "netns", "exec", a, sys.executable, "-c", code], capture_output=True, check=True)

    def learned() -> bool:
        out = subprocess.run(["bridge", "-n", a, "fdb", "show", "br", "br0"], capture_output=True,
                             text=True, check=True).stdout
        return any(MAC["va0"] in line and "permanent" not in line and "static" not in line
                   for line in out.splitlines())

    poll_until(learned, timeout=5)
    return a, b


class Recorder:
    """Wraps an IPRoute's marshal so every datagram the kernel sends is kept, exactly as received."""

    def __init__(self, ipr: IPRoute) -> None:
        self.chunks: list[bytes] = []
        marshal = ipr.asyncore.marshal
        original = marshal.parse

        def parse(data: bytes, *args: Any, **kwargs: Any) -> Any:
            self.chunks.append(bytes(data))
            return original(data, *args, **kwargs)

        marshal.parse = parse

    def take(self, call: Callable[[], Any]) -> bytes:
        self.chunks.clear()
        list(call())
        return b"".join(self.chunks)


def save(name: str, data: bytes) -> None:
    text = data.hex()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    (OUT / f"{name}.hex").write_text("\n".join(lines) + "\n")
    print(f"{name}.hex: {len(data)} bytes", file=sys.stderr)


def record(ns: str, tag: str) -> dict[str, bytes]:
    with IPRoute(netns=f"/run/netns/{ns}", flags=0) as ipr:
        rec = Recorder(ipr)
        got = {
            f"links_{tag}": rec.take(lambda: ipr.link("dump")),
            f"addrs_{tag}": rec.take(lambda: ipr.addr("dump")),
            f"fdb_{tag}": rec.take(lambda: ipr.fdb("dump")),
            f"stats_{tag}": rec.take(lambda: ipr.stats("dump", filter_mask=1)),
        }
    for name, data in got.items():
        save(name, data)
    return got


# -- kinds this kernel cannot build: re-encode a real reply with another kind ------------------------


def _template(links: bytes, name: str) -> ifinfmsg:
    for raw in split(links):
        msg = ifinfmsg(raw)
        msg.decode()
        if msg["header"]["type"] == RTM_NEWLINK and msg.get_attr("IFLA_IFNAME") == name:
            return msg
    raise LookupError(name)


def synthesize(template: ifinfmsg, index: int, name: str, ifi_type: int, flags: int,
               kind: str | None, data: dict[str, Any] | None, address: str | None, link: int | None,
               master: int | None = None, slave: tuple[str, dict[str, Any]] | None = None,
               oper: str | None = None) -> bytes:
    """A RTM_NEWLINK laid out like the kernel's: the template's generic attributes, a new LINKINFO."""
    msg = ifinfmsg()
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = NLM_F_MULTI
    msg["header"]["sequence_number"] = 0
    msg["header"]["pid"] = 0
    msg["family"] = 0
    msg["ifi_type"] = ifi_type
    msg["index"] = index
    msg["flags"] = flags
    msg["change"] = 0
    drop = {"IFLA_IFNAME", "IFLA_LINK", "IFLA_LINKINFO", "IFLA_ADDRESS", "IFLA_BROADCAST",
            "IFLA_MASTER", "IFLA_LINK_NETNSID", "IFLA_AF_SPEC", "IFLA_PERM_ADDRESS", "IFLA_STATS",
            "IFLA_XDP", "IFLA_PROTO_DOWN_REASON", "IFLA_PROP_LIST", "IFLA_MAP", "IFLA_PARENT_DEV_NAME"}
    attrs: list[list[Any]] = [["IFLA_IFNAME", name]]
    if oper is not None:  # tunnels without a carrier notion say UNKNOWN and keep carrier 1
        drop |= {"IFLA_OPERSTATE", "IFLA_CARRIER"}
        attrs += [["IFLA_OPERSTATE", oper], ["IFLA_CARRIER", 1]]
    for nla in template["attrs"]:
        if nla[0] not in drop:
            attrs.append([nla[0], nla[1]])
    if master is not None:
        attrs.append(["IFLA_MASTER", master])
    if link is not None:
        attrs.append(["IFLA_LINK", link])
    info: list[list[Any]] = [["IFLA_INFO_KIND", kind]] if kind else []
    if data is not None:
        info.append(["IFLA_INFO_DATA", {"attrs": list(data.items())}])
    if slave is not None:
        info.append(["IFLA_INFO_SLAVE_KIND", slave[0]])
        info.append(["IFLA_INFO_SLAVE_DATA", {"attrs": list(slave[1].items())}])
    attrs.append(["IFLA_LINKINFO", {"attrs": info}])
    if address is not None:
        attrs.append(["IFLA_ADDRESS", address])
        attrs.append(["IFLA_BROADCAST", "ff:ff:ff:ff:ff:ff"])
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def synthetic(links_a: bytes) -> bytes:
    """vlan, bond (with a port), gre, ipvlan, wireguard: one buffer of RTM_NEWLINK messages."""
    ether = _template(links_a, "mv0")
    tun = _template(links_a, "tun0")
    up = 0x1 | 0x2 | 0x40 | 0x1000 | 0x10000  # UP BROADCAST RUNNING MULTICAST LOWER_UP
    out = [
        synthesize(ether, 20, "em2.100", 1, up, "vlan",
                   {"IFLA_VLAN_ID": 100, "IFLA_VLAN_PROTOCOL": 0x8100,
                    "IFLA_VLAN_FLAGS": {"flags": 1, "mask": 0xFFFFFFFF}},
                   "02:00:00:00:14:00", link=2),
        synthesize(ether, 21, "bond0", 1, up | 0x400, "bond",
                   {"IFLA_BOND_MODE": 4, "IFLA_BOND_MIIMON": 100}, "02:00:00:00:15:00", link=None),
        synthesize(ether, 22, "em3", 1, up | 0x800, None, None, "02:00:00:00:15:00", link=None,
                   master=21, slave=("bond", {"IFLA_BOND_SLAVE_STATE": 0, "IFLA_BOND_SLAVE_MII_STATUS": 0})),
        synthesize(tun, 23, "gre1", 778, 0x1 | 0x80 | 0x40 | 0x10000, "gre",
                   {"IFLA_GRE_LOCAL": "192.0.2.10", "IFLA_GRE_REMOTE": "198.51.100.7",
                    "IFLA_GRE_TTL": 64, "IFLA_GRE_IKEY": 0, "IFLA_GRE_OKEY": 0}, None, link=0, oper="UNKNOWN"),
        synthesize(ether, 24, "ipvl0", 1, up, "ipvlan", {"IFLA_IPVLAN_MODE": 1}, "02:00:00:00:0a:00",
                   link=2),
        synthesize(tun, 25, "wg0", 65534, 0x1 | 0x10 | 0x80 | 0x40 | 0x10000, "wireguard", None, None,
                   link=None, oper="UNKNOWN"),
    ]
    return b"".join(out)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    kit = KernelKit()
    try:
        a, b = build(kit)
        got_a = record(a, "a")
        record(b, "b")
        save("links_synthetic", synthetic(got_a["links_a"]))
        facts = {
            "kernel": Path("/proc/sys/kernel/osrelease").read_text().strip(),
            "iproute2": subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout.strip(),
            "macs": MAC,
            "static_fdb": STATIC_FDB,
        }
        (OUT / "recorded.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    finally:
        kit.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
