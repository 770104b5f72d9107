"""Assembly: settings → service → MCP server → HTTP app (or stdio), plus serving.

The HTTP app is put together from the SDK's own parts (streamable HTTP session manager,
``RequireAuthMiddleware``, ``AuthContextMiddleware``, protected-resource metadata routes)
with one substitution: the authentication backend also accepts verified client
certificates. Health, readiness and Prometheus metrics sit beside the MCP endpoint and
need no credentials (they reveal no data).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_server.access.auth import BearerOrCertificateBackend, JwtTokenVerifier, Principal
from mcp_server.access.endpoint import (
    ChallengingAuthMiddleware,
    NoEventStream,
    quiet_stateless_session_log,
    transport_security,
)
from mcp_server.access.sessions import SessionLabels, label_initialize
from mcp_server.access.tls import ReloadingServerContext, TLSExtensionH11Protocol
from mcp_server.answers.cache import ResponseCache
from mcp_server.config import McpSettings
from mcp_server.content.store import ContentStore
from mcp_server.messages.copywriter import OfflineGenerator
from mcp_server.messages.generation import Generator
from mcp_server.messages.model_generator import OpenAIGenerator
from mcp_server.metrics import Metrics
from mcp_server.protocol import PromptSalesMCPServer
from mcp_server.search.embeddings import Embedder, build_embedder
from mcp_server.service import ContentService
from mcp_server.sources.contacts import ContactsRepository
from mcp_server.sources.warehouse import WarehouseRepository
from mcp_server.tools import register_tools
from promptsales.config import ConfigError

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_generator(settings: McpSettings) -> Generator:
    if settings.openai_chat_model:
        return OpenAIGenerator(
            model=settings.openai_chat_model,
            base_url=settings.openai_base_url,
            api_key=_secret(settings.openai_api_key),
            timeout=settings.openai_timeout_seconds,
            fallback=OfflineGenerator(),
        )
    return OfflineGenerator()


def build_service(settings: McpSettings, embedder: Embedder | None = None) -> ContentService:
    metrics = Metrics()
    store = ContentStore.connect(
        _secret(settings.mongo_uri) or "",
        settings.mongo_db,
        settings.content_collection,
        timeout_seconds=settings.mongo_timeout_seconds,
    )
    cache = ResponseCache(
        _secret(settings.redis_url),
        prefix=settings.cache_prefix,
        ttl_seconds=settings.cache_ttl_seconds,
        metrics=metrics,
        retry_seconds=settings.cache_retry_seconds,
        socket_timeout=settings.cache_socket_timeout_seconds,
        local_entries=settings.cache_local_entries,
        sentinels=settings.sentinel_addresses,
        sentinel_master=settings.cache_sentinel_master,
        read_from_replicas=settings.cache_read_from_replicas,
    )
    dsn = _secret(settings.warehouse_dsn)
    backend = {"auto": None, "exact": False, "mongo": True}[settings.vector_backend]
    return ContentService(
        store=store,
        embedder=embedder or build_embedder(settings),
        cache=cache,
        metrics=metrics,
        warehouse=WarehouseRepository(dsn) if dsn else None,
        generator=build_generator(settings),
        query_cache_size=settings.query_embedding_cache_size,
        refresh_seconds=settings.index_refresh_seconds,
        use_vector_search=backend,
        follow_changes=settings.content_follow == "auto",
        vector_index_name=settings.vector_index_name,
        contacts=(
            ContactsRepository(dsn, settings.pii_keyring_file)
            if dsn and settings.pii_keyring_file
            else None
        ),
    )


def build_token_verifier(settings: McpSettings) -> JwtTokenVerifier | None:
    if not settings.oauth_enabled:
        return None
    assert settings.oauth_issuer is not None
    assert settings.oauth_audience is not None
    return JwtTokenVerifier(
        issuer=settings.oauth_issuer,
        audience=settings.oauth_audience,
        algorithms=settings.oauth_algorithms,
        role_claim=settings.oauth_role_claim,
        campaign_claim=settings.oauth_campaign_claim,
        jwks_url=settings.oauth_jwks_url,
        public_keys_file=settings.oauth_public_keys_file,
        leeway=settings.oauth_leeway_seconds,
    )


@dataclass
class McpApplication:
    """Everything one server process runs; ``mcp`` serves stdio, ``http_app()`` HTTP."""

    settings: McpSettings
    service: ContentService
    mcp: MCPServer[Any]

    def http_app(self) -> Starlette:
        settings = self.settings
        verifier = build_token_verifier(settings)
        if verifier is None and settings.tls_client_ca_file is None:
            raise ConfigError(
                "McpSettings",
                [
                    "PROMPTSALES_MCP_OAUTH_ISSUER / PROMPTSALES_MCP_TLS_CLIENT_CA_FILE: HTTP "
                    "serving needs bearer-token or client-certificate authentication"
                ],
            )
        manager = StreamableHTTPSessionManager(
            app=self.mcp._lowlevel_server,
            json_response=True,
            stateless=True,  # any replica can answer any request: the operator scales us
            security_settings=transport_security(settings),
        )
        quiet_stateless_session_log()
        # AuthSettings keeps path-less URLs exactly as configured (RFC 8414 compares issuers
        # as strings); a bare AnyHttpUrl would add a trailing slash.
        urls = AuthSettings(
            issuer_url=settings.oauth_issuer or settings.public_url,
            resource_server_url=settings.oauth_audience or settings.public_url,
            validate_token_resource=False,  # JwtTokenVerifier checks `aud` itself
        )
        resource_url = urls.resource_server_url
        assert resource_url is not None
        endpoint = ChallengingAuthMiddleware(
            SessionLabels(NoEventStream(StreamableHTTPASGIApp(manager))),
            [],
            build_resource_metadata_url(resource_url),
        )
        routes: list[Any] = [Route(MCP_PATH, endpoint=endpoint)]
        if verifier is not None:
            routes.extend(
                create_protected_resource_routes(
                    resource_url=resource_url,
                    authorization_servers=[urls.issuer_url],
                    scopes_supported=None,
                )
            )
        routes.extend(
            [
                Route("/healthz", self._health, methods=["GET"]),
                Route("/readyz", self._ready, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
            ]
        )

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            async with manager.run():
                yield

        return Starlette(
            routes=routes,
            middleware=[
                Middleware(AuthenticationMiddleware, backend=BearerOrCertificateBackend(verifier)),
                Middleware(AuthContextMiddleware),
            ],
            lifespan=lifespan,
        )

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def _ready(self, _request: Request) -> Response:
        report = await self.service.health()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    async def _metrics(self, _request: Request) -> Response:
        return Response(self.service.metrics.render(), media_type="text/plain; version=0.0.4")


def build_application(
    settings: McpSettings,
    *,
    service: ContentService | None = None,
    transport: Literal["http", "stdio"] = "http",
) -> McpApplication:
    service = service or build_service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[None]:
        async with service.running():
            yield

    mcp: MCPServer[Any] = PromptSalesMCPServer(
        "promptsales-mcp",
        title="PromptSales content and campaign tools",
        instructions=(
            "Search marketing content, read campaign KPIs and draft campaign messages. "
            "Tools are authorized by role (marketing, sales, user) and campaign scope."
        ),
        version="0.1.0",
        lifespan=lifespan,
        log_level=settings.log_level,
    )
    stdio = (
        Principal(
            subject="local",
            role=settings.stdio_role,
            campaign_id=settings.stdio_campaign_id,
            method="stdio",
        )
        if transport == "stdio"
        else None
    )
    mcp.middleware.append(label_initialize)  # HTTP sessions' labels (access/sessions.py)
    register_tools(mcp, service, stdio)
    return McpApplication(settings, service, mcp)


def uvicorn_config(
    application: McpApplication,
) -> tuple[uvicorn.Config, ReloadingServerContext | None]:
    settings = application.settings
    tls: ReloadingServerContext | None = None
    kwargs: dict[str, Any] = {}
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        tls = ReloadingServerContext(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        listening = tls.listening
        kwargs["ssl_context_factory"] = lambda _config, _default: listening
    elif settings.tls_client_ca_file is not None:
        raise ConfigError(
            "McpSettings",
            [
                "PROMPTSALES_MCP_TLS_CLIENT_CA_FILE: client certificates need TLS serving "
                "(set PROMPTSALES_MCP_TLS_CERT_FILE and PROMPTSALES_MCP_TLS_KEY_FILE)"
            ],
        )
    config = uvicorn.Config(
        application.http_app(),
        host=settings.host,
        port=settings.port,
        http=TLSExtensionH11Protocol,
        lifespan="on",
        log_config=None,
        access_log=False,
        **kwargs,
    )
    return config, tls


async def serve_http(application: McpApplication) -> None:
    """Serve until cancelled or signalled; certificates reload while serving."""
    config, tls = uvicorn_config(application)
    server = uvicorn.Server(config)
    watcher = (
        asyncio.create_task(tls.watch(application.settings.tls_reload_seconds)) if tls else None
    )
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()
