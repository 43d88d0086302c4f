"""The no-orphans guarantee (DESIGN §4), with real processes: kill -9 the supervisor, count survivors.

A driver process (``lifeline_driver.py``) plays the supervisor: it spawns fake servers, some with
a SIGTERM- and EOF-ignoring grandchild in their group, through a Lifeline. The tests SIGKILL it
(and in the worst case its watchdog too) and watch what is left, by pid and by process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from mcp_marshal.supervise.lifeline import Lifeline
from mcp_marshal.supervise.procfs import process_start_time
from mcp_marshal.supervise.reaper import reap_stale

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "lifeline_driver.py"
FAKE_SERVER = HERE.parent / "fixtures" / "fake_server.py"
REQUIRED_S = 2.0  # the requirement itself: everything gone within 2 s of the supervisor's death
SLOW_S = 60.0  # for anything that only has to happen eventually on a loaded 2-core machine
SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]


# ---- observing processes (psutil: independent of the code under test) ------------------------


def alive(proc: psutil.Process) -> bool:
    """Running and the same process (psutil checks the create time); a zombie counts as dead."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgids: set[int]) -> list[psutil.Process]:
    """Live processes whose process group is one of ``pgids``, found by scanning every process."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in pgids and alive(proc):
                found.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return found


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.005) -> float:
    """Poll ``condition`` until true; return the seconds it took, or fail at ``timeout``."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.perf_counter() - start


def ignored_signals(pid: int) -> set[int]:
    """The signals ``pid`` ignores, from the SigIgn mask in /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {sig for sig in range(1, 65) if mask & (1 << (sig - 1))}
    return set()


def pipe_fds(pid: int) -> set[str]:
    """The pipes ``pid`` holds open, as ``pipe:[inode]`` strings."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links.add(os.readlink(fd))
    return {link for link in links if link.startswith("pipe:")}


# ---- cleanup: nothing a test starts may outlive it, pass or fail ------------------------------


class Reaper:
    """Remembers every process and group a test started; kills whatever is left at teardown."""

    def __init__(self) -> None:
        self.since = time.time() - 1
        self.procs: list[psutil.Process] = []
        self.pgids: set[int] = set()

    def track(self, *pids: int, group: bool = False) -> list[psutil.Process]:
        procs = []
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(pid))
            if group:
                self.pgids.add(pid)
        self.procs += procs
        return procs

    def kill_all(self) -> None:
        for proc in [*group_members(self.pgids), *self.procs]:
            # create_time guards against killing a process that reused a pid after the test
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.create_time() >= self.since:
                    proc.kill()
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired, psutil.AccessDenied):
                proc.wait(5)  # reap our own children; others are reaped by init


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    r = Reaper()
    yield r
    r.kill_all()


@pytest.fixture
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MCP_MARSHAL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state" / "lifeline"


# ---- the driver ------------------------------------------------------------------------------


@dataclass
class Driver:
    proc: subprocess.Popen[bytes]
    info: dict
    children: list[psutil.Process]
    grandchildren: list[psutil.Process]
    watchdog: psutil.Process | None

    @property
    def everything(self) -> list[psutil.Process]:
        return [*self.children, *self.grandchildren, *([self.watchdog] if self.watchdog else [])]

    @property
    def pgids(self) -> set[int]:
        return set(self.info["children"])

    def read_line(self, timeout: float = SLOW_S) -> dict:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            raise AssertionError(f"driver printed nothing (rc {self.proc.poll()})")
        return json.loads(line)

    def sigkill(self) -> None:
        self.proc.kill()
        self.proc.wait()  # reaped at once: a zombie driver would still look like a live owner


