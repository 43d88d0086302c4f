"""The reload diff: start added, stop removed, restart changed and their dependents."""

from __future__ import annotations

from mcp_marshal.config import Config, ReloadPlan, plan_reload

from .helpers import load

BASE = {
    "db": '{ "command": "db" }',
    "api": '{ "command": "api", "dependsOn": ["db"] }',
    "web": '{ "command": "web", "dependsOn": ["api"] }',
    "docs": '{ "command": "docs" }',
}


def config(servers: dict[str, str], extra: str = "") -> Config:
    body = ",\n".join(f'"{name}": {spec}' for name, spec in servers.items())
    result = load('{"settings": {"mcpMarshal.servers": {' + body + "}" + extra + "}}")
    assert result.config is not None, [p.format() for p in result.problems]
    return result.config


def test_identical_configs_change_nothing() -> None:
    plan = plan_reload(config(BASE), config(BASE))
    assert plan == ReloadPlan(unchanged=("api", "db", "docs", "web")) and plan.empty
    assert plan.summary() == "no changes"


def test_added_and_removed() -> None:
    new = {k: v for k, v in BASE.items() if k != "docs"} | {"cache": '{ "command": "cache" }'}
    plan = plan_reload(config(BASE), config(new))
    assert plan.start == ("cache",) and plan.stop == ("docs",)
    assert plan.restart == () and plan.unchanged == ("api", "db", "web")


def test_a_changed_server_restarts_with_everything_that_waits_for_it() -> None:
    plan = plan_reload(config(BASE), config(BASE | {"db": '{ "command": "db", "args": ["--v2"] }'}))
    assert plan.restart == ("api", "db", "web") and plan.unchanged == ("docs",)
    plan = plan_reload(config(BASE), config(BASE | {"web": '{ "command": "web2", "dependsOn": ["api"] }'}))
    assert plan.restart == ("web",) and plan.unchanged == ("api", "db", "docs")


def test_env_header_and_cwd_changes_restart() -> None:
    for change in ('{ "command": "docs", "env": {"A": "1"} }', '{ "command": "docs", "cwd": "/tmp" }'):
        assert plan_reload(config(BASE), config(BASE | {"docs": change})).restart == ("docs",)
    http = {"h": '{ "url": "http://x/mcp", "headers": {"A": "1"} }'}
    assert plan_reload(config(http), config({"h": '{ "url": "http://x/mcp", "headers": {"A": "2"} }'})).restart == (
        "h",
    )


def test_policy_autostart_and_order_changes_are_updates() -> None:
    new = BASE | {
        "db": '{ "command": "db", "restart": { "maxRestarts": 1 } }',
        "docs": '{ "command": "docs", "autoStart": false, "tier": 3 }',
    }
    plan = plan_reload(config(BASE), config(new))
    assert plan.update == ("db", "docs") and plan.restart == ()
    assert plan.unchanged == ("api", "web") and plan.summary() == "2 updated"
    # A global policy reaches every server through its merged policy.
    plan = plan_reload(config(BASE), config(BASE, ', "mcpMarshal.health": { "pingTimeoutMs": 9 }'))
    assert plan.update == ("api", "db", "docs", "web")


def test_restart_wins_over_update_and_names_appear_once() -> None:
    new = BASE | {
        "db": '{ "command": "db2" }',
        "api": '{ "command": "api", "dependsOn": ["db"], "autoStart": false }',
        "extra": '{ "command": "e", "dependsOn": ["db"] }',
    }
    plan = plan_reload(config(BASE), config(new))
    assert plan.restart == ("api", "db", "web") and plan.start == ("extra",) and plan.update == ()
    names = plan.start + plan.stop + plan.restart + plan.update + plan.unchanged
    assert len(names) == len(set(names))
