"""A private OpenSSH sshd on 127.0.0.1:PORT with throwaway keys and a private ssh_config of host aliases.

Nothing of the host's ssh setup is used: a fresh host key, client keys made per session, a private
`sshd_config` (MaxStartups raised: the default drops some of 20 parallel logins) and a private
`ssh_config` whose aliases are what fleet tests need:
- `vnt-ok`: a key whose authorized_keys line is `restrict,command="vnettop --read-only dump -f json"`,
  the least-privilege pattern: whatever the client asks, that command runs;
- `vnt-garbage`: a key forced to print something that is not a snapshot;
- `vnt-slow`: a key forced to sleep (past any sensible per-host timeout);
- `vnt-closed`: 127.0.0.1 on a port nothing listens on.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.base import (
    REPO,
    Component,
    component,
    free_port,
    kill_pid,
    kill_tree,
    need_binary,
    poll_until,
    run,
)

SLOW_SECONDS = 30


@dataclass
class Sshd:
    comp: Component
    port: int
    pid: int
    config: Path  # the private ssh_config: `ssh -F config ALIAS`
    vnettop_command: str  # what `vnt-ok` is forced to run

    def ssh(self, alias: str, *remote: str, timeout: float = 30) -> tuple[int, str, str]:
        proc = run(["ssh", "-F", str(self.config), alias, *remote], check=False, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _kill_listed(path: Path) -> None:
    try:
        pids = [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return
    for p in pids:
        kill_pid(p)


def _serve(comp: Component, sshd: str, users: list[str], authorized_keys: str,
           strict_modes: bool) -> tuple[int, int]:
    """Write the private sshd_config (host key `host_key` in the component's dir), start sshd on a free
    127.0.0.1 port and wait for its banner: the port and sshd's pid."""
    d = comp.dir
    port = free_port()
    (d / "sshd_config").write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {authorized_keys}
AllowUsers {' '.join(users)}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes {'yes' if strict_modes else 'no'}
MaxStartups 200:30:400
MaxSessions 200
LogLevel ERROR
""")
    if os.geteuid() == 0:
        comp.record_path("/run/sshd")  # root sshd insists on this privilege-separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    run([sshd, "-t", "-f", str(d / "sshd_config")])
    comp.spawn([sshd, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])
    pid = comp.wait_pidfile(d / "sshd.pid")
    comp.on_close(lambda: kill_tree(pid))  # live login sessions go before sshd does
    poll_until(lambda: _banner(port), timeout=10)
    return port, pid


def start_sshd(comp: Component) -> Sshd:
    sshd = need_binary("sshd", "openssh-server")
    need_binary("ssh", "openssh-client")
    need_binary("ssh-keygen", "openssh-client")
    d = comp.dir
    user = getpass.getuser()
    keys = {}
    for k in ("host", "ok", "garbage", "slow"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vnt-{k}", "-f", str(d / f"{k}_key")])
        keys[k] = (d / f"{k}_key.pub").read_text().strip()
    vnettop = f"cd {shlex.quote(str(REPO))} && exec {shlex.quote(sys.executable)} -m vnettop --read-only dump -f json"
    forced = {"ok": vnettop, "garbage": "echo 'this is not a snapshot {'", "slow": f"echo $$ >> {d / 'slow.pids'}; exec sleep {SLOW_SECONDS}"}
    (d / "authorized_keys").write_text("".join(
        f'restrict,command="{cmd}" {keys[k]}\n' for k, cmd in forced.items()))
    os.chmod(d / "authorized_keys", 0o600)
    port, pid = _serve(comp, sshd, [user], str(d / "authorized_keys"), strict_modes=False)
    comp.on_close(lambda: _kill_listed(d / "slow.pids"))  # a `vnt-slow` sleep outlives its client
    closed = free_port()
    common = (f"    User {user}\n    UserKnownHostsFile {d / 'known_hosts'}\n    StrictHostKeyChecking no\n"
              f"    BatchMode yes\n    IdentitiesOnly yes\n    LogLevel ERROR\n    ConnectTimeout 5\n")
    (d / "ssh_config").write_text("".join(
        f"Host vnt-{k}\n    HostName 127.0.0.1\n    Port {port}\n    IdentityFile {d / f'{k}_key'}\n{common}"
        for k in forced) + f"Host vnt-closed\n    HostName 127.0.0.1\n    Port {closed}\n{common}")
    return Sshd(comp, port, pid, d / "ssh_config", vnettop)


def start_accounts_sshd(comp: Component, users: list[str]) -> tuple[int, Path]:
    """An sshd that lets in only `users`, each with its own `~/.ssh/authorized_keys` (StrictModes on, as
    on a real host), and a client key `client_key` (its `.pub` for those files): the port and the key."""
    sshd = need_binary("sshd", "openssh-server")
    need_binary("ssh", "openssh-client")
    need_binary("ssh-keygen", "openssh-client")
    for k in ("host", "client"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vnt-{k}", "-f", str(comp.dir / f"{k}_key")])
    port, _pid = _serve(comp, sshd, users, ".ssh/authorized_keys", strict_modes=True)
    return port, comp.dir / "client_key"


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    with component("sshd", root=False) as comp:
        yield start_sshd(comp)


__all__ = ["SLOW_SECONDS", "Sshd", "sshd", "start_accounts_sshd", "start_sshd"]
