"""``${input:ID}`` values: asked of the client, else taken from ``MCP_MARSHAL_INPUT_<ID>``.

Values are secrets: they are never logged; the orchestrator asks once per input and session.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from pygls.lsp.server import LanguageServer

from mcp_marshal.config.models import InputSettings
from mcp_marshal.supervise.orchestrator import input_env_var
from mcp_marshal.wire import RESOLVE_INPUT, ResolveInputParams

log = logging.getLogger(__name__)
#: A client that neither answers nor refuses the request is given this long (seconds).
CLIENT_TIMEOUT_S = float(os.environ.get("MCP_MARSHAL_INPUT_TIMEOUT_S", "120"))


class InputResolver:
    """The ``input_resolver`` the orchestrator calls before starting a server that needs inputs."""

    def __init__(self, ls: LanguageServer) -> None:
        self._ls = ls
        self._lock = asyncio.Lock()  # one question at a time, like the editor's input boxes

    async def __call__(self, spec: InputSettings) -> str | None:
        async with self._lock:
            value = await self._ask_client(spec)
            return value if value is not None else os.environ.get(input_env_var(spec.id))

    async def _ask_client(self, spec: InputSettings) -> str | None:
        params = ResolveInputParams(id=spec.id, description=spec.description, password=spec.password).to_dict()
        try:
            request = self._ls.protocol.send_request_async(RESOLVE_INPUT, params)
            answer = await asyncio.wait_for(request, CLIENT_TIMEOUT_S)
        except Exception as exc:  # method not found, timeout, refused: fall back to the environment
            log.info("client did not resolve input %r (%s)", spec.id, type(exc).__name__)
            return None
        return _value_of(answer)


def _value_of(answer: Any) -> str | None:
    if hasattr(answer, "_asdict"):  # custom results arrive as namedtuples
        answer = answer._asdict()
    if isinstance(answer, dict) and isinstance(answer.get("value"), str):
        return answer["value"]
    return None
