"""No orphans: every process group the supervisor starts dies with it, even after ``kill -9``.

Three layers, each covering what the one before cannot (DESIGN §4):

1. ``PR_SET_PDEATHSIG(SIGKILL)`` (Linux) kills each direct child the instant the spawning thread
   dies, with no help from user space.
2. A watchdog process (:mod:`.watchdog`), in a session of its own, holds the read end of a pipe
   only the supervisor can write to. EOF without ``bye`` means the supervisor died: it SIGKILLs
   every registered process group, which takes grandchildren (``npx`` → ``node``) with it.
3. A ledger file per supervisor (``{owner, groups: {pgid: leader start time}}``). If the
   watchdog was killed too, the next :meth:`Lifeline.start` on the machine reaps the groups of
   dead owners, guarded against pid reuse by the recorded start times.

Grandchildren that leave their group (``setsid``) are out of reach of all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mcp_marshal.paths import StateUnavailable, ensure_dir, state_root
from mcp_marshal.supervise.procfs import StartTime, boot_id, process_groups, process_start_time
from mcp_marshal.supervise.reaper import ReapReport, reap_stale

log = logging.getLogger(__name__)

WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")
LEDGER_VERSION = 1
PR_SET_PDEATHSIG = 1
# Generous: the watchdog starts in ~15 ms, but tests share two cores with other engineers.
READY_TIMEOUT_S = 10.0
# A watchdog dying this soon after its start, this many times in a row, is not restarted again.
QUICK_DEATH_S = 1.0
MAX_QUICK_DEATHS = 3


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc ``prctl``, resolved once in the parent so the post-fork hook does no loading."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


def _pdeathsig_hook(prctl: Callable[..., int], parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child die with its parent; tiny, since it runs after fork."""
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will ever come
            os._exit(127)

    return preexec


# ---- the supervisor's side ---------------------------------------------------------------------


