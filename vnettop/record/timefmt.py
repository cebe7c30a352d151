"""Times in a recording: how they are written, and how a user names one on the command line.

Written: UTC, microseconds, a fixed width (`2026-12-04T03:12:00.123456Z`), so two times compare as
strings. The reader's binary search compares the time at the head of a line with the one asked for
without decoding the line or building a datetime.

Read (TIME on the command line), always in UTC unless an offset is given:
- ISO 8601: `2026-12-04T03:12:00Z`, `2026-12-04T03:12:00+02:00`, `2026-12-04 03:12`, `2026-12-04`;
  without a zone the time is UTC (a recording's times are UTC; the host's zone is not the recording's).
- `HH:MM[:SS]`: the most recent such moment at or before the recording's end (so "03:12" is the last
  03:12 the recording saw, which is what "what changed at 03:12?" means).
- `start`, `end`, `start+DUR`, `end-DUR`, `-DUR` (= end-DUR), `now`, `now-DUR`; DUR is a number
  with s, m, h or d (`90s`, `5m`, `1.5h`, `2d`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from vnettop.errors import VnettopError

UTC = timezone.utc
_DUR = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
TIME_HELP = ("ISO 8601 (2026-12-04T03:12:00Z; no zone means UTC), HH:MM (the latest such UTC moment "
             "in the recording), start, end, end-5m, -1h, now-10m")


class TimeFormatError(VnettopError):
    """A TIME the user gave cannot be read (a usage mistake)."""


def stamp(ts: datetime) -> str:
    """The fixed-width UTC form written in a recording."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp_epoch(epoch: float) -> str:
    """The written form of a moment, to the millisecond: what `vnettop changes` shows is exactly the
    moment recorded, so a time copied from it names that change's picture (not the instant before)."""
    ts = datetime.fromtimestamp(epoch, UTC)
    return stamp(ts.replace(microsecond=ts.microsecond // 1000 * 1000))


def parse_stamp(text: str) -> datetime:
    """A time as written in a recording (ValueError if it is not one)."""
    if len(text) != 27 or not text.endswith("Z"):
        raise ValueError(text)
    return datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def short(ts: datetime) -> str:
    """A time for a person: UTC to the millisecond."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def duration(text: str) -> timedelta:
    m = _DUR.match(text)
    if not m:
        raise TimeFormatError(f"not a duration: {text!r} (a number with s, m, h or d, e.g. 5m)")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def parse_time(text: str, start: datetime, end: datetime, now: datetime | None = None) -> datetime:
    """The moment TEXT names, for a recording from `start` to `end` (see the module's docstring)."""
    s = text.strip()
    low = s.lower()
    for word, base in (("start", start), ("end", end), ("now", now or datetime.now(UTC))):
        if low == word:
            return base
        if low.startswith(word) and low[len(word):len(word) + 1] in ("+", "-"):
            sign = 1 if low[len(word)] == "+" else -1
            return base + sign * duration(low[len(word) + 1:])
    if low.startswith("-") and _DUR.match(low[1:]):
        return end - duration(low[1:])
    m = _CLOCK.match(s)
    if m:
        hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        frac = int((m.group(4) or "0").ljust(6, "0"))
        if hh > 23 or mm > 59 or ss > 59:
            raise TimeFormatError(f"not a time of day: {text!r}")
        day = end.astimezone(UTC).replace(hour=hh, minute=mm, second=ss, microsecond=frac)
        return day if day <= end else day - timedelta(days=1)
    try:
        ts = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeFormatError(f"not a time: {text!r} (expected {TIME_HELP})") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
