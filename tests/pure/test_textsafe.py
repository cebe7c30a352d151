"""Names from the system never reach a terminal as escape sequences."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from vnettop.textsafe import json_terminal_safe, printable, printable_line

ESC = "\x1b"


def test_escape_sequences_are_shown_not_run() -> None:
    evil = f"{ESC}[31mEVIL{ESC}[0m\x9b2J\x07"
    out = printable(evil)
    assert ESC not in out and "\x9b" not in out and "\x07" not in out
    assert out == "\\x1b[31mEVIL\\x1b[0m\\x9b2J\\x07"


def test_newlines_kept_in_text_but_not_in_a_line() -> None:
    assert printable("a\nb\tc") == "a\nb\tc"
    assert printable_line("a\nb\tc") == "a\\x0ab\\x09c"


def test_ordinary_names_unchanged() -> None:
    for name in ("tap796091c0-07", "qdhcp-ba48a3fc", "é-ü", "br0", "veth@x"):
        assert printable(name) == name == printable_line(name)


@given(st.text())
def test_json_escaping_keeps_values(value: str) -> None:
    doc = json.dumps({"name": value}, ensure_ascii=False)
    safe = json_terminal_safe(doc)
    assert json.loads(safe) == {"name": value}
    assert not any(0x7F <= ord(c) <= 0x9F or ord(c) < 0x20 for c in safe)
