"""node_exporter's textfile collector and promtool, fed with metrics about what vnettop sees."""

from __future__ import annotations

import os
import subprocess

from tests.components.node_exporter import NodeExporter
from tests.components.snap import collect


def _exposition() -> str:
    """A small exposition of vnettop's live picture (counts by device kind), as an exporter would write."""
    snap = collect()
    kinds: dict[str, int] = {}
    for link in snap.links:
        kinds[link.kind] = kinds.get(link.kind, 0) + 1
    lines = ["# HELP vnt_test_links Devices vnettop sees, by kind.", "# TYPE vnt_test_links gauge"]
    lines += [f'vnt_test_links{{kind="{k}"}} {n}' for k, n in sorted(kinds.items())]
    lines += ["# HELP vnt_test_namespaces Network namespaces vnettop sees.", "# TYPE vnt_test_namespaces gauge",
              f"vnt_test_namespaces {len(snap.namespaces)}"]
    return "\n".join(lines) + "\n"


def test_textfile_shows_up_in_metrics_and_lints_clean(node_exporter: NodeExporter) -> None:
    text = _exposition()
    tmp = node_exporter.textfile_dir / ".vnt_test.prom.tmp"
    tmp.write_text(text)
    os.replace(tmp, node_exporter.textfile_dir / "vnt_test.prom")  # atomic, as an exporter must write
    metrics = node_exporter.metrics()
    assert 'vnt_test_links{kind="loopback"}' in metrics
    assert "node_textfile_scrape_error 0" in metrics
    lint = subprocess.run([node_exporter.promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_promtool_catches_a_lint_problem(node_exporter: NodeExporter) -> None:
    bad = "vnt_test_untyped 1\n"  # no HELP/TYPE: the lint must complain (exit 3)
    lint = subprocess.run([node_exporter.promtool, "check", "metrics"], input=bad, capture_output=True, text=True)
    assert lint.returncode == 3, (lint.returncode, lint.stdout, lint.stderr)
