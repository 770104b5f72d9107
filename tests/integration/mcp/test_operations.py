"""Operations: health and readiness, Prometheus metrics, logs without secrets or prompts,
malformed arguments as tool errors, and TLS certificate reload without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pymongo
import pytest
from cryptography import x509

from harness.services import free_port, secantus_executable
from mcp_server.content.seed import seed_items
from mcp_server.content.store import ContentStore
from mcp_server.search.embeddings import LOCAL_MODEL_ID
from tests.integration.mcp.conftest import (
    Pki,
    TokenIssuer,
    client_ssl_context,
    error_text,
    mcp_client,
    serve,
)


async def test_health_readiness_and_metrics(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with serve(app_factory(settings_factory())) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            await client.call_tool("getContent", {"query": "coffee"})
            await client.call_tool("getContent", {"query": "coffee", "limit": 0})  # schema
            await client.call_tool("getContent", {"query": "   "})  # ours: rejected
        async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http:
            health = await http.get(f"{server.base}/healthz")
            ready = await http.get(f"{server.base}/readyz")
            metrics = await http.get(f"{server.base}/metrics")
    assert health.status_code == 200
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["cache"] == "ok"
    content = body["content"]
    assert (content["reachable"], content["items"]) == (True, 100)
    assert content["version"] == server.application.service.index.version > 0
    text = metrics.text
    assert 'promptsales_mcp_tool_calls_total{outcome="ok",tool="getContent"} 1.0' in text
    assert 'promptsales_mcp_tool_calls_total{outcome="rejected",tool="getContent"} 2.0' in text
    assert 'promptsales_mcp_tool_latency_seconds_count{tool="getContent"} 3.0' in text
    assert "promptsales_mcp_content_items 100.0" in text


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("getContent", {"query": "x", "limit": 0}, "limit"),
    ("getContent", {"query": "x", "limit": 10_000}, "limit"),
    ("getContent", {"query": "x" * 5000}, "query"),
    ("getContent", {"query": ""}, "query"),
    ("getContent", {"query": "   "}, "query"),
    ("getContent", {}, "query"),
    ("getContent", {"query": "x", "campaign_id": {"$ne": ""}}, "campaign_id"),
    ("getContent", {"query": "x", "campaign_id": "$where"}, "campaign_id"),
    ("getContent", {"query": "x", "tags": [{"$gt": ""}]}, "tags"),
    ("getContent", {"query": "x", "media_type": "hologram"}, "media_type"),
    ("getContent", {"query": "x", "language": "english"}, "language"),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "x", "channel": "fax"},
        "channel",
    ),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "x", "channel": "sms", "count": 11},
        "count",
    ),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "x", "channel": "sms", "tone": "angry"},
        "tone",
    ),
    (
        "generateCampaignMessages",
        {"campaign_id": "1001", "segment": "x", "channel": "sms", "language": "fr"},
        "language",
    ),
    (
        "getCampaignPerformance",
        {"campaign_id": "1001", "date_from": "2026-02-30", "date_to": "2026-03-01"},
        "date_from",
    ),
    (
        "getCampaignPerformance",
        {"campaign_id": "1001", "date_from": "2026-03-02", "date_to": "2026-03-01"},
        "date_to",
    ),
    (
        "getCampaignPerformance",
        {"campaign_id": "1001", "date_from": "2020-01-01", "date_to": "2026-03-01"},
        "date_to",
    ),
]


async def test_malformed_arguments_are_tool_errors_naming_the_field(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        outcomes = [(await client.call_tool(tool, args), field) for tool, args, field in MALFORMED]
        still_fine = await client.call_tool("getContent", {"query": "coffee"})
    for (result, field), (tool, args, _) in zip(outcomes, MALFORMED, strict=True):
        assert result.is_error, (tool, args)
        assert field in error_text(result), (tool, args, result.content)
    assert not still_fine.is_error


async def test_logs_carry_no_token_or_query_text(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = tokens.token("user")
    secret_query = "zebra-striped umbrella confidential-launch-7781"
    caplog.set_level(logging.INFO)  # the server's production level
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=token) as client,
    ):
        await client.call_tool("getContent", {"query": secret_query})
    client_side = ("mcp.client", "httpx2", "httpcore")
    logged = "\n".join(
        f"{r.getMessage()} {r.__dict__}"
        for r in caplog.records
        if not r.name.startswith(client_side)
    )
    assert "tool call" in logged
    assert token not in logged
    assert token.split(".")[2] not in logged
    assert "confidential-launch-7781" not in logged


def _served_serial(port: int, ca_file: Path) -> int:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    import socket

    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_renewed_server_certificate_is_served_without_restart(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    pki: Pki,
    tokens: TokenIssuer,
) -> None:
    from mcp_server.app import serve_http  # noqa: F401  (serving path used by the CLI)

    settings = settings_factory()
    async with serve(app_factory(settings)) as server:
        assert server.tls is not None
        assert server.ca_file is not None
        watcher = asyncio.create_task(server.tls.watch(0.05))
        try:
            before = await asyncio.to_thread(_served_serial, settings.port, server.ca_file)
            pki.server_files()  # renewal rewrites server.crt / server.key in place
            for _ in range(400):
                if server.tls.reloads:
                    break
                await asyncio.sleep(0.05)
            after = await asyncio.to_thread(_served_serial, settings.port, server.ca_file)
            async with mcp_client(server, token=tokens.token("user")) as client:
                still_serving = await client.call_tool("getContent", {"query": "coffee"})
        finally:
            watcher.cancel()
    assert server.tls.reloads >= 1
    assert before != after
    assert not still_serving.is_error


@contextlib.contextmanager
def _wire_server_on(port: int) -> Iterator[None]:
    """SecantusDB on a port chosen before it starts (the shared helper picks its own)."""
    process = subprocess.Popen(
        [
            secantus_executable(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            ":memory:",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_starts_unready_without_mongodb_and_recovers(
    settings_factory: Any, app_factory: Any, tokens: TokenIssuer, seed_vectors: Any
) -> None:
    port = free_port()
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    settings = settings_factory(mongo_uri=uri, mongo_db="late", mongo_timeout_seconds=0.3)
    async with (
        serve(app_factory(settings)) as server,
        httpx2.AsyncClient(verify=client_ssl_context(server.ca_file)) as http,
    ):
        unready = await http.get(f"{server.base}/readyz")
        async with mcp_client(server, token=tokens.token("user")) as client:
            loading = await client.call_tool("getContent", {"query": "coffee"})
        with _wire_server_on(port):
            late: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=60_000
            )
            store = ContentStore(late["late"])
            store.upsert(seed_items(), seed_vectors, LOCAL_MODEL_ID)
            store.bump_version()
            ready = unready
            for _ in range(600):
                ready = await http.get(f"{server.base}/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            async with mcp_client(server, token=tokens.token("user")) as client:
                found = await client.call_tool("getContent", {"query": "coffee"})
            late.close()
    assert unready.status_code == 503
    assert unready.json()["ready"] is False
    assert loading.is_error
    assert "loading" in error_text(loading)
    assert ready.status_code == 200
    assert not found.is_error
