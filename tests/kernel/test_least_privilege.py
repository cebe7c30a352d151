"""Least privilege, proven on the real kernel: a non-root account with exactly CAP_SYS_ADMIN, CAP_SYS_PTRACE
and CAP_DAC_READ_SEARCH sees what root sees; with any one of them fewer it sees less; and with the three
it cannot change the network.

Why each capability (kernel 6.x; README "Least privilege"):
- CAP_SYS_ADMIN: `setns()` into a network namespace (netns_install: CAP_SYS_ADMIN over the namespace's
  owning user namespace and the caller's). Without it every namespace but vnettop's own is unreadable.
- CAP_SYS_PTRACE: other users' `/proc/PID/ns/net` and the links in `/proc/PID/fd/` (PTRACE_MODE_READ),
  and `pidfd_getfd()` of a tun fd (PTRACE_MODE_ATTACH_REALCREDS). Without it namespaces only a process
  is in are not found, and no tap holder is.
- CAP_DAC_READ_SEARCH: other users' `/proc/PID/fd` directories are mode 0500, so without it they cannot
  even be searched (CAP_SYS_PTRACE does not help: the directory's permission is checked first); and a
  namespace bind-mounted under a directory only its owner may search (docker's /run/docker is 0700,
  rootless Podman's /run/user/UID too) can be named from the mount table but not opened.
Nothing smaller does: each is shown to matter below (test_one_capability_fewer_sees_less), and no other
capability grants what each grants here (CAP_DAC_OVERRIDE would do for CAP_DAC_READ_SEARCH, but it
overrides write permission too; setns and PTRACE_MODE_READ accept no other capability).
The one thing the set does not give: TUNGETDEVNETNS (which namespace a tun fd's device is in) needs
CAP_NET_ADMIN (drivers/net/tun.c), the capability that changes the network, so a tap holder is matched by
name (`exact: false`); only when two namespaces hold a tap of the same name is the holder left unknown.

The comparisons are limited to what the test built (names and namespaces carrying the kit's tag) and to
properties of the whole namespace list, so other objects appearing meanwhile do not make them flaky.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.asuser import READ_SET, AsUser, as_user, cap_mask
from tests.kernelkit import KernelKit, poll_until, run
from tests.tunholder import start_holder

pytestmark = pytest.mark.kernel

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def user() -> Iterator[AsUser]:
    with as_user() as u:
        yield u


@pytest.fixture
def hidden_dir() -> Iterator[str]:
    """A 0700 directory (as docker's /run/docker is) for a namespace mount; unmounted and removed after."""
    path = tempfile.mkdtemp(prefix="vnt")  # mkdtemp makes it 0700
    try:
        yield path
    finally:
        target = os.path.join(path, "ns")
        if os.path.ismount(target):
            run(["umount", target], check=False)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def topology(kit: KernelKit, hidden_dir: str) -> dict[str, Any]:
    """Built as root: a named namespace with a veth into root and a bridge inside; a bridge in root with
    that veth and a held tap as ports; a tap held by a process inside the namespace; a namespace only a
    process is in (`unshare -n`), with a veth into it; and a namespace mounted under a 0700 directory,
    with a veth into it, that no process is in."""
    ns = kit.netns("l")
    a, b = kit.veth(kit.name("la"), kit.name("lb"), ns_b=ns)
    inner = kit.bridge(kit.name("lbi"), netns=ns)
    kit.ip("link", "set", b, "master", inner, netns=ns)
    held = kit.name("lh")
    holder, holder_fds = start_holder(kit, held)
    outer = kit.bridge(kit.name("lbo"))
    for port in (a, held):
        kit.ip("link", "set", port, "master", outer)
    nsheld = kit.name("ln")
    ns_holder, ns_holder_fds = start_holder(kit, nsheld, netns=ns)
    proc, anon = kit.unshared()
    c = kit.name("lc")
    kit.ip("link", "add", c, "type", "veth", "peer", "name", kit.name("ld"), "netns", str(proc.pid))
    kit.link(c)
    mount = os.path.join(hidden_dir, "ns")
    open(mount, "x").close()  # a bind mount needs a file to cover
    run(["unshare", f"--net={mount}", "true"])
    hidden = os.stat(mount).st_ino
    e = kit.name("le")
    kit.ip("link", "add", e, "type", "veth", "peer", "name", kit.name("lf"), "netns", mount)
    kit.link(e)
    return {"ns": ns, "inode": kit.ns_inode(ns), "a": a, "b": b, "inner": inner, "outer": outer,
            "held": held, "holder": holder, "holder_fds": holder_fds, "nsheld": nsheld,
            "ns_holder": ns_holder, "ns_holder_fds": ns_holder_fds, "anon": anon, "c": c,
            "hidden": hidden, "e": e, "mount": mount, "tag": f"vnt{kit.tag}"}


def _root_dump() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "vnettop", "dump", "-f", "json"], capture_output=True,
                          text=True, cwd=WORKTREE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _user_dump(user: AsUser, caps: tuple[str, ...]) -> dict[str, Any]:
    proc = user.vnettop(caps, "dump", "-f", "json", "--read-only")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _ours(snap: dict[str, Any], topo: dict[str, Any]) -> dict[str, Any]:
    """What the test built, with what legitimately differs between two reads (counters) left out; tun
    holders' `exact` is taken out and returned apart so the caller can assert on it."""
    ours = {topo["inode"], topo["anon"], topo["hidden"]}
    links = {}
    exact = {}
    for link in snap["links"]:
        if not link["name"].startswith(topo["tag"]):
            continue
        link = dict(link)
        link.pop("stats")
        if link["tun"] is not None and link["tun"]["holders"] is not None:
            link["tun"] = dict(link["tun"])
            holders = [dict(h) for h in link["tun"]["holders"]]
            exact[link["name"]] = [h.pop("exact") for h in holders]
            link["tun"]["holders"] = holders
        links[(link["netns"], link["name"])] = link
    namespaces = {n["inode"]: n for n in snap["namespaces"] if n["inode"] in ours}
    return {"links": links, "namespaces": namespaces, "exact": exact}


