"""One spawned server process: environment, spawn, bounded stderr, the stop sequence.

Every child runs in its own session (so its process group is ours to signal as a whole) and is
registered with the lifeline, which kills the group if we die without stopping it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mcp_marshal.config.models import ServerSpec, StopPolicy
from mcp_marshal.token_bucket import TokenBucket

STDERR_LINES = 200
STDERR_LINE_CHARS = 2000
LOG_LINES_PER_SECOND = 100
CHUNK = 64 * 1024


class SpawnError(Exception):
    """The server could not be started; the message is for the user (no secrets in it)."""


class Lifeline(Protocol):
    def spawn_kwargs(self) -> dict[str, Any]: ...
    def register(self, pid: int) -> None: ...
    def unregister(self, pid: int) -> None: ...


def build_env(
    base: Mapping[str, str], env_file: Mapping[str, str | None], env: Mapping[str, str | None]
) -> dict[str, str]:
    """The child's environment: everything we inherited, then ``envFile``, then ``env``.

    ``None`` unsets a variable. A ``PATH`` in ``env`` is appended to the inherited ``PATH``,
    as VS Code does, so a server entry cannot accidentally hide the system tools.
    """
    out = dict(base)
    for layer in (env_file, env):
        for key, value in layer.items():
            if value is None:
                out.pop(key, None)
            elif key == "PATH" and layer is env and out.get("PATH"):
                out["PATH"] = out["PATH"] + os.pathsep + value
            else:
                out[key] = value
    return out


def read_env_file(path: Path) -> dict[str, str | None]:
    """``KEY=VALUE`` lines (python-dotenv syntax); a read failure is the user's to fix."""
    from dotenv import dotenv_values

    if not path.is_file():
        raise SpawnError(f"envFile {path} does not exist")
    try:
        return dict(dotenv_values(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpawnError(f"envFile {path} could not be read: {exc.__class__.__name__}") from exc


def resolve_command(command: str, path_var: str, cwd: Path) -> str:
    """The executable to run, or a ``SpawnError`` that names the PATH we searched (the classic
    nvm/npx failure is a PATH the editor did not inherit from the shell)."""
    if os.sep in command:
        candidate = Path(command) if Path(command).is_absolute() else cwd / command
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise SpawnError(f"command `{command}` not found or not executable (looked at {candidate})")
    found = shutil.which(command, path=path_var)
    if found is None:
        raise SpawnError(f"command `{command}` not found on PATH={path_var}")
    return found


def describe_exit(code: int | None, sig: int | None) -> str:
    if sig:
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exited (code {code})"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    code: int | None
    signal: int | None

    def describe(self) -> str:
        return describe_exit(self.code, self.signal)


class StderrRing:
    """The last lines a server wrote to stderr, each clipped and redacted: stderr is a log,
    kept bounded, and may echo a token the server was given."""

    def __init__(self, lines: int = STDERR_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=lines)

    def tail(self, n: int | None = None) -> list[str]:
        items = list(self.lines)
        return items if n is None else items[-n:]


class Child:
    """A running server process. Created by :func:`spawn`; awaited by exactly one owner, who
    calls :meth:`release` once it is done with the exited process."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        lifeline: Lifeline | None,
        on_stderr: Callable[[str], None],
        ring: StderrRing,
        clean: Callable[[str], str] = lambda line: line,
        env_file_values: tuple[str, ...] = (),
    ) -> None:
        self.proc = proc
        self.env_file_values = env_file_values
        """What the ``envFile`` put in the environment: secrets to redact like ``env`` values."""
        self.pid = proc.pid
        self.ring = ring
        self._lifeline = lifeline
        self._on_stderr = on_stderr
        self._clean = clean
        self._stderr_task = asyncio.create_task(self._read_stderr(), name=f"stderr-{proc.pid}")
        self._exit: ExitStatus | None = None
        self._released = False
        self._wait_task = asyncio.create_task(self._wait(), name=f"wait-{proc.pid}")

    @property
    def stdout(self) -> asyncio.StreamReader:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def stdin(self) -> asyncio.StreamWriter:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._exit

    async def _read_stderr(self) -> None:
        """Split stderr into lines without ever buffering more than one clipped line; every line
        enters the ring, at most ``LOG_LINES_PER_SECOND`` a second go on to ``on_stderr``."""
        assert self.proc.stderr is not None
        partial = ""
        bucket = TokenBucket(rate=LOG_LINES_PER_SECOND, burst=LOG_LINES_PER_SECOND)
        while True:
            chunk = await self.proc.stderr.read(CHUNK)
            if not chunk:
                break
            text = partial + chunk.decode("utf-8", "replace")
            *lines, partial = text.split("\n")
            if len(partial) > STDERR_LINE_CHARS:  # a huge unterminated line: keep its head only
                lines.append(partial[:STDERR_LINE_CHARS])
                partial = ""
            now = time.monotonic()
            for raw in lines:
                line = self._clean(raw.rstrip("\r")[:STDERR_LINE_CHARS])
                self.ring.lines.append(line)
                if bucket.take(now):
                    self._report_suppressed(bucket)
                    self._on_stderr(line)
        if partial:
            line = self._clean(partial[:STDERR_LINE_CHARS])
            self.ring.lines.append(line)
            self._on_stderr(line)
        self._report_suppressed(bucket)

    def _report_suppressed(self, bucket: TokenBucket) -> None:
        if count := bucket.drain_suppressed():
            self._on_stderr(f"… {count} stderr lines not forwarded (rate limit)")

    async def _wait(self) -> ExitStatus:
        rc = await self.proc.wait()
        # The leader is gone; anything left in its group (an npx → node pair) must go too.
        self._kill_group(signal.SIGKILL)
        if not self._stderr_task.done():  # usually at EOF already: the exit closed the pipe
            try:
                await asyncio.wait_for(self._stderr_task, 1.0)
            except (TimeoutError, asyncio.CancelledError):
                self._stderr_task.cancel()
        self._exit = ExitStatus(rc, None) if rc >= 0 else ExitStatus(None, -rc)
        return self._exit

    async def wait(self) -> ExitStatus:
        """Wait until the process has exited and been reaped (group killed, stderr drained);
        the group stays registered with the lifeline until :meth:`release`."""
        return await asyncio.shield(self._wait_task)

    def release(self) -> None:
        """Take the (reaped, group-killed) group off the lifeline; idempotent, no-op while running.
        (A newer child that got the same pid stays guarded: the lifeline counts registrations.)"""
        if self._released or self._exit is None:
            return
        self._released = True
        if self._lifeline is not None:
            self._lifeline.unregister(self.pid)

    def _kill_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop(self, policy: StopPolicy) -> ExitStatus:
        """Close stdin → wait → SIGTERM the group → wait → SIGKILL the group (DESIGN §4)."""
        if self._exit is not None:
            return self._exit
        try:
            self.stdin.close()
        except (OSError, RuntimeError):
            pass
        for sig, grace_ms in (
            (signal.SIGTERM, policy.stdin_grace_ms),
            (signal.SIGKILL, policy.term_grace_ms),
        ):
            try:
                return await asyncio.wait_for(self.wait(), grace_ms / 1000)
            except TimeoutError:
                self._kill_group(sig)
        return await self.wait()


async def spawn(
    spec: ServerSpec,
    *,
    lifeline: Lifeline | None,
    on_stderr: Callable[[str], None],
    ring: StderrRing | None = None,
    clean: Callable[[str], str] = lambda line: line,
) -> Child:
    """Start ``spec``'s process in its own session with pipes on stdin, stdout and stderr."""
    assert spec.command is not None
    cwd = spec.cwd or Path.cwd()
    if not cwd.is_dir():
        raise SpawnError(f"working directory {cwd} does not exist")
    env_file = read_env_file(spec.env_file) if spec.env_file else {}
    env = build_env(os.environ, env_file, spec.env)
    exe = resolve_command(spec.command, env.get("PATH", ""), cwd)
    kwargs: dict[str, Any] = lifeline.spawn_kwargs() if lifeline is not None else {"start_new_session": True}
    try:
        proc = await asyncio.create_subprocess_exec(
            exe,
            *spec.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            **kwargs,
        )
    except OSError as exc:
        raise SpawnError(f"could not start `{spec.command}`: {exc.strerror or exc}") from exc
    if lifeline is not None:
        lifeline.register(proc.pid)
    secrets = tuple(v for v in env_file.values() if v)
    return Child(proc, lifeline, on_stderr, ring or StderrRing(), clean, secrets)
