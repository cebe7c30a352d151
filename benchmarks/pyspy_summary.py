"""Summarise a py-spy raw (collapsed stacks) profile: where the samples are, by function.

    python3 benchmarks/pyspy_summary.py PROFILE.raw [--top 30] [--within SUBSTRING]
Used by bench_tui.py --profile; also handy by hand after
`py-spy record -f raw -o out.raw --pid PID` (install with `pip install py-spy`).
"""

from __future__ import annotations

import argparse
import collections


def summarize(path: str, top: int = 30, within: str | None = None, threads: bool = True) -> str:
    """Inclusive share of samples per frame (and own share for the hottest leaves), as text lines."""
    total = 0
    incl: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            if within and not any(within in fr for fr in frames):
                continue
            total += n
            if frames[0].startswith("thread ") or frames[0].startswith("process "):
                per_thread[frames[0]] += n
            own[frames[-1]] += n
            for fr in set(frames):
                incl[fr] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples" + (f" inside frames matching {within!r}" if within else "")]
    if threads and per_thread:
        lines.append("by thread: " + ", ".join(f"{t} {n * 100 / total:.0f}%" for t, n in per_thread.most_common(6)))
    lines.append("inclusive:")
    lines += [f"  {n * 100 / total:5.1f}%  {fr[:140]}" for fr, n in incl.most_common(top)]
    lines.append("own time (leaves):")
    lines += [f"  {n * 100 / total:5.1f}%  {fr[:140]}" for fr, n in own.most_common(max(10, top // 2))]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--within", default=None)
    args = ap.parse_args()
    print(summarize(args.path, args.top, args.within))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
