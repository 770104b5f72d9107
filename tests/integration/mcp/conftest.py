"""Fixtures for the MCP server against real services, reached through the SDK's client."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import jwt
import psycopg
import pymongo
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from certs.authority import CertificateAuthority, create_root_ca
from certs.encoding import private_key_to_pem, to_pem
from certs.issue import issue_client_certificate, issue_server_certificate
from etl_job.warehouse import init_warehouse
from harness.services import free_port
from mcp_server.access.tls import ReloadingServerContext
from mcp_server.app import McpApplication, build_application, uvicorn_config
from mcp_server.config import McpSettings
from mcp_server.content.seed import seed_items
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentItem
from mcp_server.search.embeddings import LOCAL_MODEL_ID, LocalEmbedder, Matrix

ISSUER = "https://login.promptsales.test"
AUDIENCE = "https://mcp.promptsales.test/mcp"


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def store(mongo_db: pymongo.database.Database[dict[str, Any]]) -> ContentStore:
    return ContentStore(mongo_db)


@pytest.fixture(scope="session")
def seed_vectors(embedder: LocalEmbedder) -> Matrix:
    """The seed set embedded once per session (the loader path itself is tested separately)."""
    return embedder.embed([item.embedding_text() for item in seed_items()])


@pytest.fixture
def seeded_store(store: ContentStore, seed_vectors: Matrix) -> ContentStore:
    store.upsert(seed_items(), seed_vectors, LOCAL_MODEL_ID)
    store.bump_version()
    return store


# --- PKI (issued by certs/) ------------------------------------------------------------


@dataclass
class Pki:
    directory: Path
    ca: CertificateAuthority
    other_ca: CertificateAuthority

    def write(self, name: str, text: str) -> Path:
        path = self.directory / name
        path.write_text(text)
        return path

    def client_files(
        self, role: str, campaign_id: str, *, ca: CertificateAuthority | None = None
    ) -> tuple[Path, Path]:
        issued = issue_client_certificate(
            ca or self.ca,
            campaign_name=f"campaign-{campaign_id}",
            campaign_id=campaign_id,
            role=role,
        )
        stem = f"client-{role}-{campaign_id}-{uuid.uuid4().hex[:6]}"
        cert = self.write(f"{stem}.crt", to_pem([issued.certificate, *issued.chain]))
        key = self.write(f"{stem}.key", private_key_to_pem(issued.private_key))
        return cert, key

    def server_files(self, ca: CertificateAuthority | None = None) -> tuple[Path, Path]:
        issued = issue_server_certificate(
            ca or self.ca, "promptsales-mcp", dns_names=["localhost"], ip_addresses=["127.0.0.1"]
        )
        cert = self.write("server.crt", to_pem([issued.certificate, *issued.chain]))
        key = self.write("server.key", private_key_to_pem(issued.private_key))
        return cert, key


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    validity = dt.timedelta(days=30)
    return Pki(
        tmp_path,
        create_root_ca("PromptSales Test CA", validity=validity),
        create_root_ca("Some Other CA", validity=validity),
    )


# --- OAuth tokens -----------------------------------------------------------------------


@dataclass
class TokenIssuer:
    key: rsa.RSAPrivateKey
    public_pem_file: Path

    def token(
        self,
        role: str | None = "marketing",
        campaign: str | None = None,
        *,
        expires_in: int = 300,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": f"agent-{uuid.uuid4().hex[:6]}",
            "iat": now,
            "exp": now + expires_in,
            "scope": "mcp",
        }
        if role is not None:
            claims["promptsales_role"] = role
        if campaign is not None:
            claims["promptsales_campaign"] = campaign
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "k1"})


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def tokens(tmp_path: Path) -> TokenIssuer:
    key = new_rsa_key()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "issuer-public.pem"
    path.write_bytes(pem)
    return TokenIssuer(key, path)


# --- warehouse --------------------------------------------------------------------------


@pytest.fixture
def warehouse_dsn(pg_database_factory: Callable[[], str]) -> str:
    """The ETL's own schema (etl_job init-schema), with two campaigns of daily KPIs."""
    dsn = pg_database_factory()
    init_warehouse(dsn)
    today = dt.datetime.now(dt.UTC).date()
    with psycopg.connect(dsn) as conn:
        for cid, name in ((1001, "Trail season"), (1002, "Summer sale")):
            conn.execute(
                "INSERT INTO warehouse.dim_campaign (campaign_id, name, channel, status, "
                "start_date, source_version) VALUES (%s, %s, 'social', 'active', %s, 1)",
                (cid, name, today - dt.timedelta(days=60)),
            )
        for offset in range(10):
            day = today - dt.timedelta(days=offset)
            conn.execute(
                "INSERT INTO warehouse.agg_campaign_daily (campaign_id, day, impressions, clicks, "
                "spend, platform_conversions, leads, conversions, revenue) "
                "VALUES (1001, %s, 1000, 50, 25.00, 5, 8, 4, 200.00)",
                (day,),
            )
    return dsn


