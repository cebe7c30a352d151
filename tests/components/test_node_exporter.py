"""node_exporter's textfile collector and promtool, fed with metrics about what vnettop sees."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.components.base import REPO
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


def test_vnettop_export_is_scraped_with_its_families(node_exporter: NodeExporter) -> None:
    """`vnettop export` writes where node_exporter reads; every vnettop family is served, lint-clean."""
    done = subprocess.run([sys.executable, "-m", "vnettop", "export", "--read-only",
                           "--textfile-dir", str(node_exporter.textfile_dir)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    written = (node_exporter.textfile_dir / "vnettop.prom").read_text()
    families = {ln.split()[2] for ln in written.splitlines() if ln.startswith("# TYPE ")}
    sampled = {ln.split("{")[0].split(" ")[0] for ln in written.splitlines() if not ln.startswith("#")}
    assert {"vnettop_link_info", "vnettop_orphans", "vnettop_links", "vnettop_namespace_info",
            "vnettop_collect_duration_seconds"} <= families
    metrics = node_exporter.metrics()
    assert "node_textfile_scrape_error 0" in metrics
    for family in sampled:  # node_exporter serves every family that has a sample (it drops empty ones)
        assert f"# TYPE {family} gauge" in metrics, family
    assert 'vnettop_link_info{' in metrics and 'device="lo"' in metrics
    lint = subprocess.run([node_exporter.promtool, "check", "metrics"], input=written, capture_output=True,
                          text=True)
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


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
