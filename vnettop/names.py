"""Kernel names that are not text: one internal form, one written form, and matching what users type.

Device and namespace names are bytes to the kernel (a device name is any 1-15 bytes but '/', ':' and
whitespace; a namespace name is a file name), and nothing makes them UTF-8: `ip link add $'vnt\\xff'`
works. vnettop keeps every name as a Python `str` decoded from UTF-8 with 'surrogateescape': a byte
that is not part of valid UTF-8 becomes the lone surrogate U+DC80..U+DCFF (byte 0xff -> '\\udcff').
That is what `os.listdir` gives for the files under /run/netns (with the UTF-8 file system encoding
Python uses on Linux under any UTF-8 or C/POSIX locale), what psutil gives for process names, and what
`os.fsencode` / `subprocess` turn back into the same bytes, so one form serves every source and every
name goes back to the kernel unchanged. Every decoder (pyroute2's bytes, the struct netlink parsers,
tun fdinfo, TUNGETIFF) goes through `from_bytes` / `from_wire`; every write to the kernel through
`to_bytes` / `for_kernel` (pyroute2 encodes a `str` as strict UTF-8, which refuses surrogates, but
passes `bytes` through).

A lone surrogate cannot be encoded as UTF-8 (json.dumps' output could not be written), so names are
*written* (JSON, the `ip` commands shown, messages) with each undecodable byte as `\\xNN`: a literal
backslash, `x` and two lower-case hex digits, the notation the terminal-safe display also uses. The
written form alone is ambiguous (a name may really contain a backslash), so JSON adds the raw bytes in
hex beside it (`name_bytes`), from which `from_hex` restores the exact name.

What a user types is matched with `matches`: the name itself, or the name with `\\xNN` (and the other
display escapes, `\\n`, `\\t`, `\\uNNNN`, `\\\\`) undone, so typing the form vnettop shows always finds the
thing shown. Stdlib only: the model, the collectors, the renderers and the UI all use it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

ENCODING = "utf-8"
ERRORS = "surrogateescape"

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The escapes a typed name may use: \xNN, \uNNNN, \UNNNNNNNN, \n \t \r, and \\ for a backslash.
_TYPED_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[ntr\\])")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
#: The only escape of the written form.
_WRITTEN_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2})")


def from_bytes(raw: bytes) -> str:
    """The internal form of a raw kernel name (never fails, never loses a byte)."""
    return raw.decode(ENCODING, ERRORS)


def to_bytes(name: str) -> bytes:
    """The raw bytes of an internal name. UnicodeEncodeError for a surrogate no byte stands for."""
    return name.encode(ENCODING, ERRORS)


def from_wire(value: object) -> str | None:
    """A name as pyroute2 hands it over (str if it was UTF-8, the raw bytes if not), made internal."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return from_bytes(bytes(value))
    return str(value)


def is_text(name: str) -> bool:
    """True when the name is valid UTF-8 text (no escaped byte): it is written as it is."""
    if name.isascii():
        return True
    try:
        name.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def written(name: str) -> str:
    """The written form: each byte that is not UTF-8 as `\\xNN` (lower-case hex); encodable as UTF-8.

    A lone surrogate that stands for no byte (it cannot come from the kernel) is written `\\udNNN`, so
    the result can always be encoded.
    """
    if is_text(name):
        return name
    name = _ESCAPED_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", name)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def hex_bytes(name: str) -> str | None:
    """The raw name in hex, for JSON's `name_bytes`; None when the name is text (nothing to add)."""
    if is_text(name):
        return None
    try:
        return to_bytes(name).hex()
    except UnicodeEncodeError:
        return None


def from_hex(text: str) -> str:
    """The internal name from `name_bytes` (ValueError if it is not hex)."""
    return from_bytes(bytes.fromhex(text))


