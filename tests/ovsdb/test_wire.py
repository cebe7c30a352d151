"""The JSON-RPC framing and the protocol's small print, against a scripted peer on a unix socket.

The real ovsdb-server is in test_live.py; here the peer does what a real server does only sometimes
(an echo probe before a reply, a message cut across reads, a UTF-8 character split between two reads,
a hang, a close mid-reply), so each rule is checked exactly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vnettop.ovsdb import datum
from vnettop.ovsdb.jsonrpc import Connection, OvsdbError, Splitter


def test_splitter_finds_object_ends_across_pieces_and_strings() -> None:
    text = '{"a": "}{\\"x", "b": {"c": [1, {}]}}  {"next": 1}'
    first_end = text.index("}  {") + 1
    sp = Splitter()
    for cut in range(1, first_end):  # every way of receiving the first message in two pieces
        sp = Splitter()
        assert sp.feed(text[:cut]) is None
        assert sp.feed(text) == first_end
    with pytest.raises(ValueError, match="unexpected"):
        Splitter().feed('  [1]')


def test_datum_decodes_sets_maps_and_uuids() -> None:
    assert datum.as_set(["set", [1, 2]]) == [1, 2]
    assert datum.as_set(5) == [5]
    assert datum.optional(["set", []]) is None
    assert datum.optional(7) == 7
    assert datum.as_map(["map", [["iface-id", "1ec9"], ["k", ["uuid", "u-1"]]]]) == {"iface-id": "1ec9", "k": "u-1"}
    assert datum.atom(["named-uuid", "row1"]) == "row1"


Script = Callable[[socket.socket], None]


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Callable[[Script], str]]:
    """A one-connection unix server running `script` on the accepted socket."""
    threads: list[threading.Thread] = []
    servers: list[socket.socket] = []

    def start(script: Script) -> str:
        path = str(tmp_path / f"s{len(servers)}.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        servers.append(srv)

        def run() -> None:
            try:
                conn, _ = srv.accept()
            except OSError:
                return  # the test ended (and closed the server) without connecting
            with conn:
                script(conn)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
        return path

    yield start
    for srv in servers:
        srv.close()
    for t in threads:
        t.join(timeout=5)


def read_request(conn: socket.socket) -> dict[str, object]:
    buf = b""
    sp = Splitter()
    while True:
        buf += conn.recv(65536)
        end = sp.feed(buf.decode())
        if end is not None:
            return json.loads(buf.decode()[:end])  # type: ignore[no-any-return]


def test_an_echo_probe_before_the_reply_is_answered(peer: Callable[[Script], str]) -> None:
    seen: list[dict[str, object]] = []

    def script(conn: socket.socket) -> None:
        req = read_request(conn)
        conn.sendall(b'{"method":"echo","params":["probe"],"id":"echo"}')
        seen.append(read_request(conn))
        # The reply arrives in two pieces, with a two-byte character cut between them.
        reply = json.dumps({"result": {"name": "Open_vSwitch \u00e9"}, "error": None, "id": req["id"]},
                           ensure_ascii=False).encode()
        cut = reply.index("\u00e9".encode()) + 1
        conn.sendall(reply[:cut])
        time.sleep(0.05)
        conn.sendall(reply[cut:])

    with Connection(peer(script), timeout=2) as c:
        assert c.call("get_schema", ["Open_vSwitch"]) == {"name": "Open_vSwitch \u00e9"}
    assert seen == [{"result": ["probe"], "error": None, "id": "echo"}]


def test_a_silent_server_is_an_error_within_the_timeout(peer: Callable[[Script], str]) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(3)

    start = time.monotonic()
    with Connection(peer(script), timeout=0.5) as c, pytest.raises(OvsdbError, match=r"no answer within 0\.5 s"):
        c.call("get_schema", ["Open_vSwitch"])
    assert time.monotonic() - start < 2


def test_a_server_closing_mid_reply_is_an_error(peer: Callable[[Script], str]) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b'{"result": {"na')

    with Connection(peer(script), timeout=2) as c, pytest.raises(OvsdbError, match="closed the connection"):
        c.call("get_schema", ["Open_vSwitch"])


def test_garbage_and_error_replies_are_one_line(peer: Callable[[Script], str]) -> None:
    def garbage(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with Connection(peer(garbage), timeout=2) as c, pytest.raises(OvsdbError, match="not JSON-RPC"):
        c.call("get_schema", ["Open_vSwitch"])

    def refuses(conn: socket.socket) -> None:
        req = read_request(conn)
        conn.sendall(json.dumps({"result": None, "error": {"error": "unknown database", "details": "x"},
                                 "id": req["id"]}).encode())

    with Connection(peer(refuses), timeout=2) as c, pytest.raises(OvsdbError, match="refused: unknown database: x"):
        c.call("get_schema", ["Nope"])


def test_the_reader_cannot_write(peer: Callable[[Script], str]) -> None:
    got: list[bytes] = []

    def script(conn: socket.socket) -> None:
        conn.settimeout(0.5)
        try:
            got.append(conn.recv(100))
        except OSError:
            pass

    with Connection(peer(script), timeout=1) as c, pytest.raises(OvsdbError, match="never writes"):
        c.call("transact", ["Open_vSwitch", {"op": "delete", "table": "Bridge", "where": []}])
    assert got in ([], [b""])  # nothing was sent


def test_a_missing_or_refusing_socket(tmp_path: Path) -> None:
    with pytest.raises(OvsdbError, match="no such socket"):
        Connection(str(tmp_path / "none.sock"))
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(tmp_path / "dead.sock"))
    dead.close()  # bound, never listening: connect is refused
    with pytest.raises(OvsdbError, match="connection refused"):
        Connection(str(tmp_path / "dead.sock"))
