"""`vnettop record` against the real kernel: a scripted sequence of changes, each rebuilt from the
recording and compared with the live picture.

What is compared, honestly: after each step the test waits (polls) until the recording, rebuilt at its
latest change line, equals a snapshot the test takes itself with the live collector — restricted to this
test's objects (other tests may run at the same time), without counters and pids (sampled by design).
Nothing of ours changes between the step and that comparison, so the live snapshot is the picture at
that recorded moment. At the end, every recorded moment is rebuilt again (after a SIGHUP started a
second file, and after SIGTERM ended the run) and compared with the picture saved for it; and the
moments are read back by `vnettop dump --load REC --at T` after every object is gone from the kernel,
so they can only come from the file (the offline case: a recording browsed on another host).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kernelkit import KernelKit, poll_until
from tests.tunholder import start_holder
from vnettop.collect.collector import LiveCollector
from vnettop.record.reader import Recording, RecordingError
from vnettop.record.timefmt import short
from vnettop.render.json import snapshot_to_dict

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]


def ours(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    """This test's devices, namespaces and owners in a snapshot object, counters and pids left out (an
    owner's `parent` too: an index into the whole host's owners, which other tests' change)."""
    nss = [{k: v for k, v in n.items() if k != "pids"} for n in doc["namespaces"]
           if any(name.startswith(prefix) for name in n["names"])]
    inodes = {n["inode"] for n in nss}
    links = [{k: v for k, v in x.items() if k != "stats"} for x in doc["links"]
             if x["name"].startswith(prefix) or (x["netns"] in inodes)]
    owners = [{k: v for k, v in o.items() if k not in ("pids", "parent")} for o in doc.get("owners") or ()
              if o["name"].startswith(prefix)]
    return {"namespaces": nss, "links": links, "owners": owners}


def unit_cgroup(unit: str) -> Path:
    """Where a process is put to be in systemd unit `unit` as /proc/PID/cgroup says it: the named
    `systemd` v1 hierarchy when the host has one, else the unified (v2) one."""
    base = Path("/sys/fs/cgroup/systemd")
    if not (base / "cgroup.procs").exists():
        base = Path("/sys/fs/cgroup")
    return base / "system.slice" / unit


def test_recorded_moments_equal_the_live_pictures(kit: KernelKit, tmp_path: Path) -> None:
    prefix = f"vnt{kit.tag}"
    rec_path = tmp_path / "rec.jsonl"
    recorder = subprocess.Popen([sys.executable, "-m", "vnettop", "record", "-o", str(rec_path), "--interval",
                                 "0.2"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    kit.procs.append(recorder)  # killed at cleanup if the test fails before it is stopped
    collector = LiveCollector()
    moments: list[tuple[str, Any, dict[str, Any]]] = []  # (step, time, our live picture)
    try:
        poll_until(lambda: rec_path.exists() and rec_path.stat().st_size > 0, timeout=15)

        def step(what: str) -> None:
            """Wait until the recording's latest change shows what the kernel shows now; keep both."""
            last: list[Any] = [None, None]

            def recorded() -> bool:
                live = ours(snapshot_to_dict(collector.collect()), prefix)
                try:
                    with Recording.open(str(rec_path)) as rec:
                        times = rec.change_times()
                        if not times:
                            return False
                        from vnettop.record.timefmt import parse_stamp

                        t = parse_stamp(times[-1])
                        got = ours(snapshot_to_dict(rec.snapshot_at(t)), prefix)
                except RecordingError:
                    return False
                last[:] = [t, got]
                return got == live and (not moments or t > moments[-1][1])

            try:
                poll_until(recorded, timeout=15, interval=0.1)
            except AssertionError:
                raise AssertionError(f"{what}: the recording never showed the live picture; "
                                     f"last rebuilt: {last[1]}") from None
            moments.append((what, last[0], last[1]))

        a, b = kit.veth(kit.name("a"), kit.name("b"))
        step("veth pair created")
        br = kit.bridge(kit.name("br"))
        kit.ip("link", "set", a, "master", br)
        kit.ip("link", "set", br, "up")
        kit.ip("link", "set", a, "up")
        step("bridge with a port")
        ns = kit.netns("n")
        kit.ip("link", "set", b, "netns", ns)
        step("veth end moved into a namespace")
        kit.ip("addr", "add", "10.213.7.1/24", "dev", b, netns=ns)
        kit.ip("link", "set", b, "up", netns=ns)
        step("address and up in the namespace")
        # An owner: a process of a systemd unit (by its cgroup) comes into the namespace and goes again.
        unit = unit_cgroup(f"{prefix}svc.service")
        unit.mkdir(parents=True)
        try:
            svc = subprocess.Popen(["sh", "-c", f'echo $$ > "{unit}/cgroup.procs" && '
                                    f'exec ip netns exec {ns} sleep 600'], start_new_session=True)
            kit.procs.append(svc)
            step("a service's process in the namespace: its owner")
            assert [o["name"] for o in moments[-1][2]["owners"]] == [f"{prefix}svc.service"], moments[-1][2]
            os.killpg(svc.pid, signal.SIGKILL)
            svc.wait(timeout=10)
            step("the service's process gone: no owner")
            assert moments[-1][2]["owners"] == []
        finally:
            for proc in kit.procs:
                if proc.poll() is None and proc.args[0] == "sh":
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            unit.rmdir()
        recorder.send_signal(signal.SIGHUP)  # a new file now; the recording goes on across both
        poll_until(lambda: Path(f"{rec_path}.1").exists(), timeout=10)
        tap = kit.name("t")
        holder, _fds = start_holder(kit, tap)
        kit.link(tap)
        kit.ip("link", "set", tap, "master", br)
        step("tap held by a process, on the bridge")
        os.kill(holder, signal.SIGKILL)
        step("holder gone (its tap with it)")
        kit.ip("link", "del", a)
        step("veth deleted")
        kit.ip("link", "del", br)
        step("bridge deleted")
    finally:
        collector.close()
        recorder.send_signal(signal.SIGTERM)
        try:
            _out, err = recorder.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            recorder.kill()
            raise
    assert recorder.returncode == 0, err.decode()
    assert [json.loads(x)["type"] for x in rec_path.read_text().splitlines()][-1] == "end"

    with Recording.open(str(rec_path)) as rec:
        assert rec.notes == [] and len(rec.files) == 2
        for what, t, picture in moments:
            assert ours(snapshot_to_dict(rec.snapshot_at(t)), prefix) == picture, what
    assert any(x["tun"] and x["tun"]["holders"] for m in moments for x in m[2]["links"])  # a holder was seen
    assert any(m[2]["owners"] for m in moments)  # an owner was seen

    kit.cleanup()  # every object gone from the kernel: what follows can only come from the file
    for what, t, picture in moments:
        dump = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--load", str(rec_path), "--at", short(t),
                               "-f", "json"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0, dump.stderr
        assert ours(json.loads(dump.stdout), prefix) == picture, what