def json_safe(text: str) -> str:
    """JSON text with every lone surrogate written `\\udcNN` (JSON's own escape): encodable as UTF-8.

    Lone surrogates can only sit inside JSON strings, where the escape means the same code point, so
    Python's `json.loads` gives back the exact string (a lossless fallback for text that has no
    `name_bytes` beside it).
    """
    if text.isascii():
        return text
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def json_written(text: str) -> str:
    """JSON text with every lone surrogate replaced by the written form `\\xNN` (as a JSON string says it).

    For free text (process names, command lines, messages) a JSON document shows as a person reads it;
    names carry `name_bytes` for the exact value.
    """
    if text.isascii():
        return text
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        text = _ESCAPED_BYTE.sub(lambda m: f"\\\\x{ord(m.group()) - 0xDC00:02x}", text)
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _unescape(typed: str, pattern: re.Pattern[str]) -> str | None:
    """`typed` with the escapes `pattern` finds undone (bytes for \\xNN), as an internal name; None if
    it has none or cannot stand for bytes."""
    out = bytearray()
    pos = 0
    try:
        for m in pattern.finditer(typed):
            out += typed[pos:m.start()].encode(ENCODING, ERRORS)
            code = m.group(1)
            if code[0] == "x":
                out.append(int(code[1:], 16))
            elif code[0] in "uU":
                out += chr(int(code[1:], 16)).encode(ENCODING, ERRORS)
            else:
                out += _SIMPLE[code].encode()
            pos = m.end()
        if pos == 0:
            return None
        out += typed[pos:].encode(ENCODING, ERRORS)
    except (UnicodeEncodeError, ValueError, OverflowError):
        return None
    return from_bytes(bytes(out))


def candidates(typed: str) -> tuple[str, ...]:
    """The internal names `typed` may stand for: itself; itself read as the written form (only `\\xNN`
    undone); itself read as the display form (`\\n`, `\\uNNNN`, `\\\\` too)."""
    out = [typed]
    if "\\" in typed:
        for pattern in (_WRITTEN_ESCAPE, _TYPED_ESCAPE):
            other = _unescape(typed, pattern)
            if other is not None and other not in out:
                out.append(other)
    return tuple(out)


def matches(typed: str, name: str) -> bool:
    """Whether a name typed by a user (as shown, as written, or exact) stands for `name`."""
    if typed == name:
        return True
    return "\\" in typed and name in candidates(typed)


def resolve(typed: str, known: Iterable[str]) -> str:
    """The known name `typed` stands for: an exact match first, else the one name it matches once its
    escapes are undone; `typed` itself when none (or several) does (a new name, or the caller's error)."""
    pool = list(known)
    if typed in pool:
        return typed
    found = {name for name in pool if matches(typed, name)}
    return found.pop() if len(found) == 1 else typed


def for_kernel(name: str) -> str | bytes:
    """What to hand pyroute2 for a name: the str when it is text, else its raw bytes."""
    return name if is_text(name) else to_bytes(name)


_SHELL_PLAIN = re.compile(r"[\x20-\x7e]")


def shell_quote(name: str) -> str:
    """The name as a shell word that gives back its exact bytes: shlex.quote for printable text, else
    bash's `$'...'` with `\\xNN` for every byte that is not printable ASCII or not UTF-8."""
    if is_text(name) and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return shlex.quote(name)
    out = []
    for ch in name:
        if ch in "\\'":
            out.append("\\" + ch)
        elif _SHELL_PLAIN.fullmatch(ch):
            out.append(ch)
        else:
            try:
                raw = ch.encode(ENCODING, ERRORS)
            except UnicodeEncodeError:
                raw = ch.encode(ENCODING, "surrogatepass")
            if 0x20 < ord(ch) and not 0x7F <= ord(ch) <= 0x9F and is_text(ch):
                out.append(ch)  # printable non-ASCII text (é, 名) stays readable
            else:
                out.append("".join(f"\\x{b:02x}" for b in raw))
    return "$'" + "".join(out) + "'"
