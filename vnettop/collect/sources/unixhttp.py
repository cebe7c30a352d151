"""One HTTP GET over a unix socket with a hard deadline: how a source asks a daemon's REST API (Docker's
Engine API) without a client library.

Plain HTTP/1.0 (`Connection: close`): the server then sends the body whole and closes, never chunked
(Go's net/http cannot chunk for 1.0), so one read loop to EOF is the whole protocol; a chunked reply is
still decoded in case a proxy answers 1.1. Every wait is bounded by the caller's absolute `deadline`
(time.monotonic), so a daemon that accepts and never answers, or trickles bytes, costs at most what is
left of the budget. The reply is bounded too (`MAX_REPLY`). Failures are one `UnixHttpError` whose text
is a short reason ("timed out", "connection refused", "HTTP 500: ..."), for the caller to name its socket.
"""

from __future__ import annotations

import json
import socket
import time

#: Largest reply read (a host with thousands of containers stays well under it).
MAX_REPLY = 32 << 20


class UnixHttpError(Exception):
    """The request failed; str() is a short reason."""


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise UnixHttpError("timed out")
    return left


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise UnixHttpError("truncated chunked reply")
        try:
            size = int(body[pos:end].split(b";")[0], 16)
        except ValueError:
            raise UnixHttpError("malformed chunked reply") from None
        if size == 0:
            return bytes(out)
        start = end + 2
        if start + size > len(body):
            raise UnixHttpError("truncated chunked reply")
        out += body[start:start + size]
        pos = start + size + 2


def get(sock_path: str, path: str, deadline: float) -> bytes:
    """The body of `GET path` on the unix socket `sock_path` (status 200 only)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            s.settimeout(_left(deadline))
            s.connect(sock_path)
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: vnettop\r\n\r\n".encode())
            data = bytearray()
            while True:
                s.settimeout(_left(deadline))
                chunk = s.recv(262144)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_REPLY:
                    raise UnixHttpError(f"reply larger than {MAX_REPLY >> 20} MiB")
        except TimeoutError:
            raise UnixHttpError("timed out") from None
        except ConnectionRefusedError:
            raise UnixHttpError("connection refused (daemon not running or restarting)") from None
        except FileNotFoundError:
            raise UnixHttpError("no such socket") from None
        except OSError as exc:
            raise UnixHttpError(exc.strerror or str(exc)) from None
    finally:
        s.close()
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        raise UnixHttpError("no complete HTTP reply" if data else "closed without a reply")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UnixHttpError(f"not an HTTP reply: {lines[0][:60]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif headers.get("content-length", "").isdigit() and len(body) < int(headers["content-length"]):
        raise UnixHttpError(f"truncated reply ({len(body)} of {headers['content-length']} bytes)")
    if parts[1] != "200":
        detail = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
        raise UnixHttpError(f"HTTP {parts[1]}: {detail}")
    return body


def get_json(sock_path: str, path: str, deadline: float) -> object:
    """`get`, parsed as JSON (a malformed reply is a UnixHttpError too)."""
    body = get(sock_path, path, deadline)
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise UnixHttpError(f"malformed JSON reply ({exc.msg} at byte {exc.pos})") from None
    except ValueError as exc:  # not UTF-8
        raise UnixHttpError(f"malformed JSON reply ({exc})") from None