def start_driver(reaper: Reaper, ledger_dir: Path, tmp_path: Path, *flags: str) -> Driver:
    stderr = open(tmp_path / "driver.stderr", "wb")  # noqa: SIM115 (kept open for the child)
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), "--ledger-dir", str(ledger_dir), *flags],
        stdout=subprocess.PIPE, stderr=stderr,
    )  # fmt: skip
    stderr.close()
    reaper.track(proc.pid)
    driver = Driver(proc, {}, [], [], None)
    try:
        driver.info = info = driver.read_line()
    except AssertionError:
        raise AssertionError((tmp_path / "driver.stderr").read_text()) from None
    driver.children = reaper.track(*info["children"], group=True)
    driver.grandchildren = reaper.track(*info["grandchildren"])
    if info["watchdog"] is not None:
        driver.watchdog = reaper.track(info["watchdog"])[0]
    assert len(driver.children) == 10 and len(driver.grandchildren) == 5
    assert all(alive(p) for p in driver.everything)
    # the usual npx -> node shape: the grandchild shares its parent's process group
    assert {os.getpgid(p.pid) for p in driver.grandchildren} <= driver.pgids
    return driver


def all_gone(driver: Driver) -> Callable[[], bool]:
    return lambda: not any(alive(p) for p in driver.everything) and not group_members(driver.pgids)


# ---- the guarantee ---------------------------------------------------------------------------


def test_sigkill_of_the_supervisor_leaves_no_process_behind(reaper: Reaper, ledger_dir: Path, tmp_path: Path) -> None:
    driver = start_driver(reaper, ledger_dir, tmp_path)
    assert driver.watchdog is not None
    # `pkill -f mcp-marshal` or a terminal's signals must not take the watchdog down first
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= ignored_signals(driver.watchdog.pid)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        driver.watchdog.send_signal(sig)

    t0 = time.perf_counter()
    driver.sigkill()
    wait_for(all_gone(driver), SLOW_S)
    elapsed = time.perf_counter() - t0
    print(f"\nSIGKILL of the supervisor -> 10 children + 5 grandchildren + watchdog gone in {elapsed * 1000:.0f} ms")
    assert elapsed < REQUIRED_S
    assert not Path(driver.info["ledger"]).exists(), "the watchdog did its job, so it removes the ledger"


def test_without_the_watchdog_pdeathsig_kills_children_but_not_grandchildren(
    reaper: Reaper, ledger_dir: Path, tmp_path: Path
) -> None:
    driver = start_driver(reaper, ledger_dir, tmp_path, "--no-watchdog")
    t0 = time.perf_counter()
    driver.sigkill()
    wait_for(lambda: not any(alive(p) for p in driver.children), REQUIRED_S)
    print(f"\nPDEATHSIG alone: 10 children gone in {(time.perf_counter() - t0) * 1000:.0f} ms")
    # This is why the watchdog exists: the grandchildren ignore SIGTERM and EOF, nothing kills them.
    assert all(alive(p) for p in driver.grandchildren)
    assert Path(driver.info["ledger"]).exists()


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["pdeathsig", "no-pdeathsig (like macOS)"])
def test_the_next_start_reaps_what_a_dead_supervisor_and_watchdog_left(
    reaper: Reaper, ledger_dir: Path, tmp_path: Path, pdeathsig: bool
) -> None:
    driver = start_driver(reaper, ledger_dir, tmp_path, *([] if pdeathsig else ["--no-pdeathsig"]))
    assert driver.watchdog is not None
    driver.proc.send_signal(signal.SIGSTOP)  # frozen, so it cannot replace the watchdog we kill
    driver.watchdog.kill()
    wait_for(lambda: not alive(driver.watchdog), SLOW_S)
    driver.sigkill()
    # Without PDEATHSIG a child still dies by itself when it honours EOF on its stdin (the dead
    # driver held the other end) and has no grandchild; wait for those, so exactly the groups
    # that still have members are left for the reaper.
    children = list(enumerate(driver.children))
    dies_alone = [p for i, p in children if pdeathsig or (i % 3 == 2 and i % 2 != 0)]
    wait_for(lambda: not any(alive(p) for p in dies_alone), REQUIRED_S)
    assert all(alive(p) for p in driver.grandchildren)
    assert Path(driver.info["ledger"]).exists()
    left = {p.pid for i, p in children if i % 2 == 0 or p not in dies_alone}

    async def next_start() -> None:
        lifeline = Lifeline(ledger_dir)
        t0 = time.perf_counter()
        report = await lifeline.start()
        print(f"\nledger reaping at start: {(time.perf_counter() - t0) * 1000:.0f} ms, {report}")
        try:
            assert not any(alive(p) for p in driver.everything)
            assert not group_members(driver.pgids)
            assert not Path(driver.info["ledger"]).exists()
            assert set(report.killed) == left
            assert report.foreign == [] and report.survivors == []
        finally:
            await lifeline.close()

    asyncio.run(next_start())


