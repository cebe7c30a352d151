"""Joining tun fds to tun/tap links: exact by (namespace, name), by name only when unambiguous."""

from __future__ import annotations

from vnettop.collect.holders import attach_holders
from vnettop.collect.types import ProcScan, TunFd
from vnettop.model import Link, Process, TunHolder, TunInfo

NS_A, NS_B = 4026530001, 4026530002


def tap(netns: int, ifindex: int, name: str) -> Link:
    return Link(netns, ifindex, name, "tap", "02:00:00:00:00:01", 1500, True, "up",
                tun=TunInfo("tap", False, False, True, False))


def veth(netns: int, ifindex: int, name: str) -> Link:
    return Link(netns, ifindex, name, "veth", "02:00:00:00:00:02", 1500, True, "up")


def scan(fds: list[TunFd], comms: dict[int, str] | None = None) -> ProcScan:
    comms = comms or {}
    procs = tuple(Process(pid, comms.get(pid, f"p{pid}"), "", "root") for pid in sorted({f.pid for f in fds}))
    return ProcScan(tuple(fds), {NS_A: procs})


def holders(links: tuple[Link, ...]) -> dict[tuple[int, str], tuple[TunHolder, ...] | None]:
    return {(link.netns, link.name): link.tun.holders for link in links if link.tun is not None}


def test_exact_fds_go_to_the_right_namespace_when_names_collide() -> None:
    links = [tap(NS_A, 5, "tap0"), tap(NS_B, 5, "tap0")]
    out, errors = attach_holders(links, scan([TunFd(100, 26, "tap0", NS_B, True),
                                              TunFd(200, 7, "tap0", NS_A, True)]))
    assert errors == ()
    assert holders(out) == {(NS_A, "tap0"): (TunHolder(200, "p200", (7,), True),),
                            (NS_B, "tap0"): (TunHolder(100, "p100", (26,), True),)}


def test_fds_of_one_process_are_merged_and_sorted_and_holders_sorted_by_pid() -> None:
    links = [tap(NS_A, 5, "mq0")]
    fds = [TunFd(300, 12, "mq0", NS_A, True), TunFd(300, 9, "mq0", NS_A, True),
           TunFd(100, 4, "mq0", NS_A, True)]
    out, _ = attach_holders(links, scan(fds, {300: "qemu-system-x86"}))
    assert holders(out)[(NS_A, "mq0")] == (TunHolder(100, "p100", (4,), True),
                                           TunHolder(300, "qemu-system-x86", (9, 12), True))


def test_name_only_match_when_the_name_is_unique() -> None:
    links = [tap(NS_A, 5, "tap0"), tap(NS_B, 6, "tap1"), veth(NS_A, 7, "tap1")]
    out, errors = attach_holders(links, scan([TunFd(100, 3, "tap1", None, False)]))
    assert errors == ()
    assert holders(out)[(NS_B, "tap1")] == (TunHolder(100, "p100", (3,), False),)
    assert holders(out)[(NS_A, "tap0")] == ()


def test_ambiguous_name_only_match_is_reported_not_guessed() -> None:
    links = [tap(NS_A, 5, "tap0"), tap(NS_B, 5, "tap0")]
    out, errors = attach_holders(links, scan([TunFd(100, 3, "tap0", None, False),
                                              TunFd(100, 4, "tap0", None, False)], {100: "qemu"}))
    # Not guessed, and not "nobody" either: one of the two is held, which one is unknown.
    assert all(h is None for h in holders(out).values())
    assert not any(link.tun.holders_complete for link in out if link.tun is not None)
    assert len(errors) == 1
    assert errors[0].scope == "pid 100"
    for part in ("qemu", "'tap0'", "fd 3, 4", str(NS_A), str(NS_B)):
        assert part in errors[0].message


def test_a_process_with_exact_and_name_only_fds_is_not_exact() -> None:
    links = [tap(NS_A, 5, "tap0")]
    out, _ = attach_holders(links, scan([TunFd(100, 3, "tap0", NS_A, True), TunFd(100, 4, "tap0", None, False)]))
    assert holders(out)[(NS_A, "tap0")] == (TunHolder(100, "p100", (3, 4), False),)


def test_unattached_fds_and_unknown_devices_are_ignored() -> None:
    links = [tap(NS_A, 5, "tap0")]
    fds = [TunFd(100, 3, None, None, True),  # opened, no TUNSETIFF yet
           TunFd(100, 4, "tap0", NS_B, True),  # a tap0 in a namespace we did not read
           TunFd(100, 5, "gone0", None, False)]
    out, errors = attach_holders(links, scan(fds))
    assert holders(out) == {(NS_A, "tap0"): ()} and errors == ()


