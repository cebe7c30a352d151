"""Other sources of truth on the same host, beside the kernel: the seam every one of them plugs into.

The kernel picture is true but speaks in ifindexes, inodes and pids; a source adds what the operator
calls things (owners now; OVSDB next). Each source is a small object (`Source`) made with a root path
(`/` live; a fixture tree under tmp_path in tests) and asked, after the kernel picture is built, for its
`Enrichment`: its own typed section plus its errors, each tagged with its name. It never changes the
kernel picture, and it points at kernel objects only by key.

Adding a source = one module here + one line in `registry.SOURCES` + its fixtures + its tests; the
contract test (tests/pure/test_sources_contract.py) runs over every registered source. This package
never imports the kernel readers (an import-linter contract holds it to that): a source reads its own
files or sockets, and what it needs of the kernel comes in the base Snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vnettop.model import SOURCE_SCOPE, CollectError, Owner, Snapshot


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What one source adds to a snapshot: a section's entries (None: nothing of that kind) and errors.

    A field per section kind (`owners` now, `ovs` next), so a source's answer is typed, and the merge
    (`enrich.apply`) knows how to join several sources' parts of the same section.
    """

    owners: tuple[Owner, ...] | None = None
    errors: tuple[CollectError, ...] = ()


class Source(Protocol):
    """One source of facts about the kernel picture (see the package docstring)."""

    #: Short and stable: used in errors' scope ("source neutron_names") and in `details.also`.
    name: str

    def available(self) -> bool:
        """Cheap: does its directory or socket exist? An unavailable source is not asked."""
        ...

    def read(self, base: Snapshot) -> Enrichment:
        """Its section for `base` (the kernel picture). Never raises: what fails goes in `errors`."""
        ...

    def fileno(self) -> int | None:
        """An fd the live loop can poll (inotify, a monitor socket): readable when its facts changed;
        `read` consumes what made it readable.
        None: the source is re-read when the kernel picture changes, or after `period` seconds."""
        ...

    def close(self) -> None:
        """Release its fds."""
        ...


def scope(source_name: str) -> str:
    """The `CollectError.scope` of a source's errors."""
    return f"{SOURCE_SCOPE}{source_name}"