def test_a_fork_that_keeps_the_write_end_open_does_not_blind_the_watchdog(
    reaper: Reaper, ledger_dir: Path, tmp_path: Path
) -> None:
    driver = start_driver(reaper, ledger_dir, tmp_path, "--fork-leak")
    (leak,) = reaper.track(driver.info["leak"])
    assert alive(leak)
    t0 = time.perf_counter()
    driver.sigkill()
    wait_for(all_gone(driver), SLOW_S)
    elapsed = time.perf_counter() - t0
    print(f"\nwrite end leaked by a fork: everything gone {elapsed * 1000:.0f} ms after the SIGKILL")
    assert elapsed < REQUIRED_S  # no EOF here: the watchdog's parent-pid check caught it
    assert alive(leak), "the fork is not ours to kill: it left no registered group"


def test_a_watchdog_killed_while_the_supervisor_lives_is_replaced(
    reaper: Reaper, ledger_dir: Path, tmp_path: Path
) -> None:
    driver = start_driver(reaper, ledger_dir, tmp_path, "--watch-restarts")
    assert driver.watchdog is not None
    driver.watchdog.kill()
    replacement = reaper.track(driver.read_line()["watchdog"])[0]
    driver.watchdog = replacement
    t0 = time.perf_counter()
    driver.sigkill()
    wait_for(all_gone(driver), SLOW_S)
    elapsed = time.perf_counter() - t0
    print(f"\nreplacement watchdog: everything gone {elapsed * 1000:.0f} ms after the SIGKILL")
    assert elapsed < REQUIRED_S


# ---- the ledger's pid-reuse guard --------------------------------------------------------------


def write_ledger(path: Path, owner: tuple[int, int | None], groups: dict[int, int], boot: str) -> None:
    doc = {"version": 1, "owner_pid": owner[0], "owner_start_time": owner[1], "boot_id": boot,
           "groups": {str(k): v for k, v in groups.items()}}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def sleepers(reaper: Reaper, n: int) -> list[psutil.Process]:
    procs = [subprocess.Popen(SLEEPER, start_new_session=True) for _ in range(n)]
    return reaper.track(*(p.pid for p in procs), group=True)


