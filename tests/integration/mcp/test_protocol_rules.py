"""The endpoint against the MCP specification's security rules and strict input handling.

Each test reproduces one finding of issue 16 over HTTPS with a valid token, the way a
third-party client or an attacker would send it (raw JSON-RPC where the SDK client would
refuse to send the request at all).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from typing import Any

import httpx2
import psycopg
import pytest

from mcp_server.content.store import ContentStore
from tests.integration.mcp.conftest import (
    RunningServer,
    TokenIssuer,
    client_ssl_context,
    error_text,
    mcp_client,
    payload,
    rpc,
    serve,
)

INTERNALS = (
    "pydantic",
    "validation error",
    "Arguments",
    "PROMPTSALES_",
    "Traceback",
    "input_value",
)


# --- item 6: DNS rebinding (Host and Origin allow-lists) ------------------------------


async def test_foreign_host_and_origin_are_refused(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    settings = settings_factory(allowed_origins=["https://console.promptsales.test"])
    token = tokens.token("marketing")
    async with serve(app_factory(settings)) as server:
        evil_host = await rpc(
            server, "tools/list", {}, token=token, headers={"Host": "evil.example.com"}
        )
        evil_origin = await rpc(
            server, "tools/list", {}, token=token, headers={"Origin": "http://evil.example.com"}
        )
        own_origin = await rpc(
            server,
            "tools/list",
            {},
            token=token,
            headers={"Origin": "https://console.promptsales.test"},
        )
        plain = await rpc(server, "tools/list", {}, token=token)
    assert 400 <= evil_host.status_code < 500
    assert 400 <= evil_origin.status_code < 500
    assert own_origin.status_code == 200
    assert plain.status_code == 200


async def test_loopback_origins_are_accepted_like_loopback_hosts(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    """The conformance scenario ``dns-rebinding-protection`` sends ``Origin: http://127.0.0.1:P``.

    A page on a loopback origin runs on this machine (a rebinding attacker's page keeps its
    own origin), so loopback Origins are as acceptable as the loopback Hosts already are;
    a name that merely starts like one is not.
    """
    token = tokens.token("marketing")
    async with serve(app_factory(settings_factory())) as server:
        port = server.application.settings.port
        accepted = [
            await rpc(server, "tools/list", {}, token=token, headers={"Origin": origin})
            for origin in (
                f"http://127.0.0.1:{port}",
                f"http://localhost:{port}",
                f"https://localhost:{port}",
                "http://[::1]:8080",
                "https://127.0.0.1",
            )
        ]
        refused = [
            await rpc(server, "tools/list", {}, token=token, headers={"Origin": origin})
            for origin in (
                "http://127.0.0.1.evil.example.com",
                "http://localhost.evil.example.com:8080",
                "null",
            )
        ]
    assert [r.status_code for r in accepted] == [200] * 5
    assert [r.status_code for r in refused] == [403] * 3


def test_allowed_hosts_default_to_the_servers_own_urls(settings_factory: Any) -> None:
    from mcp_server.access.endpoint import transport_security

    settings = settings_factory(public_url="https://promptsales-mcp.promptsales.svc")
    security = transport_security(settings)
    assert security.enable_dns_rebinding_protection
    assert "promptsales-mcp.promptsales.svc" in security.allowed_hosts
    assert "promptsales-mcp.promptsales.svc:443" in security.allowed_hosts
    assert "mcp.promptsales.test" in security.allowed_hosts  # the OAuth audience's host
    assert "evil.example.com" not in security.allowed_hosts
    assert "https://promptsales-mcp.promptsales.svc" in security.allowed_origins


# --- items 7 and 8: strict arguments, errors in the project's words ---------------------


async def test_advertised_input_schemas_forbid_unknown_arguments(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        tools = (await client.list_tools()).tools
    assert tools
    for tool in tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("getContent", {"query": "shoes", "unknown_field": 1}, "unknown_field"),
    ("getContent", {"query": "shoes", "limit": True}, "limit"),
    ("getContent", {"query": "shoes", "limit": "5"}, "limit"),
    ("getContent", {"query": "shoes", "limit": 0}, "limit"),
    ("getContent", {"query": "shoes", "limit": 5.5}, "limit"),
    ("getContent", {"query": "shoes", "tags": '["running"]'}, "tags"),
    ("getContent", {"query": "shoes", "campaign_id": {"$ne": ""}}, "campaign_id"),
    ("getContent", {}, "query"),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "runners", "channel": "sms", "count": "3"},
        "count",
    ),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "runners", "channel": "fax"},
        "channel",
    ),
    (
        "getCampaignPerformance",
        {"campaign_id": "1001", "date_from": "2026-09-01T00:00:00", "date_to": "2026-09-30"},
        "date_from",
    ),
    (
        "getCampaignPerformance",
        {"campaign_id": "1001", "date_from": "20260901", "date_to": "2026-09-30"},
        "date_from",
    ),
]


async def test_arguments_outside_the_schema_are_refused_naming_the_field(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    token = tokens.token("marketing")
    async with serve(app_factory(settings)) as server:
        answers = [
            (
                field,
                await rpc(server, "tools/call", {"name": name, "arguments": args}, token=token),
            )
            for name, args, field in BAD_CALLS
        ]
        metrics = await _metrics(server)
    for field, response in answers:
        assert response.status_code == 200
        result = response.json()["result"]
        text = result["content"][0]["text"]
        assert result["isError"] is True, (field, text)
        assert names_field(text, field), text
        assert not any(word in text for word in INTERNALS), text
    rejected = {
        name: _counter(metrics, name, "rejected")
        for name in ("getContent", "generateCampaignMessages", "getCampaignPerformance")
    }
    assert rejected == {"getContent": 8, "generateCampaignMessages": 2, "getCampaignPerformance": 2}


async def test_remembered_valid_arguments_admit_no_lookalike(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    """Valid arguments are remembered (memo.py) so a repeat skips the schema check; a
    call that differs only in a value's JSON type or an extra member is still refused."""
    token = tokens.token("marketing")
    valid = {"query": "linen shirt", "limit": 5}
    lookalikes: list[tuple[dict[str, Any], str]] = [
        ({"query": "linen shirt", "limit": "5"}, "limit"),
        ({"query": "linen shirt", "limit": True}, "limit"),
        ({"query": "linen shirt", "limit": 5, "unknown_field": 1}, "unknown_field"),
    ]
    async with serve(app_factory(settings_factory())) as server:

        async def call(args: dict[str, Any]) -> dict[str, Any]:
            params = {"name": "getContent", "arguments": args}
            response = await rpc(server, "tools/call", params, token=token)
            result: dict[str, Any] = response.json()["result"]
            return result

        first, repeat = await call(valid), await call(dict(reversed(valid.items())))
        refused = [(await call(args), field) for args, field in lookalikes]
    assert first.get("isError") is not True
    assert repeat.get("isError") is not True
    assert repeat["structuredContent"]["cached"] is True
    for result, field in refused:
        assert result["isError"] is True, field
        assert names_field(result["content"][0]["text"], field)


