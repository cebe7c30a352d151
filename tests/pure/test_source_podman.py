"""The Podman source over a recorded conmon argv, Podman's pid file and bundle, and broken variants."""

from __future__ import annotations

import copy
import select
from pathlib import Path

import pytest

from tests.container_fixtures import (
    CONMON_PID,
    DB_ID,
    DB_NETNS,
    DB_NS,
    DB_PID,
    ROOT,
    container_snapshot,
    podman_tree,
)
from tests.pure.test_sources_contract import outside, paths_touched
from vnettop.collect.sources import scope
from vnettop.collect.sources.enrich import SourceSet, apply
from vnettop.collect.sources.podman import PodmanSource, parse_conmon
from vnettop.model import Owner

USERDATA = f"run/containers/storage/vfs-containers/{DB_ID}/userdata"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return podman_tree(tmp_path / "root")


def _read(root: Path) -> tuple[tuple[Owner, ...], tuple[object, ...]]:
    src = PodmanSource(str(root))
    try:
        part = src.read(container_snapshot())
    finally:
        src.close()
    return part.owners or (), part.errors


def test_conmons_argv_names_the_container_and_its_pidfile_vouches(root: Path) -> None:
    owners, errors = _read(root)
    assert errors == ()
    (db,) = owners  # the CRI-O conmon (22800) is not Podman's
    assert (db.kind, db.name, db.id, db.runtime, db.source, db.exact) == (
        "container", "db", DB_ID, "podman", "conmon cmdline", True)
    details = dict(db.details)
    assert details["netns"] == DB_NETNS and details["oci_runtime"] == "runc"
    assert details["state"] == f"/{USERDATA}/pidfile"
    assert db.namespaces == (DB_NS,) and db.pids == (DB_PID,)
    assert db.links == ((ROOT, 6), (DB_NS, 2))


def test_without_the_pidfile_conmons_child_finds_it_but_not_exactly(root: Path) -> None:
    (root / USERDATA / "pidfile").unlink()
    (db,), errors = _read(root)
    assert errors == () and db.namespaces == (DB_NS,) and db.exact is False
    assert "state" not in dict(db.details)


def test_a_garbled_pidfile_is_one_error_naming_it_and_the_child_still_answers(root: Path) -> None:
    (root / USERDATA / "pidfile").write_text("\x00\x01junk")
    (db,), errors = _read(root)
    assert len(errors) == 1
    assert errors[0].scope == scope("podman")  # type: ignore[attr-defined]
    assert str(root / USERDATA / "pidfile") in errors[0].message  # type: ignore[attr-defined]
    assert db.exact is False and db.namespaces == (DB_NS,)


def test_an_unreadable_pid_falls_back_to_the_bundles_netns_path(root: Path) -> None:
    (root / "proc" / str(DB_PID) / "ns" / "net").unlink()
    (db,), errors = _read(root)
    assert errors == () and db.namespaces == (DB_NS,) and db.exact is False


def test_a_conmon_whose_container_is_nowhere_owns_nothing(root: Path) -> None:
    (root / "proc" / str(DB_PID) / "ns" / "net").unlink()
    (root / "var/lib/containers/storage/vfs-containers" / DB_ID / "userdata" / "config.json").write_text("{")
    (root / "proc" / str(CONMON_PID) / "task" / str(CONMON_PID) / "children").write_text("")
    owners, errors = _read(root)
    assert owners == () and errors == ()


def test_a_conmon_without_an_id_is_one_error_and_the_rest_intact(root: Path) -> None:
    snap = container_snapshot()
    before = copy.deepcopy(snap)
    (root / "proc" / "30000").mkdir()
    (root / "proc" / "30000" / "comm").write_text("conmon\n")
    (root / "proc" / "30000" / "cmdline").write_bytes(b"/usr/bin/conmon\0--exit-dir\0/run/libpod/exits\0")
    src = PodmanSource(str(root))
    part = src.read(snap)
    src.close()
    assert [o.name for o in part.owners or ()] == ["db"]
    assert len(part.errors) == 1 and "/proc/30000/cmdline" in part.errors[0].message
    assert apply(snap, [("podman", part)]).kernel_picture() == before


def test_argv_forms() -> None:
    c = parse_conmon(7, ["conmon", "--cid=abc", "--name", "x y", "-r", "/usr/bin/crun",
                         "--exit-command", "/usr/bin/podman"])
    assert c is not None and (c.cid, c.name, c.runtime, c.is_podmans) == ("abc", "x y", "/usr/bin/crun", True)
    assert parse_conmon(7, ["conmon", "-n", "x"]) is None
    crio = parse_conmon(7, ["conmon", "-c", "abc", "--exit-dir", "/var/run/crio/exits"])
    assert crio is not None and not crio.is_podmans


def test_rootless_exit_dir_says_whose(root: Path) -> None:
    cmd = root / "proc" / str(CONMON_PID) / "cmdline"
    cmd.write_bytes(cmd.read_bytes().replace(b"/run/libpod/exits", b"/run/user/1000/libpod/tmp/exits"))
    (db,), _errors = _read(root)
    assert dict(db.details)["rootless"] == "uid 1000"


def test_it_reads_only_under_its_root(root: Path) -> None:
    src = PodmanSource(str(root))
    with paths_touched() as touched:
        src.available()
        src.fileno()
        src.read(container_snapshot())
        src.read(container_snapshot())
    src.close()
    assert touched and outside(touched, root) == []


def test_a_new_container_directory_in_the_run_root_fires_the_fd(root: Path) -> None:
    src = PodmanSource(str(root))
    sources = SourceSet([src])
    snap = container_snapshot()
    try:
        assert [o.name for o in sources.enrich(snap).owners or ()] == ["db"]
        fd = src.fileno()
        assert fd is not None and not select.select([fd], [], [], 0)[0]
        (root / "run/containers/storage/vfs-containers" / ("e" * 64)).mkdir()
        assert select.select([fd], [], [], 1.0)[0]
        sources.enrich(snap)
        assert sources.last_read == ["podman"]
    finally:
        sources.close()