def test_links_keep_their_order_and_non_tun_links_are_untouched() -> None:
    links = [veth(NS_B, 9, "v0"), tap(NS_A, 5, "tap0"), veth(NS_A, 1, "v1")]
    out, _ = attach_holders(links, scan([TunFd(100, 3, "tap0", NS_A, True)]))
    assert [link.name for link in out] == ["v0", "tap0", "v1"]
    assert out[0] is links[0] and out[2] is links[2]


def test_holder_comm_falls_back_when_the_process_vanished() -> None:
    links = [tap(NS_A, 5, "tap0")]
    out, _ = attach_holders(links, ProcScan((TunFd(100, 3, "tap0", NS_A, True),), {}))
    assert holders(out)[(NS_A, "tap0")][0].comm == "?"


def test_vhost_fds_of_the_holding_process_go_on_each_of_its_holders() -> None:
    """The kernel does not say which tap a vhost fd serves: a process's vhost fds show on each device."""
    from vnettop.collect.types import ProcScan

    links = [tap(NS_A, 5, "tap0"), tap(NS_A, 6, "tap1"), tap(NS_A, 7, "tap2")]
    base = scan([TunFd(100, 26, "tap0", NS_A, True), TunFd(100, 27, "tap1", NS_A, True),
                 TunFd(200, 9, "tap2", NS_A, True)])
    out, _ = attach_holders(links, ProcScan(base.tun_fds, base.processes, (), {100: (28, 29)}))
    assert holders(out) == {(NS_A, "tap0"): (TunHolder(100, "p100", (26,), True, (28, 29)),),
                            (NS_A, "tap1"): (TunHolder(100, "p100", (27,), True, (28, 29)),),
                            (NS_A, "tap2"): (TunHolder(200, "p200", (9,), True, ()),)}


def test_a_plain_proc_scan_gives_no_vhost_fds() -> None:
    out, _ = attach_holders([tap(NS_A, 5, "tap0")], scan([TunFd(100, 26, "tap0", NS_A, True)]))
    assert holders(out) == {(NS_A, "tap0"): (TunHolder(100, "p100", (26,), True, ()),)}


def test_attaching_again_keeps_unchanged_links_and_replaces_changed_or_dropped_holders() -> None:
    links = [tap(NS_A, 5, "tap0"), tap(NS_A, 6, "tap1"), veth(NS_A, 7, "v0")]
    first, _ = attach_holders(links, scan([TunFd(100, 3, "tap0", NS_A, True), TunFd(200, 4, "tap1", NS_A, True)]))
    again, _ = attach_holders(first, scan([TunFd(100, 3, "tap0", NS_A, True)]))  # pid 200 let go of tap1
    assert again[0] is first[0] and again[2] is first[2]
    assert holders(again) == {(NS_A, "tap0"): (TunHolder(100, "p100", (3,), True),), (NS_A, "tap1"): ()}
    assert again == attach_holders(links, scan([TunFd(100, 3, "tap0", NS_A, True)]))[0]


def test_holders_unknown_when_not_every_process_could_be_checked() -> None:
    """Without root other users' fd directories are EACCES: a tap with no holder found is "unknown",
    never "not held"; one with holders found keeps them and says more may exist."""
    links = [tap(NS_A, 5, "tap0"), tap(NS_A, 6, "tap1")]
    partial = ProcScan((TunFd(100, 3, "tap1", NS_A, True),), {NS_A: (Process(100, "qemu", "", "me"),)},
                       complete=False)
    out, errors = attach_holders(links, partial)
    assert errors == ()
    by_name = {link.name: link.tun for link in out if link.tun is not None}
    assert by_name["tap0"].holders is None and not by_name["tap0"].holders_complete
    assert not by_name["tap0"].unheld
    assert by_name["tap1"].holders == (TunHolder(100, "qemu", (3,), True),)
    assert not by_name["tap1"].holders_complete


def test_holders_known_empty_only_when_every_process_was_checked() -> None:
    out, _ = attach_holders([tap(NS_A, 5, "tap0")], ProcScan((), {}, complete=True))
    tun = out[0].tun
    assert tun is not None and tun.holders == () and tun.holders_complete and tun.unheld
