"""Hostile strings for the tests of what vnettop prints: every character class a name may use to forge
a line, drive a terminal or pass for another name, and a check that a printed line is clean.

Shared by the textsafe unit tests and the property test that pushes such names through every outlet.
"""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

#: One of each class `textsafe` must escape, plus what it must leave alone (CJK, combining marks).
SAMPLES = (
    "\n", "\r", "\t", "\x00", "\x07", "\x1b", "\x1b]2;PWNED\x07", "\x1b[2J", "\x7f", "\x85", "\x9b",
    "\u2028", "\u2029",  # line and paragraph separators
    "\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidirectional controls
    "\u200b", "\u200c", "\u200d", "\u2060", "\u2061", "\u2064", "\ufeff", "\u180e", "\u00ad",  # invisible
    "\u00a0", "\u3000", "\u3164", "\ufe0f", "\U000e0041",  # look like a space or like nothing
    "\udc80", "\udcff", "\udcfe", "\ud800", "\udbff", "\udc00",  # lone surrogates (raw bytes and others)
    "中", "文", "ｗ", "e\u0301", "\u0301", "한", "é", "\\", "\\x41", '"', "'", "{", "}", "[b]", " ",
)

#: Where a line ends, for anyone reading the output (str.splitlines() knows all of these).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad")


def hostile_text(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Any text, surrogates included, rich in the samples above."""
    alphabet = st.one_of(st.sampled_from(SAMPLES), st.characters(exclude_categories=()))
    return st.lists(alphabet, min_size=min_size, max_size=max_size).map("".join)


def unclean(text: str, allow: str = "\n") -> list[str]:
    """The characters of `text` that must never reach a terminal raw (`allow`: the document's own)."""
    bad = []
    for ch in text:
        if ch in allow:
            continue
        cat = unicodedata.category(ch)
        if (cat in ("Cc", "Cf", "Cs", "Zl", "Zp") or ch in LINE_BREAKS or ch in BIDI or ch in ZERO_WIDTH
                or (cat == "Zs" and ch != " ")):
            bad.append(ch)
    return bad
