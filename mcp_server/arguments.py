"""Tool arguments checked against exactly the JSON schema each tool advertises.

The SDK builds a tool's input schema from its signature, then validates calls with the
same pydantic model in lax mode: it quietly accepts ``limit: true`` (as 1), ``"5"`` for
an integer, a date-time for a date, and arguments the schema does not name, and its
error text is pydantic's (model names, documentation links). So what was advertised was
not what was enforced, and errors showed internals.

Here every advertised schema gets ``additionalProperties: false`` and a server
middleware validates each ``tools/call`` against that schema with ``jsonschema``
(Draft 2020-12, the dialect MCP tool schemas use, with format checking) before the SDK
sees it. A call that passes is one the SDK's model accepts unchanged; a call that fails
is answered as a tool error that names each field in the project's words, and counted
as ``rejected``. Values are never echoed (they are the caller's data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from mcp.server.context import CallNext, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import SERVER_INFO_META_KEY, CallToolResult, TextContent
from mcp_types.methods import serialize_server_result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_server.memo import BoundedMemo, canonical
from mcp_server.metrics import Metrics

log = logging.getLogger(__name__)

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_FORMAT_WORDS = {"date": "a date written YYYY-MM-DD"}


def strict_schemas(server: MCPServer[Any], names: Iterable[str]) -> dict[str, Draft202012Validator]:
    """Close the advertised schemas of ``names`` and return a validator for each."""
    validators: dict[str, Draft202012Validator] = {}
    for name in names:
        tool = server._tool_manager.get_tool(name)
        if tool is None:
            raise KeyError(name)
        tool.parameters["additionalProperties"] = False
        Draft202012Validator.check_schema(tool.parameters)
        validators[name] = Draft202012Validator(
            tool.parameters, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    return validators


def _field(error: ValidationError) -> str:
    path = list(error.absolute_path)
    if not path:
        return ""
    name = str(path[0])
    return name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])


def _branch_errors(error: ValidationError) -> list[ValidationError]:
    """For an optional field (``anyOf: [X, null]``) the errors of its non-null branch."""
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    kept = [
        sub
        for sub in error.context or []
        if sub.schema_path
        and isinstance(sub.schema_path[0], int)
        and branches[sub.schema_path[0]] != {"type": "null"}
    ]
    return kept or list(error.context or [])


def _reason(error: ValidationError) -> str:
    keyword, expected = error.validator, error.validator_value
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
    if keyword == "minimum":
        return f"must be at least {expected}"
    if keyword == "maximum":
        return f"must be at most {expected}"
    if keyword == "minLength":
        return f"must be at least {expected} character(s)"
    if keyword == "maxLength":
        return f"must be at most {expected} characters"
    if keyword == "minItems":
        return f"must have at least {expected} item(s)"
    if keyword == "maxItems":
        return f"must have at most {expected} items"
    if keyword == "enum":
        return "must be one of " + ", ".join(str(v) for v in expected)
    if keyword == "const":
        return f"must be {expected}"
    if keyword == "pattern":
        return f"must match {expected}"
    if keyword == "format":
        return "must be " + _FORMAT_WORDS.get(str(expected), f"in {expected} format")
    description = schema.get("description")
    return f"is not valid ({description})" if description else "is not valid"


def describe(tool: str, arguments: Any, validator: Draft202012Validator) -> list[str]:
    """Every problem with ``arguments`` as "field: reason", sorted; empty when valid."""
    if not isinstance(arguments, dict):
        return ["arguments: must be an object"]
    properties = validator.schema.get("properties", {})
    problems: set[str] = set()
    for error in validator.iter_errors(arguments):
        if error.validator == "additionalProperties" and not error.absolute_path:
            accepted = ", ".join(properties)
            problems.update(
                f"{name}: not an argument of {tool} (accepted: {accepted})"
                for name in arguments
                if name not in properties
            )
        elif error.validator == "required" and not error.absolute_path:
            problems.update(
                f"{name}: required" for name in error.validator_value if name not in arguments
            )
        elif error.validator in ("anyOf", "oneOf"):
            for sub in _branch_errors(error):
                problems.add(f"{_field(sub) or _field(error)}: {_reason(sub)}")
        else:
            problems.add(f"{_field(error) or 'arguments'}: {_reason(error)}")
    return sorted(problems)


def _refusal(server: MCPServer[Any], version: str, text: str) -> dict[str, Any]:
    """A tool error in its final wire form, shaped as the SDK's runner shapes results.

    A middleware that answers without ``call_next`` owns the whole envelope: the result
    is sieved by the protocol version's schema and, from protocol 2026-07-28 on, carries
    ``resultType`` and the ``serverInfo`` stamp.
    """
    result = CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    dumped = serialize_server_result(
        "tools/call", version, result.model_dump(by_alias=True, mode="json", exclude_none=True)
    )
    if version in MODERN_PROTOCOL_VERSIONS:
        dumped.setdefault("resultType", "complete")
        dumped["_meta"] = {SERVER_INFO_META_KEY: server._lowlevel_server.server_info_stamp}
    return dumped


# The caller's refusal for a tool (None: it may call it): authorization comes first, so
# a caller that may not use a tool learns nothing of its arguments from our errors.
Gate = Callable[[ServerRequestContext[Any, Any], str], str | None]


def enforce_schemas(
    server: MCPServer[Any],
    validators: Mapping[str, Draft202012Validator],
    metrics: Metrics,
    gate: Gate,
) -> ServerMiddleware[Any]:
    """A server middleware refusing ``tools/call`` arguments outside the advertised schema."""

    # Arguments already found valid, per tool (see memo.py): a repeat skips jsonschema.
    valid: BoundedMemo[bool] = BoundedMemo()

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        name = ctx.params.get("name")
        validator = validators.get(name) if isinstance(name, str) else None
        if validator is None or name is None:
            return await call_next(ctx)
        start = time.perf_counter()
        refused = gate(ctx, name)
        detail: dict[str, Any]
        if refused is not None:
            problems, detail = [refused], {"reason": "not allowed"}
        else:
            arguments = ctx.params.get("arguments")
            arguments = {} if arguments is None else arguments
            seen = canonical(name, arguments)
            if valid.get(seen):
                return await call_next(ctx)
            problems = describe(name, arguments, validator)
            if not problems:
                valid.put(seen, True)
            detail = {"fields": sorted({p.split(":", 1)[0] for p in problems})}
        if not problems:
            return await call_next(ctx)
        metrics.record_call(name, "rejected", time.perf_counter() - start)
        log.info("tool call", extra={"tool": name, "outcome": "rejected", **detail})
        text = f"Error executing tool {name}: " + "; ".join(problems)
        return _refusal(server, ctx.protocol_version, text)

    return middleware
