"""`vnettop lab up --ovs`: the lab's compute node as ML2/OVN shapes it, on the host's Open vSwitch.

Built after the linuxbridge part of the lab, every step through the same Mutator (each printing its
`ovs-vsctl` or `ip` command, each in the journal):

  PREFIX-br-int            OVS bridge (userspace `netdev` datapath: no kernel module needed)
    PREFIX-tapXXXX x2      VM taps in the root namespace, held by qemu (or a holder process), with
                           Nova-style external_ids: iface-id, attached-mac, vm-uuid, iface-status=active
    PREFIX-int-ex          patch port, peer PREFIX-ex-int on PREFIX-br-ex
    PREFIX-gnv0            geneve tunnel to 127.0.0.2 (loopback: no traffic leaves the host)
    PREFIX-meta0           veth, peer tapNNNNNNNNNN1 in the metadata namespace
  PREFIX-br-ex             OVS bridge, PREFIX-ex-int its patch port back to br-int
  PREFIX-ovnmeta-<uuid>    OVN's metadata namespace: 169.254.169.254/32 and 10.0.0.2/24 on the veth, a
                           listener on 169.254.169.254:80 (as haproxy is, there)

OVS bridges and root-namespace devices are written to the lab's state file before they are made, and
`down` removes them first (deleting a bridge removes its ports; OVSDB collects the rows), so `down`
leaves no trace in OVSDB either. Names are `PREFIX-…` wherever they are in the root namespace or in
OVSDB, so a prefix must leave room: at most 8 bytes (`PREFIX-br-int` is a device name, 15 bytes max).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import uuid
from typing import TYPE_CHECKING, Any

from vnettop.actions import ovs_plans as op
from vnettop.actions import plans as p
from vnettop.ovsdb.jsonrpc import OvsdbError

if TYPE_CHECKING:
    from vnettop.actions.lab import Lab
    from vnettop.actions.mutator import Mutator

PREFIX_MAX = 8
METADATA_IP = "169.254.169.254"
LISTENER_COMM = "vntlab-meta"
START_HINT = ("start it with `systemctl start openvswitch-switch` (or /usr/share/openvswitch/scripts/ovs-ctl "
              "start), or name its socket with --ovsdb PATH")


def bridges(prefix: str) -> tuple[str, str]:
    return f"{prefix}-br-int", f"{prefix}-br-ex"


def preflight(prefix: str, ovsdb: str) -> str | None:
    """Why `lab up --ovs` cannot build anything here (one line), or None when it can.

    Asked before anything is made: the prefix leaves room for the names, an ovsdb-server answers on
    the socket, and an ovs-vswitchd has applied its database (else no bridge would get a device)."""
    from vnettop.ovsdb.transact import Writer

    if len(prefix.encode()) > PREFIX_MAX:
        return (f"prefix {prefix!r} is too long for --ovs (at most {PREFIX_MAX} bytes: {prefix}-br-int must "
                f"fit in 15)")
    installed = shutil.which("ovs-vswitchd") or os.path.exists("/usr/sbin/ovs-vswitchd")
    try:
        with Writer(ovsdb, timeout=3.0) as writer:
            sw = writer.read()
    except OvsdbError as exc:
        if not installed:
            return f"Open vSwitch is not installed (Debian package openvswitch-switch), and {exc}"
        return f"no OVSDB answers: {exc}; {START_HINT}"
    if sw.cur_cfg == 0:
        return f"{ovsdb}: ovsdb-server answers, but no ovs-vswitchd has applied its database (start it)"
    taken = [b for b in bridges(prefix) if b in sw.bridges]
    if taken:
        return f"OVS bridge {taken[0]} already exists in {ovsdb}: run `vnettop lab down` first"
    return None


def _mac() -> str:
    rnd = random.SystemRandom()
    return "fa:16:3e:" + ":".join(f"{rnd.randrange(256):02x}" for _ in range(3))


def up(lab: Lab, mutator: Mutator, ovsdb: str, network: str) -> None:
    """Build the OVS part (raises VnettopError/OSError; the caller's `down` then removes what was made)."""
    prefix = lab.prefix
    br_int, br_ex = bridges(prefix)
    patch_int, patch_ex, gnv, meta0 = (f"{prefix}-{s}" for s in ("int-ex", "ex-int", "gnv0", "meta0"))
    room = 15 - len(prefix.encode()) - len("-tap")
    ovnmeta = f"{prefix}-ovnmeta-{network}"
    meta1 = f"tap{network.replace('-', '')[:10]}1"
    lab.state["ovsdb"] = ovsdb
    lab._save()
    lab.out(f"lab {prefix}: building the OVN-shaped node on Open vSwitch at {ovsdb}")
    up_ = p.SetLinkState
    for bridge in (br_int, br_ex):
        lab._remember("ovs_bridges", bridge)  # before it exists: a crash leaves a known trace
        lab._apply(mutator, op.CreateOvsBridge(bridge, "netdev"))
    lab._apply(mutator, op.AddOvsPort(br_int, patch_int, type="patch", options=f"peer={patch_ex}"))
    lab._apply(mutator, op.AddOvsPort(br_ex, patch_ex, type="patch", options=f"peer={patch_int}"))
    lab._apply(mutator, op.AddOvsPort(br_int, gnv, type="geneve",
                                      options="remote_ip=127.0.0.2 key=flow csum=true"))
    for i in (1, 2):
        port, vm = str(uuid.uuid4()), str(uuid.uuid4())
        tap = f"{prefix}-tap{port.replace('-', '')[:room]}"
        lab._remember("root_links", tap)
        lab._apply(mutator, p.CreateTunTap(tap, vnet_hdr=True))
        lab._start(None, f"ovs-vm{i}", tap, "tap")
        lab._apply(mutator, up_(tap))
        lab._apply(mutator, op.AddOvsPort(br_int, tap, external_ids=(
            f"iface-id={port} attached-mac={_mac()} vm-uuid={vm} iface-status=active")))
    lab._apply(mutator, p.CreateNamespace(ovnmeta))
    lab._apply(mutator, up_("lo", netns=ovnmeta))
    lab._remember("root_links", meta0)
    lab._apply(mutator, p.CreateVethPair(meta0, meta1, peer_netns=ovnmeta))
    for address in (f"{METADATA_IP}/32", "10.0.0.2/24"):
        lab._apply(mutator, p.AddAddress(meta1, netns=ovnmeta, address=address))
    lab._apply(mutator, up_(meta1, netns=ovnmeta))
    lab._apply(mutator, up_(meta0))
    lab._apply(mutator, op.AddOvsPort(br_int, meta0, external_ids=f"iface-id={uuid.uuid4()}"))
    pid = lab._launch(ovnmeta, [sys.executable, "-m", "vnettop.actions.lab_ovs", "listen", METADATA_IP, "80"],
                      None)
    lab.out(f"  + metadata listener [{pid}] on {METADATA_IP}:80 in {ovnmeta}")


def root_processes(prefix: str) -> dict[int, str]:
    """pid -> comm of the processes holding the lab's root-namespace VM taps (qemu named
    `guest=PREFIX-ovs-vmN`, or a holder of a `PREFIX-tap…`), found by command line: they live in no
    lab namespace, and `down` must find them even when the state file that recorded them is gone."""
    qemu, holder, tap = f"guest={prefix}-ovs-vm".encode(), b"vntlab-holder\0hold\0", f"{prefix}-tap".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            if qemu in cmdline or (holder in cmdline and tap in cmdline):
                with open(f"/proc/{entry}/comm") as f:
                    found[int(entry)] = f.read().strip()
        except OSError:
            continue
    return found


def recorded(lab: Lab) -> bool:
    """Whether the lab made (or may have left) OVS bridges or root-namespace devices."""
    state = lab._load()
    if state.get("ovs_bridges") or state.get("root_links"):
        return True
    try:
        return any(n.startswith(f"{lab.prefix}-") for n in os.listdir("/sys/class/net"))
    except OSError:
        return False


def down(lab: Lab, mutator: Mutator, ovsdb: str | None) -> bool:
    """Remove the OVS bridges and root-namespace devices `up` recorded (or that carry the prefix); True
    when all went. Runs after the lab's processes are stopped, before its namespaces go."""
    state = lab._load()
    db = str(state.get("ovsdb") or ovsdb or "")
    ok = True
    wanted = [b for b in state.get("ovs_bridges", []) if isinstance(b, str)]
    if wanted or ovsdb:
        from vnettop.ovsdb.transact import Writer

        try:
            with Writer(db, timeout=3.0) as writer:
                present = set(writer.read().bridges)
        except OvsdbError as exc:
            lab.out(f"  ! cannot reach OVSDB to remove {', '.join(wanted) or 'the lab bridges'}: {exc}")
            present = set()
            ok = not wanted
        swept = {b for b in present if b in bridges(lab.prefix)}
        for bridge in sorted((set(wanted) & present) | swept):
            mutator.ovsdb = db
            plan: p.Plan = op.DeleteOvsBridge(bridge)
            result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
            lab.out(f"  {'-' if result.ok else '!'} {result.ip_command}"
                    + ("" if result.ok else f": {result.message}"))
            ok = ok and result.ok
            lab._journal_failed(mutator)
    recorded_links = [n for n in state.get("root_links", []) if isinstance(n, str)]
    try:  # and any PREFIX-… device of the root namespace, if the state file is gone (not the bridges'
        # local ports: ovs-vswitchd owns those)
        swept_links = [n for n in sorted(os.listdir("/sys/class/net"))
                       if n.startswith(f"{lab.prefix}-") and n not in bridges(lab.prefix)]
    except OSError:
        swept_links = []
    for name in dict.fromkeys(recorded_links + swept_links):
        if not os.path.exists(f"/sys/class/net/{name}"):
            continue  # never made, or gone with its peer
        plan = p.DeleteLink(name)
        result = mutator.apply(plan, confirmed_warnings=mutator.check(plan))
        lab.out(f"  {'-' if result.ok else '!'} {result.ip_command}")
        ok = ok and result.ok
        lab._journal_failed(mutator)
    return ok


def status_lines(lab: Lab) -> list[str]:
    """What OVSDB holds of the lab: each bridge with its ports (type, external iface-id)."""
    state = lab._load()
    db = state.get("ovsdb")
    if not isinstance(db, str):
        return []
    from vnettop.ovsdb.monitor import read_once

    try:
        view = read_once(db)
    except OvsdbError as exc:
        return [f"OVSDB: {exc}"]
    lines = []
    for bridge in view.bridges:
        if bridge.name not in bridges(lab.prefix):
            continue
        lines.append(f"ovs bridge {bridge.name} ({bridge.datapath_type or 'system'})")
        for port in bridge.ports:
            for iface in port.interfaces:
                extra = f" iface-id {dict(iface.external_ids)['iface-id']}" if "iface-id" in dict(
                    iface.external_ids) else ""
                lines.append(f"  {iface.name} {iface.type or 'system'}{extra}")
    return lines


def ovs_complete(lab: Lab) -> bool:
    """Whether both lab bridges are in OVSDB (for `status`)."""
    return sum(line.startswith("ovs bridge ") for line in status_lines(lab)) == 2


# -- the child side: the metadata namespace's listener ------------------------------------------------


def _listen(address: str, port: int) -> None:
    """Listen on address:port like the metadata proxy does, answer each connection with one line."""
    import socket

    from vnettop.linux.libc import name_this_thread

    name_this_thread(LISTENER_COMM)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(8)
    os.write(1, b"ready\n")
    signal.signal(signal.SIGTERM, lambda *_a: os._exit(0))
    while True:
        conn, _peer = sock.accept()
        try:
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nvnettop lab metadata\n")
        except OSError:
            pass
        conn.close()


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] != "listen":
        sys.exit("usage: python -m vnettop.actions.lab_ovs listen ADDRESS PORT")
    _listen(argv[1], int(argv[2]))


__all__: list[Any] = ["bridges", "down", "preflight", "recorded", "status_lines", "up"]

if __name__ == "__main__":
    main(sys.argv[1:])
