"""prometheus-node-exporter on 127.0.0.1:PORT serving only its textfile collector, and promtool.

Only the textfile collector is on (`--collector.disable-defaults`): that is the seam a cron job or
systemd timer writing `*.prom` files uses, and it keeps the scrape small and independent of the host.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.base import Component, component, free_port, need_binary, poll_until


@dataclass
class NodeExporter:
    comp: Component
    url: str  # http://127.0.0.1:PORT/metrics
    textfile_dir: Path
    promtool: str

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            return str(resp.read().decode())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_node_exporter(comp: Component) -> NodeExporter:
    exporter = need_binary("prometheus-node-exporter", "prometheus-node-exporter")
    promtool = need_binary("promtool", "prometheus")
    textfiles = comp.dir / "textfile"
    textfiles.mkdir()
    port = free_port()
    comp.spawn([exporter, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                "--collector.textfile", f"--collector.textfile.directory={textfiles}"], log="node_exporter.log")
    url = f"http://127.0.0.1:{port}/metrics"
    poll_until(lambda: _answers(url), timeout=10)
    return NodeExporter(comp, url, textfiles, promtool)


@pytest.fixture(scope="session")
def node_exporter() -> Iterator[NodeExporter]:
    with component("node-exporter", root=False) as comp:
        yield start_node_exporter(comp)


__all__ = ["NodeExporter", "node_exporter", "start_node_exporter"]