# --- running server -----------------------------------------------------------------------


@dataclass
class RunningServer:
    url: str
    base: str
    application: McpApplication
    tls: ReloadingServerContext | None
    ca_file: Path | None

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"


@asynccontextmanager
async def serve(application: McpApplication) -> AsyncIterator[RunningServer]:
    config, tls = uvicorn_config(application)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("MCP server did not start")
        await asyncio.sleep(0.02)
    scheme = "https" if tls else "http"
    base = f"{scheme}://127.0.0.1:{application.settings.port}"
    try:
        yield RunningServer(base, base, application, tls, application.settings.tls_client_ca_file)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


ServerFactory = Callable[..., Any]


@pytest.fixture
def settings_factory(
    mongo_uri: str,
    mongo_db: pymongo.database.Database[dict[str, Any]],
    redis_url: str,
    redis_prefix: str,
    tokens: TokenIssuer,
    pki: Pki,
) -> Callable[..., McpSettings]:
    def make(*, tls: bool = True, oauth: bool = True, **overrides: Any) -> McpSettings:
        values: dict[str, Any] = {
            "mongo_uri": mongo_uri,
            "mongo_db": mongo_db.name,
            "redis_url": redis_url,
            "cache_prefix": redis_prefix,
            "host": "127.0.0.1",
            "port": free_port(),
            "index_refresh_seconds": 0.2,
            "tls_reload_seconds": 0.2,
        }
        if oauth:
            values.update(
                oauth_issuer=ISSUER,
                oauth_audience=AUDIENCE,
                oauth_public_keys_file=tokens.public_pem_file,
            )
        if tls:
            cert, key = pki.server_files()
            values.update(
                tls_cert_file=cert,
                tls_key_file=key,
                tls_client_ca_file=pki.write("ca-bundle.pem", to_pem(pki.ca.root)),
            )
        values.update(overrides)
        return McpSettings(**values)

    return make


@pytest.fixture
def app_factory(embedder: LocalEmbedder) -> Callable[[McpSettings], McpApplication]:
    from mcp_server.app import build_service

    def make(settings: McpSettings) -> McpApplication:
        return build_application(settings, service=build_service(settings, embedder=embedder))

    return make


def client_ssl_context(
    ca_file: Path | None, cert: tuple[Path, Path] | None = None
) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@asynccontextmanager
async def mcp_client(
    server: RunningServer,
    *,
    token: str | None = None,
    cert: tuple[Path, Path] | None = None,
) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, with a bearer token and/or client certificate."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(
            verify=client_ssl_context(server.ca_file, cert), headers=headers, timeout=60
        ) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        yield client


async def add_content(
    application: McpApplication, store: ContentStore, embedder: LocalEmbedder, item: ContentItem
) -> None:
    """Load ``item`` (a new content version) and wait until the server's index has it."""
    from mcp_server.content.loader import load_content

    service = application.service
    old = service.index.version
    await asyncio.to_thread(load_content, store, embedder, [item])
    for _ in range(600):  # the servers in these tests poll the content version every 0.2 s
        if service.index.version != old:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server never loaded the new content version")


def error_text(result: CallToolResult) -> str:
    """The text of a tool result's first content block (where tool errors are reported)."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def payload(result: CallToolResult) -> dict[str, Any]:
    """A tool result's structured content, which every successful call of ours carries."""
    content: dict[str, Any] | None = result.structured_content
    assert content is not None, result.content
    return content


ACCEPT = "application/json, text/event-stream"


async def rpc(
    server: RunningServer,
    method: str,
    params: dict[str, Any],
    *,
    token: str | None,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """One raw JSON-RPC request over HTTPS, as a third-party client or an attacker sends it."""
    base = {"Accept": ACCEPT}
    if token is not None:
        base["Authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(verify=client_ssl_context(server.ca_file), timeout=30) as http:
        return await http.post(
            server.mcp_url,
            headers={**base, **(headers or {})},
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        )


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (up to 20 s) for something another task or process makes true, such as a
    published message arriving: polled, so a loaded machine is slower, never wrong."""
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")
