"""The documented fleet recipe (contrib/fleet/) end to end: a real sshd, a real sudo, real accounts.

What is installed is contrib/fleet's own files, changed only where a host's names go: the ssh account
(`vnettop-fleet` there), the account the script drops to (`vnettop`), the script's path, the interpreter
and the client's key. So the test proves the recipe an operator copies, not a look-alike:
- the ssh account's `authorized_keys` line from `authorized_keys.example` (`restrict,command="sudo -n …"`);
- the sudoers drop-in from `vnettop-fleet.sudoers`, checked with `visudo -cf` as the file says;
- `vnettop-fleet-dump`, root-owned 0755, run by sudo as root, which drops to the run account holding the three
  read capabilities; its PYTHON is a venv of the system's /usr/bin/python3 with vnettop and what a dump
  needs copied into its site-packages (the checkout may sit under 0700 /root, which that account cannot read).

Everything is made under `vnt` names (accounts `vnt<tag>…`, the drop-in `/etc/sudoers.d/vnt-<tag>-fleet`)
and removed at teardown whatever failed; a leftover fails the teardown loudly.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.asuser import PACKAGES, SYSTEM_PYTHON, _copy_packages
from tests.components.base import REPO, Component, component, kill_pid, need_binary, need_root, run
from tests.components.sshd import start_accounts_sshd
from tests.kernelkit import KernelKit
from tests.tunholder import start_holder
from vnettop.fleet.fleetfile import read_fleet

CONTRIB = REPO / "contrib" / "fleet"
DOC_SCRIPT = "/usr/local/libexec/vnettop-fleet-dump"


@dataclass
class FleetHost:
    comp: Component
    config: Path  # ssh_config: `vnt-sudo` logs in as the fleet account, `vnt-nosudo` as one sudo does not
    # know, `vnt-plain` as the fleet account with a key that has no forced command
    account: str  # the fleet's ssh account, allowed the one command by the drop-in
    no_sudo: str  # the same authorized_keys line, no sudoers entry
    run_as: str  # the account the script drops to
    script: Path  # the installed vnettop-fleet-dump
    python: Path  # the venv interpreter the script runs
    sudoers: Path


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _remove_account(name: str) -> None:
    """Kill what still runs as the account (only this test made it), then `userdel -r`; raise if it stays."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for pid in _pids_of(uid):
        kill_pid(pid)
    run(["userdel", "-r", name], check=False)  # -r: home and mail spool; a system account has neither
    left = [what for what, there in (("account", _exists(pwd.getpwnam, name)), ("group", _exists(grp.getgrnam, name)))
            if there]
    if left:
        raise AssertionError(f"{name}: {' and '.join(left)} still there after userdel")


