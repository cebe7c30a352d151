"""Making names from the system safe to put in front of a person.

Device names may hold any byte but '/', ':' and whitespace, and any unprivileged process can give
itself a name or command line full of escape sequences. Printed raw, such a name would drive root's
terminal (recolour, move the cursor, retitle the window, hide text). Everything vnettop prints for a
person passes through here; JSON keeps the exact values, with the terminal-active ones escaped.
"""

from __future__ import annotations

import re

# C0 controls except newline and tab, DEL, and C1 controls (0x9b is a one-byte CSI on some terminals).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_C1_AND_DEL = re.compile("[\x7f-\x9f]")


def _hex(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def printable(text: str) -> str:
    """`text` with every control character but newline and tab shown as `\\xNN`."""
    return _UNSAFE.sub(_hex, text)


def printable_line(text: str) -> str:
    """One line of `text` for a label or a table cell: newlines and tabs escaped too."""
    return _UNSAFE_IN_LINE.sub(_hex, text)


def json_terminal_safe(text: str) -> str:
    """JSON text with DEL and C1 controls written as \\u escapes (json.dumps escapes only C0 ones).

    Those characters can only occur inside JSON strings, where `\\u009b` means exactly the same
    character, so the document's values are unchanged.
    """
    return _C1_AND_DEL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
