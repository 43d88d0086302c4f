"""A stand-in supervisor for the lifeline tests: spawns fake servers through a Lifeline, then waits.

It prints one JSON line ``{"driver", "watchdog", "ledger", "children", "grandchildren"}`` once every
child is registered, and then waits to be killed. With ``--watch-restarts`` it also prints
``{"watchdog": PID}`` whenever the Lifeline has replaced a dead watchdog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from mcp_marshal.supervise.lifeline import Lifeline

FAKE_SERVER = Path(__file__).resolve().parent.parent / "fixtures" / "fake_server.py"


def child_env(i: int) -> dict[str, str]:
    """Every other child has a grandchild; the rest mix ignoring SIGTERM and stdin EOF."""
    env = dict(os.environ, FAKE_NAME=f"fake{i}")
    if i % 2 == 0:
        env["FAKE_GRANDCHILD"] = "1"
    if i % 3 == 0:
        env["FAKE_IGNORE_TERM"] = "1"
    if i % 3 != 2:
        env["FAKE_IGNORE_EOF"] = "1"
    return env


async def grandchild_pid(proc: asyncio.subprocess.Process) -> int:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        if line.startswith(b"grandchild "):
            return int(line.split()[1])
    raise RuntimeError(f"child {proc.pid} exited before naming its grandchild")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ledger-dir", type=Path, required=True)
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--no-watchdog", action="store_true")
    parser.add_argument("--no-pdeathsig", action="store_true")
    parser.add_argument("--watch-restarts", action="store_true")
    parser.add_argument("--fork-leak", action="store_true", help="fork a child that keeps every fd")
    args = parser.parse_args()

    lifeline = Lifeline(args.ledger_dir, watchdog=not args.no_watchdog, pdeathsig=not args.no_pdeathsig)
    await lifeline.start()
    procs = []
    for i in range(args.children):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(FAKE_SERVER),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=child_env(i), **lifeline.spawn_kwargs(),
        )  # fmt: skip
        lifeline.register(proc.pid)
        procs.append((i, proc))
    grandchildren = [await grandchild_pid(proc) for i, proc in procs if i % 2 == 0]
    leak = None
    if args.fork_leak:  # like multiprocessing's fork: the lifeline's write end stays open in it
        leak = os.fork()
        if leak == 0:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            signal.sigwait({signal.SIGINT})
            os._exit(0)
    info = {
        "driver": os.getpid(),
        "watchdog": lifeline.watchdog_pid,
        "ledger": str(lifeline.ledger_path),
        "children": [proc.pid for _, proc in procs],
        "grandchildren": grandchildren,
        "leak": leak,
    }
    print(json.dumps(info), flush=True)
    watchdog = lifeline.watchdog_pid
    while True:  # a test helper: polling here only reports, it synchronises nothing
        await asyncio.sleep(0.02 if args.watch_restarts else 3600)
        if args.watch_restarts and lifeline.watchdog_pid not in (None, watchdog):
            watchdog = lifeline.watchdog_pid
            print(json.dumps({"watchdog": watchdog}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