def test_the_set_sees_what_root_sees(topology: dict[str, Any], user: AsUser) -> None:
    got = user.caps_of_child(READ_SET)
    mask = cap_mask(READ_SET)
    assert (got["uid"], got["CapEff"], got["CapPrm"], got["CapAmb"], got["CapBnd"], got["NoNewPrivs"]) == \
        (65534, mask, mask, mask, mask, 1), got
    before = _root_dump()
    theirs = _user_dump(user, READ_SET)
    after = _root_dump()

    mine = _ours(before, topology)
    assert mine == _ours(after, topology), "the topology changed while it was read"
    other = _ours(theirs, topology)
    # Everything built is seen, and seen alike: the three namespaces, every device, peer, master, port,
    # the tap holders' pids and fds...
    root = _root_inode(before)
    assert set(mine["namespaces"]) == {topology["inode"], topology["anon"], topology["hidden"]}
    assert {(ns, name.removeprefix(topology["tag"])) for ns, name in mine["links"]} == {
        (root, "la"), (root, "lbo"), (root, "lh"), (root, "lc"), (root, "le"),
        (topology["inode"], "lb"), (topology["inode"], "lbi"), (topology["inode"], "ln"),
        (topology["anon"], "ld"), (topology["hidden"], "lf")}
    assert other["namespaces"] == mine["namespaces"]
    assert other["links"] == mine["links"]
    held = mine["links"][(root, topology["held"])]
    assert [(h["pid"], tuple(h["fds"])) for h in held["tun"]["holders"]] == \
        [(topology["holder"], topology["holder_fds"])]
    # ...except how a holder was matched: root asked the kernel, the set matched by name.
    assert set(mine["exact"]) == set(other["exact"]) == {topology["held"], topology["nsheld"]}
    assert all(all(v) for v in mine["exact"].values()), mine["exact"]
    assert not any(any(v) for v in other["exact"].values()), other["exact"]

    # The whole namespace list: every namespace the account found it could read, and every one root saw
    # both before and after was found.
    assert [n["inode"] for n in theirs["namespaces"] if not n["readable"]] == []
    stable = {n["inode"] for n in before["namespaces"]} & {n["inode"] for n in after["namespaces"]}
    assert stable <= {n["inode"] for n in theirs["namespaces"]}
    # No error root did not have too (errors both share are the host's: a process even root may not read),
    # but the one saying holders were matched by name, and why.
    def said(errors: list[dict[str, str]]) -> set[str]:
        return {json.dumps({**e, "message": e["message"].removesuffix(" (run as root to see them)")},
                           sort_keys=True) for e in errors}

    extra = said(theirs["errors"]) - said(before["errors"]) - said(after["errors"])
    # A tap another test holds under a name several of its namespaces share can only be matched by name
    # without root, so the account names it as ambiguous: true, and not about this topology.
    foreign = re.compile(r"holds a tun/tap named '(vnt[^']*)'")
    extra = {e for e in extra if not ((m := foreign.search(e)) and not m.group(1).startswith(topology["tag"]))}
    assert extra == {json.dumps({"scope": "proc", "message": "tun/tap holders matched by device name only "
                                 "(TUNGETIFF/TUNGETDEVNETNS: Operation not permitted)"}, sort_keys=True)}


