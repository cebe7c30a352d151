"""A JSON-RPC 1.0 connection to ovsdb-server (RFC 7047 section 4), small and bounded in time.

Why not the `ovs` package's IDL: it is not in Debian's python3 packages on the hosts vnettop targets,
pulls a C extension on PyPI, and keeps a full replica of every monitored table with change tracking
vnettop does not need. What vnettop needs is four tables, a `monitor`, and updates as events; the
protocol for that is a few hundred lines of stdlib code whose every failure can be turned into one
sentence naming the socket. (The measured comparison is in benchmarks/bench_ovsdb.py.)

Framing: RFC 7047 messages are JSON objects written back to back with no delimiter, so the reader keeps
a buffer and cuts complete objects off its front with `raw_decode`. The server sends `echo` requests
as an inactivity probe; they are answered wherever they are met, or the server drops the connection.
"""

from __future__ import annotations

import codecs
import json
import os
import select
import socket
import time
from typing import Any

from vnettop.errors import VnettopError

#: A reply larger than this is not what a sane OVSDB sends for four tables: refuse rather than eat memory.
MAX_BUFFER = 256 * 1024 * 1024


class OvsdbError(VnettopError):
    """OVSDB could not be read: the message names the socket and what went wrong, in one line."""


_DECODER = json.JSONDecoder()
#: Past this, a buffer that does not end a message is left until it does (the scan costs ~0.1 ms/kB).
BIG = 64 * 1024


class Splitter:
    """Finds where the first JSON object in a growing buffer ends, remembering how far it has looked.

    JSON-RPC over a stream has no delimiter; an object ends where its outermost brace closes, counting
    only braces outside strings. Each byte is looked at once however the object arrives in pieces.
    """

    __slots__ = ("depth", "escaped", "in_string", "pos", "started")

    def __init__(self) -> None:
        self.pos = 0
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.started = False

    def feed(self, buf: str) -> int | None:
        """The end (exclusive) of the first complete object in `buf`, or None if it is not complete yet.

        Raises ValueError if the buffer does not start with an object (after white space)."""
        i, n = self.pos, len(buf)
        while i < n:
            c = buf[i]
            i += 1
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif c == "\\":
                    self.escaped = True
                elif c == '"':
                    self.in_string = False
            elif c == '"':
                self.in_string = True
            elif c == "{":
                self.depth += 1
                self.started = True
            elif c == "}":
                self.depth -= 1
                if self.depth == 0:
                    self.pos = 0
                    return i
            elif not self.started and not c.isspace():
                raise ValueError(f"unexpected {c!r} between messages")
        self.pos = n
        return None


