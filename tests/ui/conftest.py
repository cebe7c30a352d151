"""Run `async def` tests (Textual pilots) with asyncio.run: no async plugin is installed, none needed.
And `tmux`: a private tmux server for the tests that drive vnettop in a real terminal."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import Iterator

import pytest

from tests.tmuxkit import Tmux


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()