def _root_inode(snap: dict[str, Any]) -> int:
    (root,) = [n["inode"] for n in snap["namespaces"] if n["root"]]
    return int(root)


def test_exact_false_only_because_of_tungetdevnetns(topology: dict[str, Any], user: AsUser) -> None:
    """With the set, the holder's fd is duplicated and its device named (TUNGETIFF); only asking for its
    namespace (TUNGETDEVNETNS) is refused, EPERM. Adding CAP_NET_ADMIN, and nothing else, lifts that."""
    code = ("import os, sys, json\n"
            "from vnettop.collect import tunfd\n"
            "pid, fd = int(sys.argv[1]), int(sys.argv[2])\n"
            "dup = tunfd.pidfd_getfd(tunfd.pidfd_open(pid), fd)\n"
            "name = tunfd.tun_ifreq(dup)[0]\n"
            "try:\n"
            "    ns = tunfd.tun_netns_inode(dup)\n"
            "except OSError as e:\n"
            "    ns = -e.errno\n"
            "print(json.dumps([name, ns]))\n")
    args = ("-c", code, str(topology["holder"]), str(topology["holder_fds"][0]))
    with_set = user.run(READ_SET, *args)
    assert with_set.returncode == 0, with_set.stderr
    assert json.loads(with_set.stdout) == [topology["held"], -errno.EPERM]
    with_net_admin = user.run((*READ_SET, "cap_net_admin"), *args)
    assert with_net_admin.returncode == 0, with_net_admin.stderr
    assert json.loads(with_net_admin.stdout) == [topology["held"], os.stat("/proc/self/ns/net").st_ino]


@pytest.mark.parametrize("missing", READ_SET)
def test_one_capability_fewer_sees_less(topology: dict[str, Any], user: AsUser, missing: str) -> None:
    caps = tuple(c for c in READ_SET if c != missing)
    snap = _user_dump(user, caps)
    namespaces = {n["inode"]: n for n in snap["namespaces"]}
    links = {link["name"]: link for link in snap["links"]}
    if missing == "cap_sys_admin":
        # Found, but cannot be entered: its devices are unknown, and so are the other hidden ones'.
        for inode in (topology["inode"], topology["anon"], topology["hidden"]):
            assert namespaces[inode]["readable"] is False, namespaces[inode]
            assert namespaces[inode]["unreadable_reason"] == "permission denied"
        assert topology["b"] not in links and topology["inner"] not in links
    elif missing == "cap_sys_ptrace":
        # The process-only namespace is not even found; nobody's holders are known.
        assert topology["anon"] not in namespaces
        assert links[topology["c"]]["peer"]["netns"] == 0
        assert namespaces[topology["inode"]]["readable"] is True
        # (What it then says of tap holders: test_without_ptrace_holders_are_unknown.)
    else:
        # The namespace mounted under a 0700 directory is named by the mount table but cannot be opened.
        hidden = namespaces.get(topology["hidden"])
        assert hidden is None or hidden["readable"] is False, hidden
        assert topology["e"] in links and links[topology["e"]]["peer"]["name"] is None
        assert namespaces[topology["inode"]]["readable"] is True
        assert namespaces[topology["anon"]]["readable"] is True
        # ...and, less obviously, other users' /proc/PID/fd directories are 0500: without it they cannot
        # be searched, even with CAP_SYS_PTRACE, so no holder is known.
        for tap in (topology["held"], topology["nsheld"]):
            assert links[tap]["tun"]["holders"] is None, links[tap]["tun"]