class Lifeline:
    """Ties the life of every registered process group to this process.

    Call :meth:`start` once, spawn each child with :meth:`spawn_kwargs` from the thread that owns
    the event loop (PDEATHSIG fires when the *spawning thread* exits), :meth:`register` its pid
    right after the spawn and :meth:`unregister` it once its group is fully gone. :meth:`close`
    ends the watchdog without killing anything: stopping children is the orchestrator's job.
    """

    def __init__(self, ledger_dir: Path | None = None, *, watchdog: bool = True, pdeathsig: bool = True) -> None:
        self.ledger_dir = ledger_dir if ledger_dir is not None else state_root() / "lifeline"
        self._use_watchdog = watchdog
        self._use_pdeathsig = pdeathsig
        self._owner_start = process_start_time(os.getpid())
        self._boot_id = boot_id()
        start_tag = "x" if self._owner_start is None else str(self._owner_start).replace(".", "_")
        self.ledger_path = self.ledger_dir / f"{os.getpid()}-{start_tag}.json"
        self._groups: dict[int, StartTime | None] = {}
        self._registrations: dict[int, int] = {}
        """Registrations not yet undone, per pid: a pid reused while its old group awaits
        unregistering stays guarded until both are undone."""
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._wfd: int | None = None
        self._rfd: int | None = None
        self._pending = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[None] | None = None
        self._spawned_at = 0.0
        self._quick_deaths = 0
        self._ledger_flush: asyncio.Handle | None = None
        self._started = False
        self._closing = False
        self.degraded: str | None = None
        """Why there is no ledger (the state directory cannot be written), if so: the
        watchdog and PDEATHSIG still guard every group, only the next start's reaping is lost."""

    # -- public API

    @property
    def groups(self) -> Mapping[int, StartTime | None]:
        """Registered pgids and their leaders' start times."""
        return dict(self._groups)

    @property
    def watchdog_pid(self) -> int | None:
        """The current watchdog's pid (None if disabled or closed)."""
        return self._watchdog.pid if self._watchdog is not None else None

    async def start(self) -> ReapReport:
        """Reap what dead supervisors left behind, then start the watchdog and wait until it listens."""
        report = await asyncio.to_thread(self._prepare)
        self._loop = asyncio.get_running_loop()
        if self._use_watchdog:
            self._spawn_watchdog()
            assert self._ready is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_S)
            except (TimeoutError, RuntimeError) as exc:
                self._abort_start()
                raise RuntimeError("lifeline watchdog did not start") from exc
        return report

    def spawn_kwargs(self) -> dict[str, Any]:
        """Extra kwargs for ``create_subprocess_exec``/``Popen``: own session, and PDEATHSIG on Linux."""
        kwargs: dict[str, Any] = {"start_new_session": True}
        prctl = _prctl() if self._use_pdeathsig else None
        if prctl is not None:
            kwargs["preexec_fn"] = _pdeathsig_hook(prctl, os.getpid())
        return kwargs

    def register(self, pid: int) -> None:
        """Guard the group of ``pid``, a child just spawned in its own session (pgid == pid)."""
        if not self._started:
            raise RuntimeError("Lifeline.register() before start()")
        start = process_start_time(pid)
        if start is None:  # already exited and reaped: its group may live on, bound it by its members
            start = self._earliest_member_start(pid)
        self._groups[pid] = start
        self._registrations[pid] = self._registrations.get(pid, 0) + 1
        self._send(f"+{pid} {'-' if start is None else start}\n")
        self._ledger_changed()

    def unregister(self, pid: int) -> None:
        """Forget ``pid``'s group; call only once the group is gone (reaped and group-killed).

        If ``pid`` was registered again since (a new child got the reused pid), the group now
        belongs to that child and stays guarded until it is unregistered in turn.
        """
        left = self._registrations.pop(pid, 0) - 1
        if left > 0:
            self._registrations[pid] = left
            return
        self._groups.pop(pid, None)
        self._send(f"-{pid}\n")
        self._ledger_changed()

    async def close(self) -> None:
        """Orderly end: the watchdog exits without killing, the ledger is removed.

        Groups still registered are left running and unguarded: stop them before closing.
        """
        proc = self._begin_close()
        if proc is not None:
            await asyncio.to_thread(self._reap_watchdog, proc)
        self._finish_close()

    async def __aenter__(self) -> Lifeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- start

    def _prepare(self) -> ReapReport:
        if self._started:
            raise RuntimeError("Lifeline.start() called twice")
        try:
            ensure_dir(self.ledger_dir)
            report = reap_stale(self.ledger_dir, own=self.ledger_path)
            self._started = True
            self._write_ledger()
        except OSError as exc:
            why = str(exc) if isinstance(exc, StateUnavailable) else f"{self.ledger_dir}: {exc.strerror or exc}"
            self.degraded = f"{why}; a supervisor killed together with its watchdog may leave processes behind"
            self._started = True
            return ReapReport()
        return report

    def _spawn_watchdog(self) -> None:
        cmd_r, cmd_w = os.pipe()  # os.pipe() fds are close-on-exec: children never inherit cmd_w
        out_r, out_w = os.pipe()
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG_SCRIPT), "--owner", str(os.getpid()),
                 *(["--ledger", str(self.ledger_path)] if self.degraded is None else [])],
                stdin=cmd_r, stdout=out_w, close_fds=True, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            for fd in (cmd_r, cmd_w, out_r, out_w):
                os.close(fd)
            raise
        os.close(cmd_r)
        os.close(out_w)
        os.set_blocking(cmd_w, False)  # register() must never block on a stalled watchdog
        self._wfd, self._rfd = cmd_w, out_r
        self._pending.clear()
        self._spawned_at = time.monotonic()
        if self._loop is not None:
            self._ready = self._loop.create_future()
            self._loop.add_reader(out_r, self._on_watchdog_output)

    def _abort_start(self) -> None:
        proc = self._watchdog
        self._drop_watchdog()
        if proc is not None:
            proc.kill()
            proc.wait()
        self._finish_close()

    # -- watchdog link

    def _on_watchdog_output(self) -> None:
        assert self._rfd is not None
        try:
            data = os.read(self._rfd, 64)
        except OSError:
            data = b""
        if data:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        self._watchdog_died()

    def _watchdog_died(self) -> None:
        """Start a new watchdog and replay the groups, unless it keeps dying at once."""
        proc = self._watchdog
        quick = time.monotonic() - self._spawned_at < QUICK_DEATH_S
        self._drop_watchdog()
        if proc is not None:
            proc.wait()
        if self._closing:
            return
        rc = proc and proc.returncode
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(RuntimeError(f"lifeline watchdog exited at start (rc {rc})"))
            return
        self._quick_deaths = self._quick_deaths + 1 if quick else 0
        if self._quick_deaths > MAX_QUICK_DEATHS:
            log.error("lifeline: the watchdog keeps dying (rc %s); going on without it", rc)
            return
        log.warning("lifeline: watchdog exited (rc %s); restarting it", rc)
        self._spawn_watchdog()
        for pgid, start in self._groups.items():
            self._send(f"+{pgid} {'-' if start is None else start}\n")

    def _drop_watchdog(self) -> None:
        if self._rfd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._rfd)
            os.close(self._rfd)
        if self._wfd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_writer(self._wfd)
            os.close(self._wfd)
        self._rfd = self._wfd = None
        self._watchdog = None

    def _send(self, line: str) -> None:
        if self._wfd is None:
            return
        self._pending += line.encode()
        self._flush()

    def _flush(self) -> None:
        """Write what is pending without blocking; the loop finishes the job if the pipe is full."""
        if self._wfd is None or not self._pending:
            return
        try:
            written = os.write(self._wfd, self._pending)
        except BlockingIOError:
            written = 0
        except BrokenPipeError:
            self._watchdog_died()
            return
        del self._pending[:written]
        if self._loop is not None and not self._loop.is_closed():
            if self._pending:
                self._loop.add_writer(self._wfd, self._flush)
            else:
                self._loop.remove_writer(self._wfd)

    # -- close

    def _begin_close(self) -> subprocess.Popen[bytes] | None:
        self._closing = True
        proc = self._watchdog
        if self._wfd is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(self._wfd, True)
                os.write(self._wfd, bytes(self._pending) + b"bye\n")
        self._drop_watchdog()
        return proc

    @staticmethod
    def _reap_watchdog(proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.wait(READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # a wedged watchdog must not outlive us either
            proc.kill()
            proc.wait()

    def _finish_close(self) -> None:
        if self._ledger_flush is not None:
            self._ledger_flush.cancel()
            self._ledger_flush = None
        if self.degraded is None:
            self.ledger_path.unlink(missing_ok=True)
        self._started = False

    # -- ledger

    def _ledger_changed(self) -> None:
        """Rewrite the ledger now, or once per loop iteration when a loop is running.

        A rename over an existing file costs ~1 ms on ext4 (auto_da_alloc), so a burst of spawns
        shares one write. Until it runs the watchdog already knows the group, and the ledger only
        matters if the watchdog dies too.
        """
        if self._loop is None or self._loop.is_closed():
            self._write_ledger()
        elif self._ledger_flush is None:
            self._ledger_flush = self._loop.call_soon(self._write_ledger)

    def _write_ledger(self) -> None:
        """Rewrite our ledger atomically; no fsync: a crash of ours leaves the page cache intact."""
        self._ledger_flush = None
        doc = {
            "version": LEDGER_VERSION,
            "owner_pid": os.getpid(),
            "owner_start_time": self._owner_start,
            "boot_id": self._boot_id,
            "groups": {str(pgid): start for pgid, start in self._groups.items()},
        }
        if self.degraded is not None:
            return
        tmp = self.ledger_path.with_name(f".{self.ledger_path.name}.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.ledger_path)

    @staticmethod
    def _earliest_member_start(pgid: int) -> StartTime | None:
        snapshot = process_groups()
        starts = [start for _, start, _ in (snapshot or {}).get(pgid, [])]
        return min(starts) if starts else None
