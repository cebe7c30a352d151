"""How kernel events of one change are spread in time: what the TUI's settle delay must cover.

After a kernel event the TUI waits a moment (ui/pacing.py, EVENT_SETTLE) before collecting, so that the
events trailing the first one (a veth pair sends several) are taken by the same collection rather than
waking a second one. This measures, with the live collector's own event wait (`wait_for_change`, as
the TUI uses it) in two namespaces of our own, when each wake-up comes after the first one for the
changes an operator or an orchestrator makes, and says for each settle delay how many of the changes
would have been taken whole by one collection (no wake-up later than the delay).

    python3 benchmarks/event_bursts.py [--rounds 20]        # as root; removes what it made

Machine noted in the output; other people's changes on the host show as extra wake-ups (the
namespaces of the host are not watched for this unless pooled: only ours are changed here).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vnettop.collect.collector import LiveCollector

SETTLES = (0.005, 0.010, 0.015, 0.020, 0.030, 0.050)
#: How long after the first wake-up later ones still count as the same change.
TAIL = 0.5


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


Scenario = tuple[str, list[list[str]], list[list[str]], list[list[str]]]


def scenarios(ns: str, ns2: str, tag: str) -> list[Scenario]:
    """(name, commands before (not measured), the commands of the change, the commands that undo both),
    each command an `ip` argv."""
    a, b = f"vnteb{tag}a", f"vnteb{tag}b"
    return [
        ("bridge added (ip link add type bridge)",
         [], [["-n", ns, "link", "add", a, "type", "bridge"]], [["-n", ns, "link", "del", a]]),
        ("bridge removed", [["-n", ns, "link", "add", a, "type", "bridge"]], [["-n", ns, "link", "del", a]], []),
        ("veth pair added in one namespace",
         [], [["-n", ns, "link", "add", a, "type", "veth", "peer", "name", b]], [["-n", ns, "link", "del", a]]),
        ("veth pair across two namespaces",
         [], [["-n", ns, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns2]],
         [["-n", ns, "link", "del", a]]),
        ("container-style plumbing (5 ip commands)",
         [], [["-n", ns, "link", "add", a, "type", "veth", "peer", "name", b],
          ["-n", ns, "link", "set", b, "netns", ns2],
          ["-n", ns, "link", "set", a, "up"],
          ["-n", ns2, "addr", "add", "10.99.0.2/24", "dev", b],
          ["-n", ns2, "link", "set", b, "up"]],
         [["-n", ns, "link", "del", a]]),
    ]


def waits(collector: LiveCollector) -> list[float]:
    """Wake-ups (monotonic seconds) from the first until TAIL passes with none."""
    out: list[float] = []
    if not collector.wait_for_change(2.0):
        return out
    out.append(time.monotonic())
    while collector.wait_for_change(max(0.0, out[-1] + TAIL - time.monotonic())):
        out.append(time.monotonic())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("event_bursts needs root (it makes namespaces)", file=sys.stderr)
        return 1
    tag = secrets.token_hex(2)
    ns, ns2 = f"vnteb{tag}n0", f"vnteb{tag}n1"
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, kernel {platform.release()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    collector = LiveCollector()
    try:
        ip("netns", "add", ns)
        ip("netns", "add", ns2)
        collector.collect()  # pools our namespaces: their events now wake the wait
        rows: list[tuple[str, list[list[float]]]] = []
        for name, setup, do, undo in scenarios(ns, ns2, tag):
            spreads: list[list[float]] = []
            for _ in range(args.rounds):
                for argv in setup:
                    ip(*argv)
                collector.collect()
                while collector.wait_for_change(0.05):  # leftovers of the last round
                    collector.collect()
                # The change runs beside the wait, as it would beside the TUI.
                runner = threading.Thread(target=lambda cmds=do: [ip(*argv) for argv in cmds])
                runner.start()
                got = waits(collector)
                runner.join()
                spreads.append([(t - got[0]) * 1000 for t in got[1:]] if got else [float("nan")])
                for argv in undo:
                    ip(*argv)
                if name.startswith("container"):
                    subprocess.run(["ip", "-n", ns2, "link", "del", f"vnteb{tag}b"], capture_output=True)
                collector.collect()
                waits(collector)  # the undo's own events
            rows.append((name, spreads))
        print(f"\nwake-ups of the TUI's event wait after the first one, per change ({args.rounds} rounds each;"
              f" later than {TAIL * 1000:.0f} ms: another change)")
        for name, spreads in rows:
            later = sorted(x for s in spreads for x in s)
            counts = [len(s) for s in spreads]
            print(f"  {name}: later wake-ups per change median {statistics.median(counts):.0f}, "
                  f"max {max(counts)}; their delays (ms): "
                  + (", ".join(f"{x:.1f}" for x in later[:12]) + (" ..." if len(later) > 12 else "")
                     if later else "none"))
            whole = "  ".join(f"{s * 1000:.0f} ms: {sum(all(x <= s * 1000 for x in sp) for sp in spreads)}"
                              f"/{len(spreads)}" for s in SETTLES)
            print(f"    taken whole by one collection with a settle delay of  {whole}")
    finally:
        collector.close()
        for name in (ns, ns2):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
