"""Holder identity: a process is its pid, its start time and the boot it runs in."""

from __future__ import annotations

import os
import subprocess

import pytest

from mcp_marshal.locks import UnknownProcess
from mcp_marshal.locks.liveness import holder_alive, holder_of, holder_pid


def test_this_process_is_alive_under_its_own_identity() -> None:
    me = holder_of(os.getpid())
    assert holder_alive(me) and holder_pid(me) == os.getpid()
    assert holder_of(0) == me  # 0 names the calling process, as in sched_setaffinity(0, ...)


def test_a_reused_pid_or_another_boot_is_not_the_holder() -> None:
    pid, start, boot = holder_of(os.getpid()).split(":")
    assert not holder_alive(f"{pid}:{int(start) - 1}:{boot}"), "a pid reused by another process counts as alive"
    assert not holder_alive(f"{pid}:{start}:another-boot")
    assert holder_alive(f"{pid}:{start}:-")  # boot unknown when it was recorded: pid + start decide


def test_a_process_that_exited_is_dead() -> None:
    child = subprocess.Popen(["sleep", "1000"])
    identity = holder_of(child.pid)
    assert holder_alive(identity)
    child.kill()
    assert child.wait() != 0
    assert not holder_alive(identity)
    with pytest.raises(UnknownProcess):
        holder_of(child.pid)


def test_a_zombie_is_dead() -> None:
    child = subprocess.Popen(["sleep", "1000"])
    identity = holder_of(child.pid)
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not holder_alive(identity)
    child.wait()


@pytest.mark.parametrize(
    ("holder", "alive"),
    [
        (f"{os.getpid()}-0123456789abcdef", True),  # a flock-file holder of an older version: its pid decides
        ("999999999-0123456789abcdef", False),
        ("garbage", True),  # unreadable: alive, so the lease ends with its TTL, never by a wrong grant
    ],
)
def test_holders_written_by_older_versions(holder: str, alive: bool) -> None:
    assert holder_alive(holder) is alive