def dead_owner() -> tuple[int, int]:
    """A pid whose process has exited, with a start time no process of that pid can have now."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid, 1


def test_reaping_never_kills_a_process_that_reused_a_recorded_pgid(reaper: Reaper, ledger_dir: Path) -> None:
    younger, older, ours, live_owners, other_boot = sleepers(reaper, 5)
    start = {p.pid: process_start_time(p.pid) for p in (younger, older, ours, live_owners, other_boot)}
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    write_ledger(ledger_dir / "dead.json", dead_owner(), {
        younger.pid: start[younger.pid] - 100,  # recorded leader is older than the process now there
        older.pid: start[older.pid] + 100,  # recorded leader is younger: the live one predates it
        ours.pid: start[ours.pid],  # the genuine leftover
    }, boot)  # fmt: skip
    write_ledger(ledger_dir / "live.json", (os.getpid(), process_start_time(os.getpid())),
                 {live_owners.pid: start[live_owners.pid]}, boot)  # fmt: skip
    write_ledger(ledger_dir / "old-boot.json", dead_owner(), {other_boot.pid: start[other_boot.pid]},
                 "00000000-0000-0000-0000-000000000000")  # fmt: skip

    report = reap_stale(ledger_dir)

    assert report.killed == [ours.pid]
    assert sorted(report.foreign) == sorted([younger.pid, older.pid])
    assert not alive(ours)
    assert alive(younger) and alive(older), "pid reuse: not ours, never killed"
    assert alive(live_owners), "a live supervisor's groups are its own business"
    assert alive(other_boot), "a ledger from another boot names processes that are long gone"
    assert sorted(p.name for p in ledger_dir.iterdir()) == ["live.json"]


# ---- orderly close and the pipe's write end ------------------------------------------------------


async def test_close_ends_the_watchdog_and_leaves_children_alive(reaper: Reaper, ledger_dir: Path) -> None:
    lifeline = Lifeline()
    await lifeline.start()
    assert lifeline.ledger_path.parent == ledger_dir
    watchdog = reaper.track(lifeline.watchdog_pid)[0]
    (lifeline_pipe,) = {os.readlink(f"/proc/{watchdog.pid}/fd/0")}
    children = []
    for env in ({"FAKE_GRANDCHILD": "1"}, {"FAKE_IGNORE_EOF": "1"}):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(FAKE_SERVER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, **env}, **lifeline.spawn_kwargs(),
        )  # fmt: skip
        lifeline.register(proc.pid)
        children.append(proc)
    assert children[0].stderr is not None
    grandchild = int((await children[0].stderr.readline()).split()[1])
    # even a careless spawn that keeps every inheritable fd must not get the write end
    careless = subprocess.Popen(SLEEPER, close_fds=False, **lifeline.spawn_kwargs())
    lifeline.register(careless.pid)
    procs = reaper.track(*(p.pid for p in children), careless.pid, group=True) + reaper.track(grandchild)

    assert lifeline_pipe in pipe_fds(os.getpid()), "we hold the write end"
    for proc in procs:
        assert lifeline_pipe not in pipe_fds(proc.pid), f"{proc.cmdline()} inherited the lifeline"

    await lifeline.close()
    assert not alive(watchdog)
    assert all(alive(p) for p in procs), "orderly shutdown of children is the orchestrator's job"
    assert not lifeline.ledger_path.exists()
    for proc in children:  # the group: asyncio's wait() also waits for the grandchild to drop the pipes
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    careless.kill()
    careless.wait()


async def test_a_reused_pid_stays_guarded_until_its_new_child_is_unregistered(reaper: Reaper) -> None:
    """A crashed child is unregistered after its respawn is registered; if the respawn got the
    same pid, undoing the old registration must not unguard the new, live group."""
    async with Lifeline() as lifeline:
        proc = await asyncio.create_subprocess_exec(*SLEEPER, **lifeline.spawn_kwargs())
        reaper.track(proc.pid, group=True)
        lifeline.register(proc.pid)  # the old child's registration, not yet undone
        lifeline.register(proc.pid)  # the new child's, same pid
        lifeline.unregister(proc.pid)  # the old child released
        await asyncio.sleep(0)  # one loop iteration: the coalesced ledger write has run
        assert set(lifeline.groups) == {proc.pid}
        assert json.loads(lifeline.ledger_path.read_text())["groups"] == {str(proc.pid): process_start_time(proc.pid)}
        lifeline.unregister(proc.pid)  # the new child released
        await asyncio.sleep(0)
        assert lifeline.groups == {}
        assert json.loads(lifeline.ledger_path.read_text())["groups"] == {}
        proc.kill()
        await proc.wait()


async def test_register_is_cheap_and_the_ledger_follows(reaper: Reaper, ledger_dir: Path) -> None:
    async with Lifeline() as lifeline:
        proc = await asyncio.create_subprocess_exec(*SLEEPER, **lifeline.spawn_kwargs())
        reaper.track(proc.pid, group=True)
        n = 500
        t0 = time.perf_counter()
        for _ in range(n):
            lifeline.register(proc.pid)
            lifeline.unregister(proc.pid)
        per_call_us = (time.perf_counter() - t0) / (2 * n) * 1e6
        lifeline.register(proc.pid)
        await asyncio.sleep(0)  # one loop iteration: the coalesced ledger write has run
        ledger = json.loads(lifeline.ledger_path.read_text())
        assert ledger["groups"] == {str(proc.pid): process_start_time(proc.pid)}
        lifeline.unregister(proc.pid)
        await asyncio.sleep(0)
        assert json.loads(lifeline.ledger_path.read_text())["groups"] == {}
        print(f"\nregister/unregister: {per_call_us:.0f} us per call (ledger write coalesced)")
        assert per_call_us < 1000
        proc.kill()
        await proc.wait()