@pytest.mark.xfail(strict=True, reason="vnettop/collect/procfs.py fd_targets() skips an fd whose link is EACCES "
                   "as if closed: with CAP_DAC_READ_SEARCH but not CAP_SYS_PTRACE the fd directory lists but "
                   "no link reads, and the scan calls itself complete. Raising instead turns every unheld "
                   "tap into 'unknown' on this machine kind, where even root is refused the fd links of "
                   "pid 1 (the VM's agent): a fix needs another proof of 'no holder' than the fd scan")
def test_without_ptrace_holders_are_unknown(topology: dict[str, Any], user: AsUser) -> None:
    """CAP_DAC_READ_SEARCH alone lets other users' /proc/PID/fd be listed but not one of its links read
    (PTRACE_MODE_READ): the holders are then unknown, never "not held"."""
    snap = _user_dump(user, ("cap_sys_admin", "cap_dac_read_search"))
    links = {link["name"]: link for link in snap["links"]}
    for tap in (topology["held"], topology["nsheld"]):
        tun = links[tap]["tun"]
        assert (tun["holders"], tun["holders_complete"]) == (None, False), tun


def test_listening_socket_owner_with_the_set(kit: KernelKit, user: AsUser) -> None:
    """A root process listening in a namespace: the set sees the socket (sock_diag needs no capability)
    and its owner (the owner's fds: CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH), as root does."""
    ns = kit.netns("k")
    listener = kit.spawn([sys.executable, "-c", "import socket, time; s = socket.socket(); "
                          "s.bind(('127.0.0.1', 7979)); s.listen(); time.sleep(300)"], netns=ns)
    poll_until(lambda: "127.0.0.1:7979" in run(["ip", "netns", "exec", ns, "ss", "-Hltn"]).stdout)
    inode = kit.ns_inode(ns)

    def listening(snap: dict[str, Any]) -> list[Any]:
        (entry,) = [n for n in snap["namespaces"] if n["inode"] == inode]
        return [(p["pid"], p["listening"]) for p in entry["processes"] if p["listening"]]

    root = listening(_root_dump())
    assert root == [(listener.pid, [{"proto": "tcp", "address": "127.0.0.1", "port": 7979}])], root
    assert listening(_user_dump(user, READ_SET)) == root


def test_same_name_in_two_namespaces_is_what_the_set_cannot_attribute(kit: KernelKit, user: AsUser) -> None:
    """Two namespaces each with a tap of one name, one of them held: root names the holder, the set says
    it does not know (never guesses, never says "not held") and why."""
    one, two = kit.netns("s1"), kit.netns("s2")
    name = kit.name("st")
    pid, _fds = start_holder(kit, name, netns=one)
    kit.tuntap(name, netns=two)
    inode_one, inode_two = kit.ns_inode(one), kit.ns_inode(two)

    def taps(snap: dict[str, Any]) -> dict[int, Any]:
        return {link["netns"]: link["tun"] for link in snap["links"] if link["name"] == name}

    root = taps(_root_dump())
    assert [h["pid"] for h in root[inode_one]["holders"]] == [pid] and not root[inode_two]["holders"]
    snap = _user_dump(user, READ_SET)
    theirs = taps(snap)
    assert theirs[inode_one]["holders"] is None and theirs[inode_two]["holders"] is None, theirs
    (why,) = [e["message"] for e in snap["errors"] if e["scope"] == f"pid {pid}"]
    assert f"named {name!r}" in why and "not attributed" in why


# -- no write path -----------------------------------------------------------------------------------

