"""The event sockets' neighbour filter, run by a tiny interpreter of the three instructions it uses, on
messages laid out in either byte order (the kernel test covers this machine's order for real)."""

from __future__ import annotations

import struct

import pytest

from vnettop.linux import sockfilter


def _run(program: list[tuple[int, int, int, int]], packet: bytes) -> int:
    """Classic BPF, as the kernel runs it, for loads of one byte, jeq and ret (a load past the end
    drops the packet)."""
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x30:
            if k >= len(packet):
                return 0
            acc = packet[k]
            pc += 1
        elif code == 0x15:
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def _message(order: str, mtype: int, family: int) -> bytes:
    fmt = "<" if order == "little" else ">"
    body = struct.pack(fmt + "BxxxiHBB", family, 3, 2, 0, 0)
    return struct.pack(fmt + "IHHII", 16 + len(body), mtype, 0, 0, 0) + body


@pytest.mark.parametrize("order", ["little", "big"])
def test_only_arp_and_nd_neighbour_messages_are_dropped(order: str) -> None:
    program = sockfilter._program(order)
    kept = lambda mtype, family: _run(program, _message(order, mtype, family)) != 0  # noqa: E731
    for mtype in (28, 29):  # RTM_NEWNEIGH, RTM_DELNEIGH
        assert kept(mtype, 7)  # a bridge forwarding entry
        assert not kept(mtype, 2) and not kept(mtype, 10)  # ARP, ND
    for mtype, family in ((16, 0), (16, 7), (17, 0), (20, 2), (21, 10), (88, 0)):  # links, addresses, nsid
        assert kept(mtype, family)
    # A type whose low byte is a neighbour type's is not one: 28 + 256 is another message.
    assert kept(28 + 256, 2)


def test_the_program_is_attachable_as_built() -> None:
    assert len(sockfilter._CODE) == 8 * len(sockfilter._program())
    assert struct.unpack("@H", sockfilter._FPROG[:2])[0] == len(sockfilter._program())
