"""The live TUI over the real kernel, in a real terminal (tmux): a device added in a namespace, then
removed, is on screen within seconds though the interval is a minute. Only a kernel event can have
started those collections, and in a live view such a collection asks only the namespaces that reported
something (`LiveCollector.collect_changes`): this is the path from the kernel's notification to the
screen, end to end, with the real collector.

Filtered on this test's prefix, so only its own namespace and devices are on screen whatever else the
host has. Needs root (namespaces) and tmux (CI installs it).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.kernelkit import KernelKit, poll_until
from tests.tmuxkit import Tmux

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_a_kernel_change_is_on_screen_without_waiting_for_the_interval(kit: KernelKit, tmp_path: Path) -> None:
    ns = kit.netns("te")
    bridge = kit.name("teb")
    status = tmp_path / "status"
    tmux = Tmux()
    try:
        vnettop = f"{shlex.quote(sys.executable)} -m vnettop --read-only --interval 60"
        script = f"cd {shlex.quote(str(REPO))} && {vnettop}; echo $? > {shlex.quote(str(status))}; sleep 60"
        tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)
        poll_until(lambda: "q Quit" in tmux.screen(), timeout=30, interval=0.1)
        tmux("send-keys", "-t", "t", "/")
        tmux("send-keys", "-t", "t", "-l", f"vnt{kit.tag}")
        tmux("send-keys", "-t", "t", "Enter")
        # The namespace on screen: a collection that began after it was made has been drawn, so the
        # device below cannot come from that one.
        poll_until(lambda: ns in tmux.screen(), timeout=30, interval=0.1)
        assert bridge not in tmux.screen()

        kit.ip("link", "add", bridge, "type", "bridge", netns=ns)
        poll_until(lambda: bridge in tmux.screen(), timeout=10, interval=0.05)
        kit.ip("link", "del", bridge, netns=ns)
        poll_until(lambda: bridge not in tmux.screen(), timeout=10, interval=0.05)

        assert "collection failed" not in tmux.screen()
        tmux("send-keys", "-t", "t", "q")
        assert poll_until(lambda: status.exists() and status.read_text().strip(), timeout=15) == "0"
    finally:
        tmux.kill()