WRITE_PROBE = """
import json, os, sys
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from vnettop.actions.mutator import Mutator
out = {}
mutator, notice = Mutator.for_cli(False, None)
out["read_only"], out["notice"] = mutator.read_only, notice
def attempt(key, fn):
    try:
        fn()
        out[key] = "done"
    except NetlinkError as e:
        out[key] = e.code
    except OSError as e:
        out[key] = e.errno
def in_netns(path, fn):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)
    fn()
name, bridge, nspath = sys.argv[1], sys.argv[2], sys.argv[3]
with IPRoute() as ipr:
    attempt("add_root", lambda: ipr.link("add", ifname=name, kind="dummy"))
    attempt("set_down_root", lambda: ipr.link("set", index=ipr.link_lookup(ifname=bridge)[0], state="down"))
def inside():
    with IPRoute() as ipr:
        attempt("add_netns", lambda: ipr.link("add", ifname=name, kind="bridge"))
        attempt("lo_down_netns", lambda: ipr.link("set", index=1, state="down"))
in_netns(nspath, inside)
print(json.dumps(out))
"""


def test_no_write_path_with_the_set(topology: dict[str, Any], user: AsUser, kit: KernelKit) -> None:
    """The Mutator comes up read-only, and the kernel refuses a direct pyroute2 write (EPERM), in the root
    namespace and inside a namespace the account can enter; nothing is left behind."""
    name = kit.name("lw")
    kit.link(name)  # removed at cleanup should the kernel wrongly accept it
    proc = user.run(READ_SET, "-c", WRITE_PROBE, name, topology["outer"], f"/run/netns/{topology['ns']}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["read_only"] is True
    assert "CAP_NET_ADMIN" in out["notice"]
    assert {k: out[k] for k in ("add_root", "set_down_root", "add_netns", "lo_down_netns")} == \
        dict.fromkeys(("add_root", "set_down_root", "add_netns", "lo_down_netns"), errno.EPERM)
    assert run(["ip", "link", "show", name], check=False).returncode != 0
    assert run(["ip", "-n", topology["ns"], "link", "show", name], check=False).returncode != 0


def _lab_objects() -> set[str]:
    """Devices and named namespaces carrying the lab's default prefix (a developer's lab may be up)."""
    links = {ln.split(":", 2)[1].strip().split("@")[0] for ln in run(["ip", "-o", "link", "show"]).stdout.splitlines()}
    named = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    return {name for name in links | named if name.startswith("vntlab")}


def test_lab_up_is_refused_with_the_set(user: AsUser) -> None:
    before = _lab_objects()
    proc = user.vnettop(READ_SET, "lab", "up")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.strip().splitlines() == [
        "vnettop lab up: cannot change the system (read-only: this process lacks CAP_NET_ADMIN "
        "(run as root to make changes))"]
    assert _lab_objects() == before


# -- the documented fleet recipe, over a real sshd --------------------------------------------------------

RECIPE = os.path.join(WORKTREE, "contrib", "fleet", "vnettop-fleet-dump")


@pytest.fixture
def fleet_recipe(user: AsUser, kit: KernelKit) -> Iterator[str]:
    """contrib/fleet/vnettop-fleet-dump as shipped, but for two lines: RUN_AS is a system account made for
    the test (`vnt…`, standing for `vnettop`; removed after), PYTHON a venv whose site-packages hold the
    world-readable copy of vnettop (the script runs `python3 -I`, which ignores PYTHONPATH)."""
    account = kit.name("fl")
    run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--user-group", account])
    where = tempfile.mkdtemp(prefix="vnt")
    try:
        os.chmod(where, 0o755)
        venv = os.path.join(where, "venv")
        run([user.interpreter, "-m", "venv", "--without-pip", venv])
        site = run([os.path.join(venv, "bin", "python3"), "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
        with open(os.path.join(site, "vnt-copy.pth"), "w") as f:
            f.write(user.pythonpath + "\n")
        run(["chmod", "-R", "a+rX", where])
        with open(RECIPE) as f:
            text = f.read()
        for line, value in (("PYTHON=/usr/bin/python3\n", f"PYTHON={venv}/bin/python3\n"),
                            ("RUN_AS=vnettop\n", f"RUN_AS={account}\n")):
            assert text.count(line) == 1, line
            text = text.replace(line, value)
        script = os.path.join(where, "vnettop-fleet-dump")
        with open(script, "w") as f:
            f.write(text)
        os.chmod(script, 0o755)
        yield script
    finally:
        shutil.rmtree(where, ignore_errors=True)
        run(["userdel", account], check=False)


def test_fleet_recipe_over_ssh_sees_what_root_sees(topology: dict[str, Any], fleet_recipe: str) -> None:
    """A key whose authorized_keys line is `restrict,command="<the recipe>"`, on a real sshd: whatever the
    client asks for, it gets the snapshot, taken with the three capabilities and not as root.

    The sudo hop of the documented recipe is not exercised here (all it adds is "run this one script as
    root", which the root login here does directly): tests/components/test_fleet_sudo.py does, with sudo."""
    from tests.components.base import component, free_port, kill_tree, need_binary, poll_until

    sshd = need_binary("sshd", "openssh-server")
    need_binary("ssh", "openssh-client")
    with component("sshd-lp", root=False) as comp:
        d = comp.dir
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "fleet_key")])
        key = (d / "fleet_key.pub").read_text().strip()
        (d / "authorized_keys").write_text(f'restrict,command="{fleet_recipe}" {key}\n')
        port = free_port()
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nAllowUsers root\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "LogLevel ERROR\n")
        comp.record_path("/run/sshd")  # root's sshd insists on it; removed after if it was not there
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        comp.spawn([sshd, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])
        pid = comp.wait_pidfile(d / "sshd.pid")
        comp.on_close(lambda: kill_tree(pid))
        ssh = ["ssh", "-p", str(port), "-i", str(d / "fleet_key"), "-o", "BatchMode=yes", "-o",
               "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o",
               f"UserKnownHostsFile={d / 'known_hosts'}", "-o", "LogLevel=ERROR", "root@127.0.0.1"]

        def answered() -> subprocess.CompletedProcess[str] | None:
            proc = subprocess.run([*ssh, "id; touch /tmp/vnt-should-not-exist"], capture_output=True,
                                  text=True, timeout=120)
            return proc if proc.returncode != 255 else None  # 255: sshd not accepting yet

        before = _root_dump()
        proc = poll_until(answered, timeout=20, interval=0.2)
        after = _root_dump()
    assert proc is not None and proc.returncode == 0, proc and proc.stderr
    assert not os.path.exists("/tmp/vnt-should-not-exist")
    theirs = json.loads(proc.stdout)
    mine, other = _ours(before, topology), _ours(theirs, topology)
    assert mine == _ours(after, topology)
    assert (other["namespaces"], other["links"]) == (mine["namespaces"], mine["links"])
    # Taken without CAP_NET_ADMIN (so not as root): holders matched by name, where root's were exact.
    assert all(all(v) for v in mine["exact"].values()) and mine["exact"]
    assert not any(any(v) for v in other["exact"].values()) and other["exact"]


