"""EventHub's waits and takes over an epoll set that follows the sockets as namespaces come and go.

The hub keeps one epoll set between waits and brings it up to date by the sockets that came and went
(`_Poller.sync`), not by building it anew. What must hold: a notification on a socket added later wakes
a waiter and is taken; a removed namespace's socket is never reported again, even when a new socket gets
its fd number; nothing piles up in fds over many generations. Unix datagram socket pairs stand in for the
netlink event sockets (the hub only polls and reads them), carrying a recorded link notification.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.netlink_data import datagrams
from vnettop.collect import events
from vnettop.collect.events import EventHub

NS = 4026532001


def link_notification() -> bytes:
    """A recorded datagram whose notifications wake a waiter (a link change)."""
    for data in datagrams("events_a"):
        if any(e.shows and e.kind == "link" for e in events.parse_messages(data, NS)):
            return data
    raise AssertionError("the recording has no link notification")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture()
def hub(tmp_path: Path) -> EventHub:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("")
    return EventHub(str(tmp_path), str(mountinfo))


def pair() -> tuple[socket.socket, socket.socket]:
    """(the hub's end, non-blocking like an event socket; the kernel's end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    return ours, theirs


def test_sockets_added_later_wake_and_removed_ones_never_report(hub: EventHub) -> None:
    note = link_notification()
    kernel: dict[int, socket.socket] = {}
    try:
        for ns in range(1, 41):
            ours, kernel[ns] = pair()
            hub.add(ns, ours)
        assert hub.wait(0) is False  # the add's wake-up only: nothing to show
        kernel[7].send(note)
        assert hub.wait(2.0) is True
        assert hub.take().dirty == {7}

        # A new generation: some namespaces go (their sockets are closed, their fd numbers free), others
        # come (and may get those numbers).
        for ns in range(1, 11):
            hub.remove(ns)
            kernel.pop(ns).close()
        for ns in range(100, 110):
            ours, kernel[ns] = pair()
            hub.add(ns, ours)
        assert hub.wait(0) is False
        kernel[105].send(note)
        assert hub.wait(2.0) is True
        kernel[30].send(note)
        assert hub.take().dirty == {105, 30}  # the take's own set follows too
        assert hub.wait(0) is False
    finally:
        hub.close()
        for sock in kernel.values():
            sock.close()


def test_many_generations_leave_no_fds_behind(hub: EventHub) -> None:
    note = link_notification()
    before = open_fds()
    kernel: dict[int, socket.socket] = {}
    try:
        for gen in range(30):
            ours, kernel[gen] = pair()
            hub.add(gen, ours)
            if gen >= 5:
                hub.remove(gen - 5)
                kernel.pop(gen - 5).close()
            hub.wait(0)
            hub.take()
        kernel[29].send(note)
        assert hub.wait(2.0) is True
        assert hub.take().dirty == {29}
        # 5 namespaces held: 10 socket ends, plus the hub's own (wake pipe, epoll sets)
        assert open_fds() - before <= 10 + 4
    finally:
        hub.close()
        for sock in kernel.values():
            sock.close()
    assert open_fds() <= before


def test_a_socket_removed_during_a_poll_is_closed_when_that_poll_returns(
        hub: EventHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket removed while a waiter polls is kept (its fd number must not be reused under the waiter)
    but must be closed as soon as no waiter polls any more, even if nobody ever waits again: a kept
    event socket pins its namespace, and with it the root end of every veth whose peer was in it.

    The poll is the real epoll; the test only holds the waiter between the poll's return and the end of
    its `wait`, where a namespace dropped by the collector's thread lands in the hub's keeping.
    """
    import threading

    polled, go = threading.Event(), threading.Event()
    real_ready = events._Poller.ready

    def ready_then_hold(self: events._Poller, timeout: float) -> list[tuple[int, int]]:
        result = real_ready(self, timeout)
        polled.set()
        assert go.wait(10)
        return result

    ours, kernel = pair()
    hub.add(1, ours)
    assert hub.wait(0) is False  # the add's wake-up is read; the next wait sees nothing
    monkeypatch.setattr(events._Poller, "ready", ready_then_hold)
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(hub.wait(0)))
    try:
        waiter.start()
        assert polled.wait(10)
        hub.remove(1)  # the collector's thread drops the namespace while the waiter is still polling
        assert ours.fileno() != -1  # kept while polled: its fd number cannot be reused under the waiter
        go.set()
        waiter.join(10)
        assert waited == [False]
        assert ours.fileno() == -1  # and closed once the poll is over, with no further wait needed
    finally:
        go.set()
        waiter.join(10)
        hub.close()
        kernel.close()
