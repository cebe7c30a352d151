"""`vnettop record`: a read-only flight recorder of the plumbing.

It collects when the kernel reports a change (at most once per --interval) and every --full-every seconds
otherwise (see `run_live`), compares the snapshot with the last one it wrote (`delta.diff_docs`) and
writes a `change` line only when something an operator would care about changed. Counters and pids are
not written per tick: a `sample` line every `sample_every` seconds holds those that moved. An `alive`
line every `alive_every` seconds on a quiet host says the recorder was there (so "nothing changed" is
told apart from "nobody was looking"). A `keyframe` (the whole snapshot) is written at the start of every
file, after `keyframe_changes` change lines, and every `keyframe_seconds`, which bounds the work of
rebuilding any moment.

It never writes to the kernel: it only uses the live collector's public API (`collect`, `close`, and
`wait_for_change` of the Collector protocol when the collector has it).

Signals: SIGTERM and SIGINT end the run with an `end` line (exit 0); SIGHUP starts a new file now (as
--max-size does; for logrotate-style tools), and the run goes on.

A full disk (or any write error): the file is cut back to its last whole line, the recorder says so on
stderr in one line and exits 1, so the recording stays valid. Under systemd, `Restart=on-failure`
retries later; a new run appends to the same file (nothing is rotated away by the retries), and the
time it was not running is a gap that the reader reports as such.
"""

from __future__ import annotations

import copy
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vnettop import __version__
from vnettop.record import delta
from vnettop.record.format import SCHEMA, encode
from vnettop.record.timefmt import stamp_epoch
from vnettop.record.writer import RecordingFile

JsonObj = dict[str, Any]


class Recorder:
    """Turns a sequence of snapshot objects (with their times) into recording lines.

    Pure apart from the file: the benchmark and the tests feed it synthetic snapshots.
    """

    def __init__(self, out: RecordingFile, interval: float = 1.0, keyframe_changes: int = 3000,
                 keyframe_seconds: float = 24 * 3600.0, sample_every: float = 600.0,
                 alive_every: float = 60.0) -> None:
        self.out = out
        self.interval = interval
        self.keyframe_changes = keyframe_changes
        self.keyframe_seconds = keyframe_seconds
        self.sample_every = sample_every
        self.alive_every = alive_every
        self.last_doc: JsonObj | None = None  # the last snapshot object seen (its state is recorded)
        self._stats: dict[str, Any] = {}  # counters as the reader would rebuild them now
        self._pids: dict[str, Any] = {}
        self._base = 0  # offset of the current keyframe
        self._header_at = 0  # offset of the current run's header
        self._since_keyframe = 0
        self._keyframe_at = 0.0
        self._sample_at = 0.0
        self._written_at = 0.0
        self._last_t = ""
        self.lines = 0
        self.full_every = interval  # the live loop's longest gap between two looks (in the header)

    # -- lines -------------------------------------------------------------------------------

    def _t(self, now: float) -> str:
        t = stamp_epoch(now)
        if t < self._last_t:  # the clock stepped back: times in a file never go backwards
            t = self._last_t
        self._last_t = t
        return t

    def _write(self, t: str, type_: str, body: JsonObj, base: int | None = None) -> int:
        offset = self.out.write(encode(t, type_, base, body))
        self.lines += 1
        return offset

    def _header(self, doc: JsonObj, t: str, continues: bool) -> None:
        self._header_at = self._write(t, "header", {
            "schema": SCHEMA, "host": doc.get("host"), "started_at": t, "continues": continues,
            "interval": self.interval, "full_every": self.full_every, "sample_every": self.sample_every,
            "alive_every": self.alive_every,
            "keyframe_changes": self.keyframe_changes, "keyframe_seconds": self.keyframe_seconds,
            "defaults": delta.DEFAULTS, "stats_fields": list(delta.STATS_FIELDS), "vnettop": __version__,
        })

    def _keyframe(self, doc: JsonObj, t: str, now: float) -> None:
        self._base = self.out.size
        body = {"header": self._header_at, "snapshot": delta.compact_snapshot(doc, delta.DEFAULTS)}
        self._write(t, "keyframe", body, base=self._base)
        self._stats, self._pids = delta.volatile_of(doc)
        self._since_keyframe = 0
        self._keyframe_at = self._sample_at = self._written_at = now

    def start(self, doc: JsonObj, now: float, continues: bool = False) -> None:
        """Begin a run (or a new file): a header, then the whole snapshot."""
        t = self._t(now)
        self._header(doc, t, continues)
        self._keyframe(doc, t, now)
        self.last_doc = doc

    def tick(self, doc: JsonObj, now: float) -> list[JsonObj]:
        """Record one collected snapshot object; return the change items written (maybe none)."""
        assert self.last_doc is not None, "start() first"
        items = delta.diff_docs(self.last_doc, doc)
        t = self._t(now)
        if items:
            self._write(t, "change", {"changes": items}, base=self._base)
            self._since_keyframe += 1
            self._written_at = now
            for item in items:  # what the reader now holds for the new objects' counters and pids
                if item["what"] == "device" and item["op"] in ("added", "moved"):
                    link = next((v for v in doc["links"] if delta.link_key(v) == item["key"]), None)
                    if link is not None:
                        self._stats[item["key"]] = link.get("stats")
                elif item["what"] == "namespace" and item["op"] == "added":
                    self._pids[str(item["key"])] = item["value"].get("pids", [])
        self.last_doc = doc
        if self._since_keyframe >= self.keyframe_changes or now - self._keyframe_at >= self.keyframe_seconds:
            self._keyframe(doc, t, now)
        elif now - self._sample_at >= self.sample_every:
            self.sample(doc, now)
        elif now - self._written_at >= self.alive_every:
            self._write(t, "alive", {}, base=self._base)
            self._written_at = now
        if self.out.full:
            self.new_file(now)
        return items

    def sample(self, doc: JsonObj, now: float) -> None:
        """Write the counters and pids that moved since the last sample (or an `alive` if none did)."""
        stats, pids = delta.volatile_of(doc)
        d_stats = {k: v for k, v in stats.items() if self._stats.get(k) != v}
        d_pids = {k: v for k, v in pids.items() if self._pids.get(k) != v}
        t = self._t(now)
        if d_stats or d_pids:
            written = {k: delta.stats_out(v) for k, v in d_stats.items()}
            self._write(t, "sample", {"stats": written, "pids": d_pids}, base=self._base)
        else:
            self._write(t, "alive", {}, base=self._base)
        self._stats.update(d_stats)
        self._pids.update(d_pids)
        self._sample_at = self._written_at = now

    def new_file(self, now: float) -> None:
        """Close this file with an `end`, rotate, and begin the next file with a header and a keyframe."""
        assert self.last_doc is not None
        t = self._t(now)
        self._write(t, "end", {"reason": "rotated"}, base=self._base)
        self.out.rotate()
        self._header(self.last_doc, t, continues=True)
        self._keyframe(self.last_doc, t, now)

    def stop(self, now: float, reason: str) -> None:
        """End the run with an `end` line (with the counters as they are now)."""
        if self.last_doc is not None:
            self.sample(self.last_doc, now)
            self._write(self._t(now), "end", {"reason": reason}, base=self._base)
        self.out.sync()