UMOUNT = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
print(0 if libc.umount2(sys.argv[1].encode(), 0) == 0 else ctypes.get_errno())
"""


def test_the_set_can_unmount_and_the_fleet_recipe_confines_it(kit: KernelKit, user: AsUser) -> None:
    """Not a sandbox: any code holding CAP_SYS_ADMIN may unmount, and unmounting /run/netns/NAME takes a
    namespace's name away (its devices go with it if nothing else holds it). vnettop never unmounts; the
    fleet recipe runs it in a mount namespace of its own (`unshare --mount --propagation slave`), where an
    unmount changes nothing outside. Shown on two throwaway namespaces."""
    confined, exposed = kit.netns("uc"), kit.netns("ue")
    with open(RECIPE) as f:
        assert "exec /usr/bin/unshare --mount --propagation slave /usr/bin/setpriv" in f.read()
    inside = subprocess.run(["unshare", "--mount", "--propagation", "slave",
                             *user.argv(READ_SET, "-c", UMOUNT, f"/run/netns/{confined}")],
                            capture_output=True, text=True, timeout=60)
    assert inside.stdout.strip() == "0", inside.stderr  # it could, in its own mount namespace...
    assert os.path.ismount(f"/run/netns/{confined}")  # ...and the host's is untouched
    assert run(["ip", "-n", confined, "link", "show", "lo"], check=False).returncode == 0
    bare = user.run(READ_SET, "-c", UMOUNT, f"/run/netns/{exposed}")
    assert bare.stdout.strip() == "0", bare.stderr  # in the host's mount namespace the name is gone
    assert not os.path.ismount(f"/run/netns/{exposed}")


def test_export_as_the_unit_runs_it(topology: dict[str, Any], user: AsUser) -> None:
    """contrib/systemd/vnettop-export.service's credentials (a non-root user, the three capabilities,
    no_new_privs; a textfile directory it may write): the same series for what the test built as root's."""
    with open(os.path.join(WORKTREE, "contrib", "systemd", "vnettop-export.service")) as f:
        unit = f.read()
    wanted = "CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"
    for line in (f"AmbientCapabilities={wanted}", f"CapabilityBoundingSet={wanted}", "NoNewPrivileges=yes",
                 "User=vnettop"):
        assert line in unit.splitlines(), line
    mine, theirs = tempfile.mkdtemp(prefix="vnt"), tempfile.mkdtemp(prefix="vnt")
    try:
        os.chmod(theirs, 0o755)
        os.chown(theirs, 65534, 65534)
        proc = user.vnettop(READ_SET, "export", "--read-only", "--textfile-dir", theirs)
        assert proc.returncode == 0, proc.stderr
        subprocess.run([sys.executable, "-m", "vnettop", "export", "--read-only", "--textfile-dir", mine],
                       cwd=WORKTREE, check=True, timeout=120)

        def series(directory: str) -> list[str]:
            with open(os.path.join(directory, "vnettop.prom")) as f:
                return sorted(ln for ln in f if topology["tag"] in ln)

        got = series(theirs)
        assert got == series(mine)
        assert any(ln.startswith("vnettop_tun_holder_info{") for ln in got)
        assert os.stat(os.path.join(theirs, "vnettop.prom")).st_uid == 65534
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        shutil.rmtree(theirs, ignore_errors=True)


