"""The only code that reads the kernel: namespaces, rtnetlink in each of them, and /proc; then the
other sources of truth on the host.

Importing this package is cheap and imports neither pyroute2 nor Textual; the live collector lives in
`vnettop.collect.collector` and is imported only by whoever needs it.

Where a line belongs (the wire itself -- libc, setns, netlink framing -- is `vnettop.linux`):
- `collector`: one collect, start to end (discover, scan /proc, read each namespace, resolve, join,
  ask the sources); `static`: a fixed snapshot; `types`: the records passed between the parts.
- namespaces and rtnetlink: `namespaces` (discovery), `nspool` (sockets kept per namespace), `events`
  (change notifications), `dump` (one namespace's devices, addresses, FDBs), `rtnl_parser` (bytes ->
  attribute values), `decode` (attribute values -> records; pyroute2's decoding, the reference),
  `counters` (per-tick RTM_GETSTATS), `refs` (cross-namespace joins through nsids).
- /proc: `processes` (the incremental scan), `rota` (which processes to look at this tick), `pidlist`
  (the pids, listed only when a task came or went), `procfs` (small reads), `procfacts` (names, command
  lines, users), `tunfd` (which device a tun fd is on), `sockets` (listeners, on sock_diag sockets kept
  per namespace), `holders` (tun fds -> devices).
- `sources/`: everything that is not the kernel (who owns what), one module each, behind one seam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # (a one-shot command forks its helper before the model is imported: `scan_ahead`)
    from vnettop.model import Snapshot


class Collector(Protocol):
    """What the UI and the CLI need from a source of snapshots (live, loaded from a file, or fake)."""

    def collect(self) -> Snapshot:
        """Return a complete, fresh Snapshot. Never raises for partial failures: they go in `errors`."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a kernel event (link added, removed, moved, up/down).

        Returns True as soon as something changed, False on timeout. A static source just sleeps
        (interruptibly) and returns False. Called from a thread worker, never from the event loop.
        """
        ...

    def close(self) -> None:
        """Release sockets and threads."""
        ...
