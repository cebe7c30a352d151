"""The README's first commands are what a newcomer runs on a stock Debian / Ubuntu, and CI runs the same.

Debian's and Ubuntu's Python refuse `pip install` outside a virtual environment
(`externally-managed-environment`), and `sudo vnettop` does not find a script inside one: the commands
must make a venv, install with its pip, and run its scripts by path. CI builds the same venv and runs the
README's test command word for word (as root, so the real-kernel tier runs too).
"""

from __future__ import annotations

from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
VENV = "python3 -m venv .venv"


def _readme_commands() -> list[str]:
    lines = (TOP / "README.md").read_text().splitlines()
    start = lines.index("```sh") + 1
    end = lines.index("```", start)
    return [line.split("#")[0].strip() for line in lines[start:end] if line.strip()]


def _parts(command: str) -> list[str]:
    return [p.strip() for p in command.split("&&")]


def test_readme_opens_with_install_and_test_commands() -> None:
    lines = (TOP / "README.md").read_text().splitlines()
    assert lines[0] == "# vnettop"
    assert lines[2] == "```sh", "the two commands come first"
    install, tests = _readme_commands()
    parts = _parts(install)
    assert "apt-get install -y python3-venv" in install, "stock Debian has no ensurepip without python3-venv"
    assert VENV in parts and parts.index(VENV) < parts.index(".venv/bin/pip install .")
    assert parts[-1] == ".venv/bin/vnettop --demo"
    assert "pytest" in tests
    for command in (install, tests):
        for part in _parts(command):
            if "pip" in part.split():
                raise AssertionError(f"{part!r}: a bare pip is the system's, which Debian refuses")
            if "pip install" in part:
                assert part.startswith(".venv/bin/pip install"), part


def test_readme_runs_the_venv_scripts_by_path_under_sudo() -> None:
    text = (TOP / "README.md").read_text()
    assert "sudo vnettop" not in text, "sudo does not look in .venv/bin"
    assert "sudo .venv/bin/vnettop" in text and "sudo .venv/bin/python -m pytest" in text


def test_readme_names_the_article_of_the_demo() -> None:
    text = (TOP / "README.md").read_text()
    assert "opengers" in text and "2017" in text


def test_ci_runs_the_readme_test_command() -> None:
    ci = (TOP / ".ci" / "run").read_text()
    _, tests = _readme_commands()
    ci_lines = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert VENV in ci_lines, "CI builds the README's venv"
    for part in _parts(tests):
        assert any(line.startswith(part) for line in ci_lines), f"CI does not run {part!r} from the README"