UI_PROBE = """
import asyncio, json, sys, time
from vnettop.actions.mutator import Mutator
from vnettop.collect.collector import LiveCollector
from vnettop.ui.app import build_app
from vnettop.ui.keys import WRITE_BINDINGS
from vnettop.ui.targets import Target
from vnettop.ui.widgets.topology_tree import TopologyTree

device, netns = sys.argv[1], int(sys.argv[2])
out = {}

async def session():
    mutator, notice = Mutator.for_cli(False, None)  # what `vnettop` (the inspector) builds
    collector = LiveCollector()
    app = build_app(collector, mutator, read_only=mutator.read_only, notice=notice, interval=60.0)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 30
            def found():
                return app.snapshot and [l for l in app.snapshot.links if l.name == device and l.netns == netns]
            while not found():
                assert time.monotonic() < deadline, "device never shown"
                await pilot.pause(0.05)
            (link,) = found()
            app.jump_to(Target.link(netns, link.ifindex))
            await pilot.pause(0.1)
            out["read_only"], out["notice"] = app.read_only, notice
            out["screens"] = []
            for b in WRITE_BINDINGS:
                await pilot.press(b.key)
                await pilot.pause(0.05)
                out["screens"].append([b.key, type(app.screen).__name__])
                out.setdefault("allowed", []).append(app.check_action(b.action.split("(")[0], ()))
    finally:
        collector.close()

asyncio.run(session())
print(json.dumps(out))
"""


def test_inspector_write_keys_do_nothing_with_the_set(topology: dict[str, Any]) -> None:
    """The inspector as the CLI builds it, run as the account with the set (headless): it is read-only
    because CAP_NET_ADMIN is missing, and every write key, pressed on a device it can see, opens nothing."""
    from tests.asuser import UI_PACKAGES

    with as_user(UI_PACKAGES) as ui_user:
        proc = ui_user.run(READ_SET, "-c", UI_PROBE, topology["e"], str(os.stat("/proc/self/ns/net").st_ino))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["read_only"] is True
    assert out["notice"] == "read-only: this process lacks CAP_NET_ADMIN (run as root to make changes)"
    assert out["allowed"] and not any(out["allowed"])
    start = out["screens"][0][1]
    assert all(screen == start for _key, screen in out["screens"]), out["screens"]
