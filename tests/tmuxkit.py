"""A tmux server of a test's own, for tests that drive vnettop in a real terminal (send-keys, capture-pane)."""

from __future__ import annotations

import os
import secrets
import subprocess


def socket_file(name: str) -> str:
    """Where the tmux server `-L name` keeps its socket (tmux(1): in $TMUX_TMPDIR or /tmp, `tmux-UID`)."""
    return os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)


def kill_server(name: str, tmux: str = "tmux") -> None:
    """Kill the tmux server `-L name` and remove its socket file, which tmux leaves behind when killed."""
    subprocess.run([tmux, "-L", name, "kill-server"], capture_output=True, timeout=30)
    try:
        os.unlink(socket_file(name))
    except FileNotFoundError:
        pass


class Tmux:
    """One tmux server of this test's own (`-L`), so no other session is touched; killed at the end."""

    def __init__(self) -> None:
        self.socket = f"vnt-test-{secrets.token_hex(4)}"

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "t")

    def kill(self) -> None:
        kill_server(self.socket)
