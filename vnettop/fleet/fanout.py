"""`vnettop fleet dump`: run vnettop on many hosts through the system's `ssh`, a bounded number at once.

Why the real `ssh` and not a Python SSH library: the operator's ssh_config (ProxyJump, ControlMaster,
certificates, the agent, per-host users and keys) is the one thing every fleet already has working, and
only OpenSSH reads all of it. `BatchMode=yes` makes a host that would ask for a password or a host-key
confirmation fail at once instead of hanging the run.

Each host runs in its own process group with a deadline: when it passes, the whole group (ssh and any
ProxyCommand it started) is killed, so one dead host never holds a slot or the run. Whatever goes wrong on
one host (refused, unreachable, timed out, a non-zero exit, output that is not a snapshot) becomes one
`ok: false` line with a one-line reason; results are written in the order the hosts were given, each as
soon as every host before it is done.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from vnettop.errors import VnettopError
from vnettop.fleet.defaults import DEFAULT_PARALLEL, DEFAULT_REMOTE, DEFAULT_TIMEOUT
from vnettop.fleet.fleetfile import entry_line
from vnettop.textsafe import printable_line


@dataclass(frozen=True, slots=True)
class Result:
    """What one host answered: a snapshot object, or a one-line reason."""

    host: str
    ok: bool
    ms: int
    snapshot: dict[str, object] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    ssh: str = "ssh"
    ssh_config: str | None = None  # ssh -F FILE
    ssh_options: tuple[str, ...] = ()  # extra -o KEY=VALUE
    remote: str = DEFAULT_REMOTE
    timeout: float = DEFAULT_TIMEOUT
    parallel: int = DEFAULT_PARALLEL


def read_hostfile(path: str) -> list[str]:
    """Hosts from a file: one a line; blank lines and `#` comments ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise VnettopError(f"cannot read host file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise VnettopError(f"host file {path} is not text") from None
    hosts = [ln.split("#", 1)[0].strip() for ln in lines]
    return [h for h in hosts if h]


def check_host(host: str) -> str:
    """A host alias as ssh will take it; refuses what ssh would read as an option or what cannot be a name."""
    if not host or host.startswith("-") or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in host):
        raise VnettopError(f"not a host name: {printable_line(host)!r}")
    return host


def ssh_argv(cfg: FanoutConfig, host: str) -> list[str]:
    argv = [cfg.ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(cfg.timeout))}"]
    if cfg.ssh_config:
        argv += ["-F", cfg.ssh_config]
    for opt in cfg.ssh_options:
        argv += ["-o", opt]
    return [*argv, "--", host, cfg.remote]


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return printable_line(lines[-1])[:300] if lines else ""


def _judge(host: str, code: int, out: bytes, err: bytes, ms: int) -> Result:
    """Turn one finished ssh into a Result: a checked snapshot, or the reason it is not one."""
    if code == 255:
        return Result(host, False, ms, error=f"ssh failed: {_last_line(err) or 'exit status 255'}")
    if code != 0:
        tail = _last_line(err)
        return Result(host, False, ms, error=f"remote command exited {code}" + (f": {tail}" if tail else ""))
    try:
        obj = json.loads(out)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        what = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        return Result(host, False, ms, error=f"output is not a vnettop snapshot: not JSON ({what})")
    from vnettop.render.json import snapshot_from_dict

    try:
        snapshot_from_dict(obj, source="output")
    except VnettopError as e:
        reason = printable_line(str(e))[:300]
        return Result(host, False, ms, error=f"output is not a vnettop snapshot: {reason}")
    return Result(host, True, ms, snapshot=obj)


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Running:
    """The ssh processes in flight, so that an interrupted run (Ctrl-C, SIGTERM) kills them all at once
    instead of waiting for each one's deadline."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.cancelled.is_set():
            _killpg(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _killpg(proc)


def run_host(cfg: FanoutConfig, host: str, running: Running) -> Result:
    """Ask one host; never raises for anything the host or the network does."""
    start = time.monotonic()
    if running.cancelled.is_set():
        return Result(host, False, 0, error="not asked: the run was interrupted")
    try:
        proc = subprocess.Popen(ssh_argv(cfg, host), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return Result(host, False, 0, error=f"cannot run {cfg.ssh}: {e.strerror or e}")
    running.add(proc)
    try:
        out, err = proc.communicate(timeout=cfg.timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc)
        proc.kill()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        ms = int((time.monotonic() - start) * 1000)
        return Result(host, False, ms, error=f"no answer within {cfg.timeout:g} s")
    finally:
        running.discard(proc)
    ms = int((time.monotonic() - start) * 1000)
    return _judge(host, proc.returncode, out, err, ms)


class Progress:
    """`fleet: 12/40 done, 2 failed, 8 running` on one terminal line, rewritten in place (stderr)."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total, self.stream = total, stream
        self.done = self.failed = self.running = 0
        self._lock = threading.Lock()
        self._last = 0.0

    def update(self, started: int = 0, finished: Result | None = None) -> None:
        with self._lock:
            self.running += started
            if finished is not None:
                self.running -= 1
                self.done += 1
                self.failed += 0 if finished.ok else 1
            now = time.monotonic()
            if self.stream is None or (now - self._last < 0.1 and self.done < self.total):
                return
            self._last = now
            self.stream.write(f"\r\x1b[Kfleet: {self.done}/{self.total} done, {self.failed} failed, "
                              f"{self.running} running")
            self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def fan_out(hosts: Sequence[str], cfg: FanoutConfig, write: Callable[[str], None],
            progress: Progress | None = None) -> list[Result]:
    """Ask every host, at most `cfg.parallel` at once; `write` gets each fleet line in host order."""
    running = Running()
    results: list[Result | None] = [None] * len(hosts)
    next_out = 0
    lock = threading.Lock()

    def one(i: int) -> Result:
        if progress is not None:
            progress.update(started=1)
        return run_host(cfg, hosts[i], running)

    def finished(i: int, fut: Future[Result]) -> None:
        nonlocal next_out
        result = fut.result()
        if progress is not None:
            progress.update(finished=result)
        with lock:
            results[i] = result
            while next_out < len(hosts) and results[next_out] is not None:
                r = results[next_out]
                assert r is not None
                write(entry_line(r.host, r.ok, r.ms, r.snapshot, r.error) + "\n")
                next_out += 1

    with ThreadPoolExecutor(max_workers=max(1, cfg.parallel), thread_name_prefix="vnt-fleet") as pool:
        futures: list[Future[Result]] = []
        try:
            for i in range(len(hosts)):
                fut = pool.submit(one, i)
                fut.add_done_callback(lambda f, i=i: finished(i, f))  # type: ignore[misc]
                futures.append(fut)
            for fut in futures:
                fut.result()
        except BaseException:
            running.cancel()
            for fut in futures:
                fut.cancel()
            raise
    return [r for r in results if r is not None]


def remote_words(command: str) -> str:
    """Check a remote command parses as shell words (a clear error now beats 40 failed hosts later)."""
    try:
        shlex.split(command)
    except ValueError as e:
        raise VnettopError(f"--remote-command is not a valid shell command: {e}") from None
    return command
