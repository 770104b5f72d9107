"""The authorization matrix over HTTP: tokens, client certificates, roles, campaign scope."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from mcp_server.content.store import ContentStore
from tests.integration.mcp.conftest import (
    AUDIENCE,
    Pki,
    TokenIssuer,
    client_ssl_context,
    error_text,
    mcp_client,
    new_rsa_key,
    payload,
    serve,
)

TOOL_CALLS: dict[str, dict[str, Any]] = {
    "getContent": {"query": "summer beach"},
    "generateCampaignMessages": {"campaign_id": "1001", "segment": "runners", "channel": "sms"},
    "getCampaignPerformance": {
        "campaign_id": "1001",
        "date_from": "2026-01-01",
        "date_to": "2026-01-31",
    },
}
ALLOWED = {
    "marketing": {"getContent", "generateCampaignMessages", "getCampaignPerformance"},
    "sales": {"getContent", "generateCampaignMessages", "getCampaignPerformance"},
    "user": {"getContent"},
}


@pytest.mark.parametrize("role", ["marketing", "sales", "user"])
async def test_role_by_tool_matrix_with_tokens(
    role: str,
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token(role)) as client,
    ):
        listed = {tool.name for tool in (await client.list_tools()).tools}
        outcomes = {name: await client.call_tool(name, args) for name, args in TOOL_CALLS.items()}
    assert listed == ALLOWED[role]
    for name, result in outcomes.items():
        if name in ALLOWED[role]:
            assert not result.is_error, (name, result.content)
        else:
            assert result.is_error
            assert f"role '{role}' may not call {name}" in error_text(result)


async def test_client_certificate_reaches_only_its_campaign(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    pki: Pki,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn, oauth=False)
    cert = pki.client_files("marketing", "1001")
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, cert=cert) as client,
    ):
        own = await client.call_tool("getCampaignPerformance", TOOL_CALLS["getCampaignPerformance"])
        other = await client.call_tool(
            "getCampaignPerformance",
            {**TOOL_CALLS["getCampaignPerformance"], "campaign_id": "1002"},
        )
        other_messages = await client.call_tool(
            "generateCampaignMessages",
            {**TOOL_CALLS["generateCampaignMessages"], "campaign_id": "1002"},
        )
        content = await client.call_tool("getContent", {"query": "beach umbrella", "limit": 50})
        content_other = await client.call_tool(
            "getContent", {"query": "beach umbrella", "campaign_id": "1002"}
        )
    assert not own.is_error, own.content
    for denied in (other, other_messages, content_other):
        assert denied.is_error
        assert "scoped to another campaign" in error_text(denied)
    items = payload(content)["items"]
    assert items
    assert all("1001" in i["campaigns"] for i in items)


async def test_user_certificate_gets_content_but_no_kpis(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    pki: Pki,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn, oauth=False)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, cert=pki.client_files("user", "1001")) as client,
    ):
        content = await client.call_tool("getContent", {"query": "trail"})
        kpis = await client.call_tool(
            "getCampaignPerformance", TOOL_CALLS["getCampaignPerformance"]
        )
    assert not content.is_error
    assert kpis.is_error


async def test_client_certificate_from_another_ca_is_refused(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, pki: Pki
) -> None:
    settings = settings_factory(oauth=False)
    wrong = pki.client_files("marketing", "1001", ca=pki.other_ca)
    async with serve(app_factory(settings)) as server:
        ctx = client_ssl_context(server.ca_file, wrong)
        async with httpx2.AsyncClient(verify=ctx) as http:
            # TLS 1.3 reports the client-certificate failure after the handshake: as a
            # connect, read or protocol error depending on timing; never as a response.
            with pytest.raises((httpx2.ConnectError, httpx2.ReadError, httpx2.RemoteProtocolError)):
                await http.post(f"{server.mcp_url}", json={})


async def _status(server: Any, headers: dict[str, str]) -> httpx2.Response:
    async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
        return await http.post(
            server.mcp_url,
            headers={**headers, "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        )


async def test_missing_expired_forged_and_foreign_tokens_get_401(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    bad = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "expired": {"Authorization": f"Bearer {tokens.token('marketing', expires_in=-120)}"},
        "forged": {"Authorization": f"Bearer {tokens.token('marketing', key=new_rsa_key())}"},
        "other audience": {
            "Authorization": f"Bearer {tokens.token('marketing', audience='https://elsewhere')}"
        },
        "other issuer": {
            "Authorization": f"Bearer {tokens.token('marketing', issuer='https://evil.test')}"
        },
        "no role": {"Authorization": f"Bearer {tokens.token(None)}"},
        "unknown role": {"Authorization": f"Bearer {tokens.token('admin')}"},
    }
    async with serve(app_factory(settings_factory())) as server:
        responses = {name: await _status(server, headers) for name, headers in bad.items()}
        good = await _status(server, {"Authorization": f"Bearer {tokens.token('user')}"})
    for name, response in responses.items():
        assert response.status_code == 401, name
        assert "resource_metadata=" in response.headers["www-authenticate"], name
    assert good.status_code == 200


async def test_protected_resource_metadata_names_the_issuer(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http,
    ):
        response = await http.get(f"{server.base}/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    body = response.json()
    assert body["resource"] == AUDIENCE
    assert body["authorization_servers"] == ["https://login.promptsales.test"]


async def test_campaign_scoped_token_is_limited_like_a_certificate(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("sales", campaign="1002")) as client,
    ):
        denied = await client.call_tool(
            "getCampaignPerformance", TOOL_CALLS["getCampaignPerformance"]
        )
    assert denied.is_error


def test_plain_http_refuses_client_certificates_without_tls(settings_factory: Any) -> None:
    from mcp_server.app import build_application, uvicorn_config
    from promptsales.config import ConfigError

    settings = settings_factory(tls=False, oauth=False)
    assert settings.tls_client_ca_file is None
    with pytest.raises(ConfigError, match="PROMPTSALES_MCP_OAUTH_ISSUER"):
        uvicorn_config(build_application(settings))


async def test_http_built_server_gives_no_identity_to_calls_without_a_request(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any
) -> None:
    from mcp import Client

    application = app_factory(settings_factory())
    async with Client(application.mcp) as client:  # in-process: no HTTP request attached
        listed = (await client.list_tools()).tools
        result = await client.call_tool("getContent", {"query": "coffee"})
    assert listed == []
    assert result.is_error
    assert "authentication required" in error_text(result)
