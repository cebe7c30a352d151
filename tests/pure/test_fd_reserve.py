"""`nspool.reserve_fds` grows the fd table without touching an fd in use, and only when it is worth it."""

from __future__ import annotations

import os

from vnettop.collect.nspool import reserve_fds


def fd_size() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("FDSize:"))


def test_the_table_grows_and_no_open_fd_is_touched() -> None:
    size = fd_size()
    r, w = os.pipe()
    high = os.dup2(w, size - 1)  # an fd in use at the top of the table as it is
    try:
        reserve_fds(size)
        assert fd_size() >= size * 2 - 1
        os.write(high, b"x")  # still the pipe's write end
        assert os.read(r, 1) == b"x"
        opened = set(os.listdir("/proc/self/fd"))
        grown = fd_size()
        reserve_fds(16)  # a few: not worth growing for, and nothing opened or left open
        assert fd_size() == grown and set(os.listdir("/proc/self/fd")) == opened
    finally:
        for fd in (r, w, high):
            os.close(fd)