class Connection:
    """One unix-socket connection; `call` for request/response, `notifications` for what arrives unasked."""

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.timeout = timeout
        self._buf = ""
        self._utf8 = codecs.getincrementaldecoder("utf-8")()  # a character may span two reads
        self._splitter = Splitter()
        self._next_id = 0
        self._pending: list[dict[str, Any]] = []  # notifications read while waiting for a reply
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError:
            sock.close()
            raise OvsdbError(f"{path}: no such socket (is ovsdb-server running?)") from None
        except ConnectionRefusedError:
            sock.close()
            raise OvsdbError(f"{path}: connection refused (ovsdb-server not listening)") from None
        except PermissionError:
            sock.close()
            raise OvsdbError(f"{path}: permission denied") from None
        except TimeoutError:
            sock.close()
            raise OvsdbError(f"{path}: no answer within {timeout:g} s") from None
        except OSError as e:
            sock.close()
            raise OvsdbError(f"{path}: cannot connect: {e.strerror or e}") from None
        sock.setblocking(False)
        self.sock: socket.socket | None = sock

    def fileno(self) -> int:
        """The socket, for a poll loop: readable means an update (or an echo) arrived."""
        if self.sock is None:
            raise OvsdbError(f"{self.path}: connection closed")
        return self.sock.fileno()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- wire ----------------------------------------------------------------------------------

    def _send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        deadline = time.monotonic() + self.timeout
        while data:
            sock = self._sock()
            try:
                sent = sock.send(data)
            except BlockingIOError:
                self._wait(select.POLLOUT, deadline)
                continue
            except OSError as e:
                self.close()
                raise OvsdbError(f"{self.path}: connection lost while writing: {e.strerror or e}") from None
            data = data[sent:]

    def _sock(self) -> socket.socket:
        if self.sock is None:
            raise OvsdbError(f"{self.path}: connection closed")
        return self.sock

    def _wait(self, events: int, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OvsdbError(f"{self.path}: no answer within {self.timeout:g} s")
        poller = select.poll()
        poller.register(self._sock(), events)
        if not poller.poll(left * 1000):
            raise OvsdbError(f"{self.path}: no answer within {self.timeout:g} s")

    def _fill(self) -> bool:
        """Read what is there without blocking; False if nothing was. Raises when the peer closed."""
        sock = self._sock()
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return False
        except OSError as e:
            self.close()
            raise OvsdbError(f"{self.path}: connection lost: {e.strerror or e}") from None
        if not data:
            self.close()
            raise OvsdbError(f"{self.path}: ovsdb-server closed the connection")
        try:
            self._buf += self._utf8.decode(data)
        except UnicodeDecodeError:
            self.close()
            raise OvsdbError(f"{self.path}: the server sent bytes that are not UTF-8 JSON") from None
        if len(self._buf) > MAX_BUFFER:
            self.close()
            raise OvsdbError(f"{self.path}: a reply of more than {MAX_BUFFER >> 20} MiB; refused")
        return True

    def _take(self) -> dict[str, Any] | None:
        """One complete message off the buffer, or None if it holds only part of one."""
        if self._buf.endswith("}"):  # likely whole (a big update: C-speed parse instead of the scan)
            start = len(self._buf) - len(self._buf.lstrip())
            try:
                msg, whole = _DECODER.raw_decode(self._buf, start)
            except json.JSONDecodeError:
                pass  # only part of one after all, or not JSON: the scan below tells
            else:
                if isinstance(msg, dict):
                    self._buf, self._splitter = self._buf[whole:], Splitter()
                    return msg
        elif len(self._buf) > BIG:
            return None  # the middle of a big message: wait for its end rather than scan it in Python
        try:
            end = self._splitter.feed(self._buf)
        except ValueError as e:
            self.close()
            raise OvsdbError(f"{self.path}: not JSON-RPC ({e})") from None
        if end is None:
            return None
        text, self._buf = self._buf[:end], self._buf[end:]
        self._splitter = Splitter()
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as e:
            self.close()
            raise OvsdbError(f"{self.path}: not JSON-RPC ({e.msg})") from None
        if not isinstance(msg, dict):
            self.close()
            raise OvsdbError(f"{self.path}: not JSON-RPC (a message that is not an object)")
        return msg

    def _handle(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """Answer echo; keep notifications; return a reply (a message with "result" or "error")."""
        method = msg.get("method")
        if method == "echo" and msg.get("id") is not None:
            self._send({"result": msg.get("params", []), "error": None, "id": msg["id"]})
            return None
        if method is not None:
            self._pending.append(msg)
            return None
        return msg

    # -- API -------------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        """Send a request and wait (at most `timeout`) for its reply; OvsdbError on an error reply."""
        if method == "transact":
            raise OvsdbError("the OVSDB reader never writes (transact is not available here)")
        return self._request(method, params)

    def _request(self, method: str, params: list[Any]) -> Any:
        """`call` without the reader's refusal of `transact`: only the write path
        (vnettop.ovsdb.transact, reached through the actions gate) uses it directly."""
        self._next_id += 1
        rid = self._next_id
        self._send({"method": method, "params": params, "id": rid})
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._take()
            if msg is None:
                if not self._fill():
                    self._wait(select.POLLIN, deadline)
                continue
            reply = self._handle(msg)
            if reply is None:
                continue
            if reply.get("id") != rid:
                continue  # a late reply to something we gave up on
            if reply.get("error") is not None:
                raise OvsdbError(f"{self.path}: {method} refused: {_error_text(reply['error'])}")
            return reply.get("result")

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification that has arrived, without waiting (echo requests are answered here)."""
        while self._fill():
            pass
        while (msg := self._take()) is not None:
            self._handle(msg)
        out, self._pending = self._pending, []
        return out


def _error_text(err: object) -> str:
    if isinstance(err, dict):
        return str(err.get("error", "")) + (f": {err['details']}" if err.get("details") else "")
    return str(err)


def default_socket() -> str:
    """`VNETTOP_OVSDB` or the usual place of ovsdb-server's socket."""
    return os.environ.get("VNETTOP_OVSDB") or "/run/openvswitch/db.sock"
