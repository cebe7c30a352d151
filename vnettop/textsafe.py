"""Making names from the system safe to put in front of a person.

Device names may hold any byte but '/', ':' and ASCII whitespace, and any unprivileged process can give
itself a name or command line full of escape sequences, newlines or invisible characters. Printed raw,
such a name would drive root's terminal (recolour, move the cursor, retitle the window), forge lines
(`x\\nerrors (0)` starts a fake line at column 0), reorder what follows it (a right-to-left override), or
pass for another name (`a\\u200b` looks like `a`). Everything vnettop prints for a person passes through
here, one value at a time where the value is placed; JSON keeps the exact values, with the
terminal-active ones written as JSON `\\u` escapes.

What is shown escaped (the "unsafe" characters):
  * control characters: C0 (newline and tab included), DEL, C1;
  * the line and paragraph separators U+2028, U+2029;
  * format characters (Unicode category Cf): the bidirectional controls (U+061C, U+200E, U+200F,
    U+202A-U+202E, U+2066-U+2069), the zero-width ones (U+200B-U+200D, U+2060-U+2064, U+FEFF), the soft
    hyphen U+00AD, U+180E and the rest of Cf;
  * spaces other than the ASCII space (U+00A0, U+2000-U+200A, U+3000...): a device name cannot contain a
    space, so none may look like one;
  * the other default-ignorable characters, which terminals draw as nothing (Hangul fillers, variation
    selectors, U+034F, tag characters U+E0000-U+E0FFF);
  * lone surrogates (a str decoded with 'surrogateescape' carries each undecodable byte as one), which
    no encoder accepts.

How (one notation, Python's): `\\n`, `\\t`, `\\r` for those three; `\\xNN` for the other C0 controls and
DEL (one byte each); `\\xNN` for a surrogate U+DC80-U+DCFF, which stands for the raw byte NN that was not
UTF-8 - exactly how SNAPSHOT-SCHEMA.md ("Names that are not text") writes such a name, so the shown
form is the form commands accept; `\\uNNNN` for every other character (C1 included: U+009B shows as
`\\u009b`, never to be mistaken for the raw byte `\\x9b`); `\\UNNNNNNNN` above U+FFFF.

A literal backslash is NOT doubled: names are shown as the schema writes them, where `\\xNN` is the
only escape. So a name spelled with the four characters `\\x1b` looks the same as one holding ESC;
JSON (`vnettop dump`) tells them apart.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# The unsafe characters (see the module docstring), as ranges. Checked against the interpreter's Unicode
# database by tests/pure/test_textsafe.py: every Cc, Cf, Cs, Zl, Zp and non-ASCII Zs character is in.
_C0 = "\\x00-\\x1f"  # C0 controls, newline and tab included
_BEYOND_C0 = (
    "\\x7f-\\xa0"  # DEL, C1, no-break space
    "\\xad"  # soft hyphen
    "\\u034f"  # combining grapheme joiner (default ignorable)
    "\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2"  # Arabic/Syriac format marks, ALM
    "\\u115f\\u1160\\u1680\\u17b4\\u17b5\\u180b-\\u180f"  # fillers, ogham space, Khmer, Mongolian
    "\\u2000-\\u200f"  # spaces, zero-width space/joiners, LRM, RLM
    "\\u2028-\\u202f"  # line/paragraph separators, bidi embeddings and overrides, narrow no-break space
    "\\u205f-\\u206f"  # medium space, word joiner, invisible operators, bidi isolates, deprecated formats
    "\\u3000\\u3164"  # ideographic space, Hangul filler
    "\\ud800-\\udfff"  # lone surrogates
    "\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb"  # variation selectors, BOM/ZWNBSP, filler, annotations
    "\\U000110bd\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a"
    "\\U000e0000-\\U000e0fff"  # tags and the rest of the default-ignorable plane-14 block
)
_UNSAFE_IN_LINE = re.compile(f"[{_C0}{_BEYOND_C0}]")
_UNSAFE = re.compile(f"(?![\\n\\t])[{_C0}{_BEYOND_C0}]")  # the same but newline and tab (multi-line text)
# In a JSON document a raw C0 character is whitespace between tokens (json.dumps escapes those in strings).
_JSON_UNSAFE = re.compile(f"[{_BEYOND_C0}]")
_ASCII_UNSAFE = re.compile("[\\x00-\\x1f\\x7f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


@lru_cache(maxsize=1024)
def escape_char(ch: str) -> str:
    """How one unsafe character is shown (the notation of the module docstring)."""
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if cp < 0x80:
        return f"\\x{cp:02x}"
    if 0xDC80 <= cp <= 0xDCFF:  # surrogateescape: the raw byte that was not UTF-8
        return f"\\x{cp - 0xDC00:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _escape(m: re.Match[str]) -> str:
    return escape_char(m.group())


def printable_line(text: str) -> str:
    """`text` as one line for a label, a table cell or a line of output: every unsafe character escaped.

    Escaping is per character, so escaping a line built from values equals escaping each value.
    """
    if text.isascii():
        return _ASCII_UNSAFE.sub(_escape, text) if _ASCII_UNSAFE.search(text) else text
    return _UNSAFE_IN_LINE.sub(_escape, text)


def printable(text: str) -> str:
    """Multi-line `text` (a message, a whole document): like `printable_line` but newline and tab kept.

    Only for text whose line structure vnettop itself made: a value from the system goes through
    `printable_line` where it is placed, so it can never add a line.
    """
    return _UNSAFE.sub(_escape, text)


def is_unsafe(ch: str) -> bool:
    """True for a character `printable_line` escapes."""
    return _UNSAFE_IN_LINE.match(ch) is not None


# -- display width ------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide and fullwidth characters 2, combining marks 0.

    Meant for text already made safe (no controls left); what a terminal does with those is not a width.
    """
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def ljust(text: str, width: int) -> str:
    """`text` padded with spaces on the right to `width` display columns (never cut)."""
    pad = width - display_width(text)
    return text + " " * pad if pad > 0 else text


# -- JSON ---------------------------------------------------------------------------------------


def _json_escape(m: re.Match[str]) -> str:
    cp = ord(m.group())
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    cp -= 0x10000  # a JSON \u escape is UTF-16: a character above U+FFFF is a surrogate pair
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


def json_terminal_safe(text: str) -> str:
    """JSON text with every unsafe character (DEL, C1, separators, bidi and zero-width characters,
    lone surrogates...) written as a `\\u` escape; json.dumps escapes only the C0 ones.

    Outside strings a JSON document is ASCII, so those characters can only occur inside strings, where
    `\\u202e` means exactly the same character: the document's values are unchanged.
    """
    if text.isascii():
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    return _JSON_UNSAFE.sub(_json_escape, text)