# -- the live loop ---------------------------------------------------------------------------------


class _Signal(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, _frame: object) -> None:
    raise _Signal(signum)


@contextmanager
def _signals_held() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_live(path: str, interval: float, max_size: int, keep: int,
             say: Callable[[str], None], duration: float | None = None, full_every: float = 30.0) -> int:
    """Record this host until SIGTERM/SIGINT (or for `duration` seconds); return the exit status.

    When to look: at once (but at most once per `interval`) when the kernel reports a change (the
    collector's `wait_for_change`: devices, addresses, namespaces), and at least every `full_every`
    seconds otherwise, for what has no kernel event (a process that starts or stops listening, pids).
    On a quiet host that is one collection per `full_every`, not one per `interval`: the difference
    between ~5 % and well under 1 % of a core at 200 namespaces (benchmarks/bench_record.py).
    After a look that recorded a change, the next look comes `interval` later whatever the kernel says:
    a change has a tail with no event of its own (the `ip` command that moved a device exits, and the fd
    it held on the namespace goes with it), which would otherwise stay in the recording until the next
    event or `full_every`. Looks go on every `interval` while they find changes.
    """
    from vnettop.collect.collector import LiveCollector
    from vnettop.record.writer import RecordingWriteError
    from vnettop.render.json import snapshot_to_dict

    out = RecordingFile(path, max_size, keep, say=say)
    collector = LiveCollector()
    rec = Recorder(out, interval=interval)
    rec.full_every = max(interval, full_every)
    wait_for_change: Callable[[float], bool] | None = getattr(collector, "wait_for_change", None)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _raise)
    began = time.monotonic()
    stop_at = None if duration is None else began + duration
    reason = "stopped"
    last = began
    changed = False  # the last look recorded a change: look again after `interval` (see above)
    try:
        while True:
            try:
                if rec.last_doc is None:
                    first = snapshot_to_dict(collector.collect())
                    with _signals_held():
                        rec.start(first, time.time())
                    last = time.monotonic()
                    say(f"recording to {path} (every {interval:g} s on a change, every {rec.full_every:g} s "
                        f"otherwise; SIGTERM stops, SIGHUP starts a new file)")
                if stop_at is not None and time.monotonic() >= stop_at:
                    reason = f"stopped after {duration:g} s"
                    break
                _wait(last, interval, rec.full_every, stop_at, None if changed else wait_for_change)
                if stop_at is not None and time.monotonic() >= stop_at:
                    continue
                doc = snapshot_to_dict(collector.collect())
                last = time.monotonic()
                with _signals_held():  # a tick's lines and bookkeeping are never split by a signal
                    changed = bool(rec.tick(doc, time.time()))
            except _Signal as s:
                if s.signum == signal.SIGHUP:
                    if rec.last_doc is not None:
                        with _signals_held():
                            rec.new_file(time.time())
                    continue
                reason = f"stopped by {signal.Signals(s.signum).name}"
                break
    except RecordingWriteError as e:
        say(f"{e}; the recording stays valid up to its last whole line; stopping")
        out.close()
        collector.close()
        return 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        rec.stop(time.time(), reason)
    except RecordingWriteError as e:
        say(f"{e}; the recording stays valid up to its last whole line")
        return 1
    finally:
        out.close()
        collector.close()
    return 0


def _wait(last: float, interval: float, full_every: float, stop_at: float | None,
          wait_for_change: Callable[[float], bool] | None) -> None:
    """Until the next look: `interval` after the last one at the soonest, then until a kernel change or
    `full_every` after the last one (or the end of --duration, whichever comes first)."""
    def until(t: float) -> float:
        if stop_at is not None:
            t = min(t, stop_at)
        return max(0.0, t - time.monotonic())

    time.sleep(until(last + interval))
    if wait_for_change is None:
        return
    remaining = until(last + full_every)
    if remaining > 0:
        wait_for_change(remaining)


def _stderr(message: str) -> None:
    print(f"vnettop: {message}", file=sys.stderr, flush=True)


def copy_doc(doc: JsonObj) -> JsonObj:
    """A deep copy (the benchmark mutates synthetic snapshots between ticks)."""
    return copy.deepcopy(doc)
