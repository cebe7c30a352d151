"""The recorded rtnetlink messages under tests/data/netlink, read the way the decoding tests need them.

Written by tests/record_netlink.py (one reply per file, hex wrapped over lines) and
tests/record_netlink_more.py (one datagram per line).
"""

from __future__ import annotations

import struct
from pathlib import Path

DATA = Path(__file__).parent / "data" / "netlink"


def reply(name: str) -> bytes:
    """A whole recorded reply (the hex of one file, line breaks ignored)."""
    return bytes.fromhex((DATA / f"{name}.hex").read_text().replace("\n", ""))


def datagrams(name: str) -> list[bytes]:
    """A recording of several datagrams, one per line."""
    return [bytes.fromhex(line) for line in (DATA / f"{name}.hex").read_text().split()]


def split(data: bytes) -> list[bytes]:
    """The netlink messages of a datagram or reply (each header's length, 4-byte aligned)."""
    out, off = [], 0
    while off + 16 <= len(data):
        (length,) = struct.unpack_from("=I", data, off)
        out.append(data[off:off + length])
        off += (length + 3) & ~3
    return out