def _exists(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def _add_account(comp: Component, name: str, *argv: str) -> None:
    comp.on_close(lambda: _remove_account(name))  # recorded before it exists
    comp.record_path(f"/run/sudo/ts/{name}")  # sudo's timestamp for it, if sudo makes one
    run(["useradd", *argv, name])


def _replace_line(text: str, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    hits = [i for i, ln in enumerate(lines) if ln.rstrip("\n") == old]
    assert len(hits) == 1, f"contrib file has no single line {old!r}"
    lines[hits[0]] = new + "\n"
    return "".join(lines)


def _install_script(comp: Component, run_as: str) -> tuple[Path, Path]:
    """contrib's script with its PYTHON and RUN_AS set for this host, root-owned 0755 in a root-owned
    directory; PYTHON a venv of the system interpreter holding a copy of this checkout's vnettop."""
    version = run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"]).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"{SYSTEM_PYTHON} is Python {version}, not {sys.version_info[:2]} (psutil is per version)")
    venv = comp.dir / "venv"
    run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)])
    site = run([str(venv / "bin" / "python3"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    _copy_packages(site.stdout.strip(), PACKAGES)
    libexec = comp.dir / "libexec"
    libexec.mkdir(mode=0o755)
    text = (CONTRIB / "vnettop-fleet-dump").read_text()
    text = _replace_line(text, "PYTHON=/usr/bin/python3", f"PYTHON={venv / 'bin' / 'python3'}")
    text = _replace_line(text, "RUN_AS=vnettop", f"RUN_AS={run_as}")
    script = libexec / "vnettop-fleet-dump"
    script.write_text(text)
    os.chmod(script, 0o755)
    return script, venv / "bin" / "python3"


def _install_sudoers(comp: Component, account: str, script: Path) -> Path:
    """contrib's drop-in with the account and the script's path set; its comments kept."""
    out = []
    for line in (CONTRIB / "vnettop-fleet.sudoers").read_text().splitlines():
        if not line.startswith("#"):
            line = line.replace(DOC_SCRIPT, str(script))
            line = line.replace("Defaults:vnettop-fleet ", f"Defaults:{account} ")
            if line.startswith("vnettop-fleet "):
                line = account + line[len("vnettop-fleet"):]
        out.append(line)
    text = "\n".join(out) + "\n"
    assert account in text and str(script) in text and "vnettop-fleet ALL" not in text
    draft = comp.dir / "sudoers.draft"
    draft.write_text(text)
    check = run(["visudo", "-cf", str(draft)], check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    path = Path(f"/etc/sudoers.d/vnt-{comp.tag}-fleet")  # no dot: sudo skips names with one
    comp.record_path(path)
    run(["install", "-o", "root", "-g", "root", "-m", "0440", str(draft), str(path)])
    whole = run(["visudo", "-c"], check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    return path


def _authorize(account: str, key: Path, script: Path) -> None:
    """The account's ~/.ssh/authorized_keys: contrib's example line with this host's script and key."""
    (line,) = [ln for ln in (CONTRIB / "authorized_keys.example").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    options = line.split(" ssh-ed25519 ", 1)[0]
    assert options == f'restrict,command="sudo -n {DOC_SCRIPT}"', options
    entry = options.replace(DOC_SCRIPT, str(script)) + " " + Path(f"{key}.pub").read_text().strip() + "\n"
    user = pwd.getpwnam(account)
    ssh_dir = Path(user.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(entry)
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    for p in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(p, user.pw_uid, user.pw_gid)


@pytest.fixture(scope="module")
def fleet_host() -> Iterator[FleetHost]:
    need_root("accounts, sudoers and a root-run script")
    for binary, package in (("sudo", "sudo"), ("visudo", "sudo"), ("useradd", "passwd"), ("userdel", "passwd"),
                            ("setpriv", "util-linux"), ("unshare", "util-linux"), ("runuser", "util-linux")):
        need_binary(binary, package)
    with component("sudo", root=False) as comp:
        account, no_sudo, run_as = (f"vnt{comp.tag}{x}" for x in ("fleet", "nosudo", "run"))
        # Login accounts: `*` is no password but not locked (sshd refuses a `!` account without PAM).
        for name in (account, no_sudo):
            _add_account(comp, name, "--create-home", "--password", "*", "--shell", "/bin/sh")
        _add_account(comp, run_as, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                     "--user-group")
        script, python = _install_script(comp, run_as)
        sudoers = _install_sudoers(comp, account, script)
        port, key = start_accounts_sshd(comp, [account, no_sudo])
        for name in (account, no_sudo):
            _authorize(name, key, script)
        # A second key of the fleet account with no forced command: the client's --remote-command runs.
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vnt-plain", "-f", str(comp.dir / "plain_key")])
        keys = Path(pwd.getpwnam(account).pw_dir) / ".ssh" / "authorized_keys"
        with keys.open("a") as f:
            f.write("restrict " + (comp.dir / "plain_key.pub").read_text().strip() + "\n")
        common = (f"    HostName 127.0.0.1\n    Port {port}\n    IdentityFile {key}\n"
                  f"    UserKnownHostsFile {comp.dir / 'known_hosts'}\n    StrictHostKeyChecking no\n"
                  f"    BatchMode yes\n    IdentitiesOnly yes\n    LogLevel ERROR\n    ConnectTimeout 5\n")
        config = comp.dir / "ssh_config"
        plain = common.replace(f"IdentityFile {key}\n", f"IdentityFile {comp.dir / 'plain_key'}\n")
        config.write_text(f"Host vnt-sudo\n    User {account}\n{common}Host vnt-nosudo\n    User {no_sudo}\n{common}"
                          f"Host vnt-plain\n    User {account}\n{plain}")
        yield FleetHost(comp, config, account, no_sudo, run_as, script, python, sudoers)


def _as(account: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `account` (what its login could run), from / with a plain environment."""
    return subprocess.run(["runuser", "-u", account, "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                           "LANG=C.UTF-8", *argv], capture_output=True, text=True, cwd="/", timeout=timeout)


def _tun(snapshot: dict[str, object], name: str) -> dict[str, object]:
    links = snapshot["links"]
    assert isinstance(links, list)
    (link,) = [ln for ln in links if ln["name"] == name]
    tun = link["tun"]
    assert isinstance(tun, dict)
    return tun


def test_fleet_dump_through_sudo_sees_what_root_sees(fleet_host: FleetHost, kit: KernelKit,
                                                     tmp_path: Path) -> None:
    held = kit.name("sh")
    holder, fds = start_holder(kit, held)  # a tap held by a root process
    # The fleet account on its own: the holder is another user's process, so it is unknown, not "none".
    alone = _as(fleet_host.account, str(fleet_host.python), "-I", "-m", "vnettop", "dump", "--format", "json",
                "--read-only")
    assert alone.returncode == 0, alone.stderr
    assert _tun(json.loads(alone.stdout), held)["holders"] is None
    out = tmp_path / "fleet.jsonl"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vnettop", "fleet", "dump", "--ssh-config", str(fleet_host.config),
                           "--remote-command", "sudo -n vnettop dump --format json --read-only", "--timeout", "60",
                           "vnt-sudo", "vnt-nosudo", "-o", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert time.monotonic() - start < 30  # the refused host answered at once, it did not sit out its 60 s
    assert done.returncode == 1
    assert done.stderr == "vnettop: 1 of 2 hosts failed (vnt-nosudo)\n"
    entries, notes = read_fleet(str(out))
    assert notes == [] and [(e.host, e.ok) for e in entries] == [("vnt-sudo", True), ("vnt-nosudo", False)]
    # Through sudo and the script: the root process holding the tap is named, with its fds.
    obj = json.loads(out.read_text().splitlines()[0])
    holders = _tun(obj["snapshot"], held)["holders"]
    assert isinstance(holders, list)
    assert [(h["pid"], tuple(h["fds"])) for h in holders] == [(holder, fds)]
    snap = entries[0].snapshot()
    assert any(link.name == held for link in snap.links)
    # Without a sudoers entry: one line, sudo's own reason, no hang and no password prompt.
    assert entries[1].error == "remote command exited 1: sudo: a password is required"


def test_the_client_cannot_choose_the_command(fleet_host: FleetHost) -> None:
    """The forced command runs whatever the client asks: asking for `lab up` or a shell gets the dump."""
    for asked in ("sudo -n vnettop lab up", "id"):
        proc = run(["ssh", "-F", str(fleet_host.config), "vnt-sudo", asked], check=False, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["schema"].startswith("vnettop")


def test_the_sudo_rule_allows_nothing_else(fleet_host: FleetHost) -> None:
    script = str(fleet_host.script)
    listed = _as(fleet_host.account, "sudo", "-n", "-l", script)
    assert listed.returncode == 0 and listed.stdout.strip() == script, listed.stdout + listed.stderr
    # A wrapper that would run this checkout's vnettop as root, if sudo let it.
    vnettop = fleet_host.comp.dir / "vnettop"
    vnettop.write_text(f'#!/bin/sh\nexec {fleet_host.python} -I -m vnettop "$@"\n')
    os.chmod(vnettop, 0o755)
    for argv in ([str(vnettop), "lab", "up"], [str(vnettop), "dump"], [script, "--help"], ["/usr/bin/id"],
                 ["-u", fleet_host.run_as, script]):
        refused = _as(fleet_host.account, "sudo", "-n", *argv)
        assert refused.returncode == 1, (argv, refused.stdout, refused.stderr)
        assert refused.stderr == "sudo: a password is required\n", (argv, refused.stderr)
        assert refused.stdout == ""
        assert _as(fleet_host.account, "sudo", "-n", "-l", *argv).returncode == 1, argv
    # The other login account is not in sudoers at all.
    assert _as(fleet_host.no_sudo, "sudo", "-n", "-l", script).returncode == 1


def test_remote_command_through_sudo_without_a_forced_command(fleet_host: FleetHost, tmp_path: Path) -> None:
    """Where the key forces nothing, `--remote-command 'sudo -n SCRIPT'` is what runs: the same rule lets it,
    and the same rule refuses the default `vnettop dump` (not the allowed command) with a one-line reason."""
    out = tmp_path / "fleet.jsonl"
    done = subprocess.run([sys.executable, "-m", "vnettop", "fleet", "dump", "--ssh-config", str(fleet_host.config),
                           "--remote-command", f"sudo -n {fleet_host.script}", "vnt-plain", "-o", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    (entry,), _notes = read_fleet(str(out))
    assert entry.ok and entry.snapshot().host.hostname
    done = subprocess.run([sys.executable, "-m", "vnettop", "fleet", "dump", "--ssh-config", str(fleet_host.config),
                           "--remote-command", "sudo -n vnettop dump --format json --read-only", "vnt-plain",
                           "-o", str(out)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1
    (entry,), _notes = read_fleet(str(out))
    assert entry.error == "remote command exited 1: sudo: a password is required"