async def test_a_caller_learns_nothing_of_a_tool_it_may_not_call(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        response = await rpc(
            server,
            "tools/call",
            {"name": "generateCampaignMessages", "arguments": {"bogus": 1}},
            token=tokens.token("user"),
        )
    text = response.json()["result"]["content"][0]["text"]
    assert "may not call generateCampaignMessages" in text
    assert "bogus" not in text
    assert "segment" not in text  # no argument names of a tool hidden from this role


async def test_unsupported_message_language_names_no_setting(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        result = await client.call_tool(
            "generateCampaignMessages",
            {"campaign_id": "1001", "segment": "runners", "channel": "sms", "language": "de"},
        )
    assert result.is_error
    text = error_text(result)
    assert names_field(text, "language"), text
    assert not any(word in text for word in INTERNALS), text


# --- item 9: a query must contain something visible -----------------------------------


@pytest.mark.parametrize("query", ["\u200b\u200b", "\u200d\ufeff \u2060", "\u00ad"])
async def test_invisible_only_query_is_refused(
    query: str,
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("user")) as client,
    ):
        result = await client.call_tool("getContent", {"query": query})
    assert result.is_error
    assert names_field(error_text(result), "query")


# --- item 10: a cached answer repeats the caller's own text ----------------------------


async def test_cached_answers_echo_each_callers_own_text(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        first = payload(await client.call_tool("getContent", {"query": "Trail Running Shoes X"}))
        answers = [
            payload(await client.call_tool("getContent", {"query": text}))
            for text in ("trail running shoes X", "Trail Running Shoes X", "trail running shoes X")
        ]
        base = {"campaign_id": "1001", "channel": "sms", "count": 2}
        m1 = payload(
            await client.call_tool(
                "generateCampaignMessages", {**base, "segment": "Weekend Runners"}
            )
        )
        m2 = payload(
            await client.call_tool(
                "generateCampaignMessages", {**base, "segment": "weekend runners"}
            )
        )
    assert first["cached"] is False
    assert [a["query"] for a in answers] == [
        "trail running shoes X",
        "Trail Running Shoes X",
        "trail running shoes X",
    ]
    assert all(a["cached"] for a in answers)
    assert all(a["items"] == first["items"] for a in answers)
    assert (m1["segment"], m1["cached"]) == ("Weekend Runners", False)
    # The segment's wording goes into the messages, so it is never shared across callers.
    assert (m2["segment"], m2["cached"]) == ("weekend runners", False)
    assert "Weekend Runners" not in str(m2)


# --- item 12: token leeway, RFC 6750 challenges, idle streams, log noise -------------------


async def test_leeway_accepts_a_token_just_past_its_expiry(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with serve(app_factory(settings_factory(oauth_leeway_seconds=30))) as server:
        within = await rpc(server, "tools/list", {}, token=tokens.token("user", expires_in=-10))
        beyond = await rpc(server, "tools/list", {}, token=tokens.token("user", expires_in=-60))
    assert within.status_code == 200
    assert beyond.status_code == 401


async def test_missing_credentials_get_a_challenge_without_an_error_code(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        missing = await rpc(server, "tools/list", {}, token=None)
        invalid = await rpc(server, "tools/list", {}, token="not-a-jwt")
    assert missing.status_code == invalid.status_code == 401
    challenge = missing.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert "resource_metadata=" in challenge
    assert "error=" not in challenge  # RFC 6750 section 3.1
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


async def test_event_stream_get_is_answered_at_once(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        started = time.monotonic()
        async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
            response = await asyncio.wait_for(
                http.get(
                    server.mcp_url,
                    headers={
                        "Accept": "text/event-stream",
                        "Authorization": f"Bearer {tokens.token('user')}",
                    },
                ),
                10,
            )
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert time.monotonic() - started < 10


async def test_requests_do_not_log_session_noise(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with serve(app_factory(settings_factory())) as server:
        response = await rpc(server, "tools/list", {}, token=tokens.token("user"))
    assert response.status_code == 200
    assert not [r for r in caplog.records if "Terminating session" in r.getMessage()]


INITIALIZE = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "test", "version": "1"},
}


async def test_an_http_session_gets_a_label_that_every_replica_accepts(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by the conformance scenario ``server-sse-multiple-streams`` ("server did not
    provide session ID"): ``initialize`` answers with a new ``Mcp-Session-Id``; the label
    holds nothing, so a replica that never issued it accepts it (here: another server);
    a malformed one is 400, ending a session is 405, and the call log carries it."""
    caplog.set_level(logging.INFO)
    token = tokens.token("marketing")
    search = {"name": "getContent", "arguments": {"query": "yoga mat", "limit": 2}}
    async with serve(app_factory(settings_factory())) as server:
        first = await rpc(server, "initialize", INITIALIZE, token=token)
        second = await rpc(server, "initialize", INITIALIZE, token=token)
        listed = await rpc(server, "tools/list", {}, token=token)
    label = first.headers.get("mcp-session-id")
    assert label is not None
    assert re.fullmatch(r"[\x21-\x7e]{32,128}", label)
    assert second.headers["mcp-session-id"] != label
    assert "mcp-session-id" not in listed.headers  # only initialize starts a session
    async with serve(app_factory(settings_factory())) as other_replica:
        called = await rpc(
            other_replica, "tools/call", search, token=token, headers={"Mcp-Session-Id": label}
        )
        malformed = await rpc(
            other_replica, "tools/list", {}, token=token, headers={"Mcp-Session-Id": "a b"}
        )
        async with httpx2.AsyncClient(verify=client_ssl_context(other_replica.ca_file)) as http:
            ended = await http.delete(
                other_replica.mcp_url,
                headers={"Authorization": f"Bearer {token}", "Mcp-Session-Id": label},
            )
    assert called.status_code == 200
    assert "result" in called.json()
    assert malformed.status_code == 400
    assert "Mcp-Session-Id" in malformed.text
    assert ended.status_code == 405
    calls = [r for r in caplog.records if r.getMessage() == "tool call"]
    assert [getattr(r, "session", None) for r in calls] == [label]


async def test_an_unknown_prompt_is_invalid_params(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by the conformance scenarios ``prompts-get-*``: the SDK answered code 0.

    The specification's code for an invalid prompt name is -32602 (Invalid params); the
    SDK's catch-all gave JSON-RPC error code 0 and logged a traceback for every such call.
    """
    caplog.set_level(logging.INFO)
    async with serve(app_factory(settings_factory())) as server:
        response = await rpc(
            server, "prompts/get", {"name": "test_simple_prompt"}, token=tokens.token("user")
        )
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32602
    assert error["message"] == "Unknown prompt: test_simple_prompt"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_an_unknown_tool_is_invalid_params(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The specification's protocol error for a tool the server does not have (-32602),
    not a tool result with ``isError``, which the SDK answered: a client may retry that."""
    caplog.set_level(logging.INFO)
    async with serve(app_factory(settings_factory())) as server:
        response = await rpc(
            server,
            "tools/call",
            {"name": "getContnet", "arguments": {"query": "shoes"}},
            token=tokens.token("user"),
        )
        known = await rpc(
            server,
            "tools/call",
            {"name": "getContent", "arguments": {"query": "shoes"}},
            token=tokens.token("user"),
        )
    assert response.status_code == 200
    assert "result" not in response.json()
    error = response.json()["error"]
    assert error["code"] == -32602
    assert error["message"] == "Unknown tool: getContnet"
    assert known.json()["result"]["isError"] is False
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_log_level_is_accepted_and_validated(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    """Found by the conformance scenario ``logging-set-level`` (-32601 before): clients of
    the 2025 protocol versions set a level; the answer is ``{}``, the capability is
    declared, and a level the specification does not name is invalid params."""
    token = tokens.token("user")
    headers = {"MCP-Protocol-Version": "2025-11-25"}
    async with serve(app_factory(settings_factory())) as server:
        accepted = await rpc(
            server, "logging/setLevel", {"level": "info"}, token=token, headers=headers
        )
        refused = await rpc(
            server, "logging/setLevel", {"level": "verbose"}, token=token, headers=headers
        )
        hello = await rpc(
            server,
            "initialize",
            INITIALIZE,
            token=token,
        )
    assert accepted.json()["result"] == {}
    assert refused.json()["error"]["code"] == -32602
    assert "logging" in hello.json()["result"]["capabilities"]


# --- item 12: unknown campaigns; item 5: KPI periods true to the data --------------------


async def test_get_content_for_an_unknown_campaign_is_an_error(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        unknown = await client.call_tool("getContent", {"query": "shoes", "campaign_id": "9999"})
        known = await client.call_tool("getContent", {"query": "shoes", "campaign_id": "1001"})
    assert unknown.is_error
    assert names_field(error_text(unknown), "campaign_id")
    assert not known.is_error


async def test_get_content_can_put_one_item_per_product_first(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    from mcp_server.content_model import ContentItem
    from mcp_server.service import product_key

    query = {"query": "trail running shoes on a mountain ridge", "limit": 4}
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("user")) as client,
    ):
        plain = payload(await client.call_tool("getContent", query))
        diverse = payload(await client.call_tool("getContent", {**query, "diversity": "product"}))

    def products(answer: dict[str, Any]) -> list[str]:
        return [
            product_key(ContentItem.model_validate({k: v for k, v in i.items() if k != "score"}))
            for i in answer["items"]
        ]

    assert len(set(products(plain))) < 4  # the finding: shots of one product fill the top
    assert len(set(products(diverse))) == 4
    assert diverse["items"][0]["id"] == plain["items"][0]["id"]
    assert diverse["cached"] is False  # its own cache entry


async def test_message_kpi_period_ends_where_the_data_ends(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    last = today - dt.timedelta(days=20)
    first = last - dt.timedelta(days=4)
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute(
            "INSERT INTO warehouse.dim_campaign (campaign_id, name, channel, status, "
            "start_date, source_version) VALUES (1003, 'Black Friday', 'email', 'ended', %s, 1)",
            (first,),
        )
        for offset in range(5):
            conn.execute(
                "INSERT INTO warehouse.agg_campaign_daily (campaign_id, day, impressions, "
                "clicks, spend, platform_conversions, leads, conversions, revenue) "
                "VALUES (1003, %s, 1000, 40, 20.00, 3, 5, 3, 150.00)",
                (first + dt.timedelta(days=offset),),
            )
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        result = await client.call_tool(
            "generateCampaignMessages",
            {"campaign_id": "1003", "segment": "deal hunters", "channel": "email"},
        )
    data = payload(result)
    periods = {v["citations"]["kpi_period"] for v in data["variants"]}
    assert periods == {f"{first.isoformat()}/{last.isoformat()}"}


# --- helpers --------------------------------------------------------------------------


def names_field(text: str, field: str) -> bool:
    """The reason (after the SDK's "Error executing tool X: " prefix) starts with the field."""
    return re.match(rf"^(Error executing tool \w+: )?{re.escape(field)}: ", text) is not None


async def _metrics(server: RunningServer) -> str:
    async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
        return (await http.get(f"{server.base}/metrics")).text


def _counter(text: str, tool: str, outcome: str) -> float:
    line = f'promptsales_mcp_tool_calls_total{{outcome="{outcome}",tool="{tool}"}} '
    for row in text.splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0
