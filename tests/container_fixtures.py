"""Base pictures and fixture trees for the container sources (Docker, Podman), and a stand-in daemon.

`container_snapshot()` is a host with one Docker container (`web`, its sandbox named by dockerd under
/run/docker/netns) and one Podman container (`db`, in `netns-<uuid>` under /run/netns), each with a veth
whose host end is on a bridge, plus a `docker exec` process in `web` and an unrelated process of another
container sharing it (`--network container:web`). The recorded files are under tests/data/sources/.

`FakeDaemon` serves canned HTTP replies on a unix socket from a thread, or misbehaves on purpose (accepts
and never answers, answers garbage), so the socket paths can be tested without a dockerd.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

from vnettop.model import Host, Link, LinkRef, Namespace, Snapshot

DATA = Path(__file__).parent / "data" / "sources"
ROOT, WEB_NS, DB_NS = 4026531840, 4026532501, 4026532601
WEB_ID = "6197e43b5b1b392bb13c73e0689b976d1deebd94a27a6127e2adae8d309b88a4"
WEB_PID, WEB_EXEC_PID, SIDECAR_PID = 22497, 22600, 22700
SIDECAR_ID = "ffff" * 16
DB_ID = "d7b5d4adfdf95990d15efed5b441db1efe2abb71e2f4b1f274432ddf374b0e60"
DB_PID, CONMON_PID = 22633, 22611
DB_NETNS = "netns-64e9b87f-641f-0613-3e45-37d82482df93"


def _link(netns: int, ifindex: int, name: str, kind: str = "veth", **kw: object) -> Link:
    return Link(netns, ifindex, name, kind, f"02:42:ac:1f:{netns % 256:02x}:{ifindex:02x}", 1500, True, "up",
                **kw)  # type: ignore[arg-type]


def container_snapshot() -> Snapshot:
    namespaces = (
        Namespace(ROOT, (), True, (1, CONMON_PID, 30000)),
        Namespace(WEB_NS, ("3f32dac4f1b6",), False, (WEB_PID, WEB_EXEC_PID, SIDECAR_PID)),
        Namespace(DB_NS, (DB_NETNS,), False, (DB_PID,)),
    )
    links = (
        _link(ROOT, 1, "lo", "loopback"),
        _link(ROOT, 3, "vntdkb", "bridge"),
        _link(ROOT, 4, "vntpb", "bridge"),
        _link(ROOT, 5, "veth3a1b2c4", master=LinkRef(ROOT, 3, "vntdkb"), peer=LinkRef(WEB_NS, 2, "eth0")),
        _link(ROOT, 6, "veth0f00ba1", master=LinkRef(ROOT, 4, "vntpb"), peer=LinkRef(DB_NS, 2, "eth0")),
        _link(ROOT, 7, "vethother", peer=LinkRef(ROOT, 8, "vethother2")),
        _link(ROOT, 8, "vethother2", peer=LinkRef(ROOT, 7, "vethother")),
        _link(WEB_NS, 1, "lo", "loopback"),
        _link(WEB_NS, 2, "eth0", peer=LinkRef(ROOT, 5, "veth3a1b2c4")),
        _link(DB_NS, 1, "lo", "loopback"),
        _link(DB_NS, 2, "eth0", peer=LinkRef(ROOT, 6, "veth0f00ba1")),
    )
    return Snapshot(Host("node-1", "6.18.0"), namespaces, links)


def _proc(root: Path, pid: int, netns: int, cgroup: str) -> None:
    d = root / "proc" / str(pid)
    (d / "ns").mkdir(parents=True, exist_ok=True)
    os.symlink(f"net:[{netns}]", d / "ns" / "net")
    (d / "cgroup").write_text(f"0::{cgroup}\n")


def docker_tree(root: Path) -> Path:
    """`root` with dockerd's data root (recorded config.v2.json files) and /proc for its container."""
    shutil.copytree(DATA / "docker" / "var", root / "var", dirs_exist_ok=True)
    (root / "run").mkdir(parents=True, exist_ok=True)
    _proc(root, WEB_PID, WEB_NS, f"/system.slice/docker-{WEB_ID}.scope")
    _proc(root, WEB_EXEC_PID, WEB_NS, f"/system.slice/docker-{WEB_ID}.scope")
    _proc(root, SIDECAR_PID, WEB_NS, f"/system.slice/docker-{SIDECAR_ID}.scope")
    return root


def api_replies() -> dict[str, bytes]:
    """Request path -> JSON body, as the recorded dockerd answered."""
    api = DATA / "docker" / "api"
    return {"/containers/json": (api / "containers.json").read_bytes(),
            f"/containers/{WEB_ID}/json": (api / f"inspect-{WEB_ID}.json").read_bytes()}


class FakeDaemon:
    """A unix-socket HTTP server in a thread: `mode` "ok" (canned replies, 404 otherwise), "hang" (accepts,
    reads, never answers), "garbage" (answers 200 with a body that is not JSON), "slow" (lists at once,
    answers anything else after `delay` seconds: a daemon busy with many containers)."""

    def __init__(self, path: Path, replies: dict[str, bytes], mode: str = "ok", delay: float = 0.6) -> None:
        self.path, self.replies, self.mode, self.delay = path, replies, mode, delay
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(1)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                path = head.split(b" ")[1].decode() if head.count(b" ") >= 2 else ""
                self.requests.append(path)
                if self.mode == "hang":
                    self._held.append(conn)
                    continue
                if self.mode == "slow" and path != "/containers/json":
                    self._stop.wait(self.delay)
                body = b"{not json" if self.mode == "garbage" else self.replies.get(path)
                status = "200 OK" if body is not None else "404 Not Found"
                body = body if body is not None else b'{"message":"No such container"}'
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                pass
            if self.mode != "hang":
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self.thread.join(2)
        for conn in self._held:
            conn.close()


def refusing_socket(path: Path) -> None:
    """A socket file nobody listens on (a daemon mid-restart): connect gets ECONNREFUSED."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()


def podman_tree(root: Path) -> Path:
    """`root` with a recorded Podman conmon (and a CRI-O one) in /proc, Podman's run root and bundle."""
    shutil.copytree(DATA / "podman", root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    _proc(root, DB_PID, DB_NS, f"/libpod_parent/libpod-{DB_ID}")
    return root
