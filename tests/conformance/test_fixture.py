"""The conformance fixture server behaves the same on stdio and on Streamable HTTP.

One script of requests (every fixture the conformance suite uses, plus sampling, elicitation,
logging and progress round trips) runs through the official SDK client over each transport;
the observations must match the fixture's contract and each other. No npm needed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.run_suite import FIXTURE, fixture_command, free_port, serving

pytestmark = [pytest.mark.timeout(90), pytest.mark.filterwarnings("ignore:.*2026-07-28")]


def _dump(items: Any) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items]


async def _exercise(read: Any, write: Any) -> dict[str, Any]:
    from mcp import ClientSession, MCPError
    from mcp import types as t

    seen: dict[str, Any] = {"sampling": [], "elicitation": [], "logs": [], "progress": []}

    async def sampling(ctx: Any, params: t.CreateMessageRequestParams) -> t.CreateMessageResult:
        seen["sampling"].append(params.messages[0].content.text)
        return t.CreateMessageResult(role="assistant", content=t.TextContent(type="text", text="sampled"), model="m")

    async def elicitation(ctx: Any, params: Any) -> t.ElicitResult:
        seen["elicitation"].append(sorted(params.requested_schema["properties"]))
        return t.ElicitResult(action="accept", content={"username": "u", "email": "e@example.com"})

    async def logging(params: t.LoggingMessageNotificationParams) -> None:
        seen["logs"].append((params.level, params.data))

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen["progress"].append((value, total))

    async with ClientSession(
        read,
        write,
        read_timeout_seconds=20,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        logging_callback=logging,
    ) as s:
        init = await s.initialize()
        out: dict[str, Any] = {"server": init.server_info.name, "protocol": init.protocol_version}
        caps = init.capabilities
        out["caps"] = sorted(k for k in ("tools", "resources", "prompts", "logging", "completions") if getattr(caps, k))
        out["subscribe"] = bool(caps.resources and caps.resources.subscribe)
        out["tools"] = sorted(x.name for x in (await s.list_tools()).tools)
        out["resources"] = sorted(r.uri for r in (await s.list_resources()).resources)
        out["templates"] = [r.uri_template for r in (await s.list_resource_templates()).resource_templates]
        out["prompts"] = sorted(p.name for p in (await s.list_prompts()).prompts)

        await s.set_logging_level("info")
        calls = {
            "test_simple_text": {},
            "test_image_content": {},
            "test_audio_content": {},
            "test_embedded_resource": {},
            "test_multiple_content_types": {},
            "test_error_handling": {},
            "test_tool_with_logging": {},
            "test_sampling": {"prompt": "hello"},
            "test_elicitation": {"message": "who?"},
            "test_elicitation_sep1034_defaults": {},
            "test_elicitation_sep1330_enums": {},
            "echo": {"text": "round trip"},
        }
        out["calls"] = {}
        for name, arguments in calls.items():
            r = await s.call_tool(name, arguments)
            out["calls"][name] = (r.is_error, _dump(r.content))
        r = await s.call_tool("test_tool_with_progress", {}, progress_callback=progress)
        out["calls"]["test_tool_with_progress"] = (r.is_error, _dump(r.content))

        reads = ["test://static-text", "test://static-binary", "test://template/123/data"]
        out["reads"] = {u: _dump((await s.read_resource(u)).contents) for u in reads}
        try:
            await s.read_resource("test://nonexistent-resource-for-conformance-testing")
            out["missing"] = None
        except MCPError as e:
            out["missing"] = (e.code, (e.data or {}).get("uri"))
        await s.subscribe_resource("test://watched-resource")
        await s.unsubscribe_resource("test://watched-resource")

        prompts = {
            "test_simple_prompt": None,
            "test_prompt_with_arguments": {"arg1": "v1", "arg2": "v2"},
            "test_prompt_with_embedded_resource": {"resourceUri": "test://example-resource"},
            "test_prompt_with_image": None,
        }
        out["prompt_results"] = {n: _dump((await s.get_prompt(n, a)).messages) for n, a in prompts.items()}
        ref = t.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
        out["complete"] = (await s.complete(ref, {"name": "arg1", "value": "par"})).completion.values
        await s.send_ping()
    out.update(seen)
    return out


def _check_contract(obs: dict[str, Any]) -> None:
    assert obs["server"] == "mcp-marshal-conformance"
    assert obs["caps"] == ["completions", "logging", "prompts", "resources", "tools"] and obs["subscribe"]
    assert {"test_simple_text", "test_sampling", "test_elicitation_sep1330_enums", "echo"} <= set(obs["tools"])
    assert obs["templates"] == ["test://template/{id}/data"]
    calls = obs["calls"]
    assert calls["test_simple_text"] == (
        False,
        [{"type": "text", "text": "This is a simple text response for testing."}],
    )
    assert calls["test_error_handling"][0] is True
    assert calls["test_audio_content"][1][0]["mimeType"] == "audio/wav"
    assert [c["type"] for c in calls["test_multiple_content_types"][1]] == ["text", "image", "resource"]
    assert calls["test_sampling"][1][0]["text"] == "LLM response: sampled"
    assert obs["sampling"] == ["hello"]
    assert len(obs["elicitation"]) == 3 and obs["elicitation"][0] == ["email", "username"]
    assert [text for _, text in obs["logs"]] == [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ]
    assert obs["progress"] == [(0, 100), (50, 100), (100, 100)]
    assert "None" not in calls["test_tool_with_progress"][1][0]["text"]  # the token reached the tool
    assert "123" in obs["reads"]["test://template/123/data"][0]["text"]
    assert obs["reads"]["test://static-binary"][0]["blob"]
    assert obs["missing"] == (-32602, "test://nonexistent-resource-for-conformance-testing")
    assert "v1" in str(obs["prompt_results"]["test_prompt_with_arguments"])
    assert obs["complete"] == ["paris", "park", "party"]


@pytest.fixture(scope="module")
def stdio_observations() -> dict[str, Any]:
    import anyio

    async def go() -> dict[str, Any]:
        from mcp import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=sys.executable, args=[str(FIXTURE)])
        async with stdio_client(params) as (read, write):
            return await _exercise(read, write)

    return anyio.run(go)


def test_fixture_on_stdio(stdio_observations: dict[str, Any]) -> None:
    _check_contract(stdio_observations)


def test_fixture_on_http_matches_stdio(stdio_observations: dict[str, Any]) -> None:
    import anyio

    port = free_port()

    async def go() -> dict[str, Any]:
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
            return await _exercise(read, write)

    with serving(fixture_command(port), port):
        http = anyio.run(go)
    _check_contract(http)
    assert http == stdio_observations


def test_fixture_file_is_where_the_runner_looks() -> None:
    assert Path(FIXTURE).is_file()
