"""The README's first commands are what a newcomer runs, and CI runs the same test command."""

from __future__ import annotations

from pathlib import Path

TOP = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    lines = (TOP / "README.md").read_text().splitlines()
    start = lines.index("```sh") + 1
    end = lines.index("```", start)
    return [line.split("#")[0].strip() for line in lines[start:end] if line.strip()]


def test_readme_opens_with_install_and_test_commands() -> None:
    lines = (TOP / "README.md").read_text().splitlines()
    assert lines[0] == "# vnettop"
    assert lines[2] == "```sh", "the two commands come first"
    install, tests = _readme_commands()
    assert "pip install" in install and "vnettop" in install.split("&&")[-1]
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (TOP / ".ci" / "run").read_text()
    _, tests = _readme_commands()
    for part in (p.strip() for p in tests.split("&&")):
        assert part in ci, f"CI does not run {part!r} from the README"
