"""The MCP server's one configuration model (env prefix ``PROMPTSALES_MCP_``).

Every knob lives here so a deployment has one place to look and a bad value is
reported by :func:`promptsales.config.load_settings` with the variable's name.
Credentials (the OpenAI key, the warehouse DSN) are read from mounted Secret files
as well as the environment, and are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_server.answers.cache_engine import DEFAULT_MASTER_NAME, parse_sentinels
from promptsales.config import load_settings, secrets_dir

Role = Literal["marketing", "sales", "user"]


class McpSettings(BaseSettings):
    """Settings of ``promptsales mcp``; see mcp_server/README.md for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="PROMPTSALES_MCP_", extra="ignore", populate_by_name=True
    )

    # --- content store (MongoDB PromptContent) ---
    mongo_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    mongo_db: str = Field(default="PromptContent", min_length=1, max_length=63)
    content_collection: str = Field(default="content", min_length=1, max_length=120)
    mongo_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    index_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)
    # exact: the in-process index; mongo: $vectorSearch in MongoDB (MongoDB Search / Atlas),
    # no index held in process; auto: mongo when the server has a queryable vector index.
    vector_backend: Literal["auto", "exact", "mongo"] = "auto"
    vector_index_name: str = Field(default="content_vector", min_length=1, max_length=64)
    # auto: follow content through a change stream where the server offers one (a replica
    # set), else poll the content version every index_refresh_seconds; poll: always poll.
    content_follow: Literal["auto", "poll"] = "auto"

    # --- embeddings ---
    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = Field(default="all-MiniLM-L6-v2", min_length=1, max_length=200)
    embedding_dimensions: int | None = Field(default=None, gt=0, le=8192)
    query_embedding_cache_size: int = Field(default=4096, ge=0, le=1_000_000)
    # ONNX Runtime threads of the local model. Unset: one for the server (it embeds one
    # query at a time on its compute thread), all cores for the batch loader.
    embedding_threads: int | None = Field(default=None, ge=1, le=256)

    # --- OpenAI or compatible endpoint (embeddings and/or chat) ---
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_chat_model: str | None = None
    openai_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    # --- warehouse (PostgreSQL PromptSales) ---
    warehouse_dsn: SecretStr | None = None
    # The platform keyring (Secret promptsales-pii-keyring); set only where sales contacts
    # are served. Read from PROMPTSALES_MCP_PII_KEYRING_FILE or the shared
    # PROMPTSALES_PII_KEYRING_FILE.
    pii_keyring_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "pii_keyring_file", "PROMPTSALES_MCP_PII_KEYRING_FILE", "PROMPTSALES_PII_KEYRING_FILE"
        ),
    )

    # --- cache (Redis) ---
    redis_url: SecretStr | None = SecretStr("redis://127.0.0.1:6379/0")
    cache_prefix: str = Field(default="promptsales:mcp:", min_length=1, max_length=200)
    cache_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    cache_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    cache_socket_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # Recent answers also kept in process (each no longer than its Redis entry); 0 disables.
    cache_local_entries: int = Field(default=1024, ge=0, le=100_000)
    # Redis Sentinels ("host:port,host:port") of a replicated cache: the primary and its
    # replicas are found through them, and redis_url then gives only credentials and TLS.
    cache_sentinels: str | None = None
    cache_sentinel_master: str = Field(default=DEFAULT_MASTER_NAME, min_length=1, max_length=200)
    # Answers are read from the replicas (the primary only on a replica's miss).
    cache_read_from_replicas: bool = True

    # --- HTTP serving ---
    host: str = "0.0.0.0"  # noqa: S104 - the pod's only interface is the Service's target
    port: int = Field(default=8443, ge=1, le=65535)
    public_url: str = "https://promptsales-mcp.promptsales.svc:8443"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    tls_reload_seconds: float = Field(default=10.0, gt=0, le=3600)
    # DNS-rebinding protection (MCP transport security): Host headers and browser Origins
    # accepted besides the server's own URLs (public_url, oauth_audience) and loopback.
    # Entries are exact ("mcp.example.com", "mcp.example.com:8443") or any port ("host:*").
    allowed_hosts: list[str] = Field(default_factory=list, max_length=100)
    allowed_origins: list[str] = Field(default_factory=list, max_length=100)

    # --- OAuth 2.1 bearer tokens ---
    oauth_issuer: str | None = None
    oauth_audience: str | None = None
    oauth_jwks_url: str | None = None
    oauth_public_keys_file: Path | None = None
    oauth_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    oauth_role_claim: str = "promptsales_role"
    oauth_campaign_claim: str = "promptsales_campaign"
    oauth_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # --- stdio (local use: the person running the process is the caller) ---
    stdio_role: Role = "marketing"
    stdio_campaign_id: str | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cache_sentinels")
    @classmethod
    def _check_sentinels(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_sentinels(value)  # raises with what is wrong; the variable is named
            return value
        return None

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return parse_sentinels(self.cache_sentinels) if self.cache_sentinels else []

    @model_validator(mode="after")
    def _check_pairs(self) -> McpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.oauth_issuer and not (self.oauth_jwks_url or self.oauth_public_keys_file):
            raise ValueError("oauth_issuer needs oauth_jwks_url or oauth_public_keys_file")
        if self.oauth_issuer and not self.oauth_audience:
            raise ValueError("oauth_issuer needs oauth_audience (this server's resource URL)")
        if self.pii_keyring_file is not None and self.warehouse_dsn is None:
            raise ValueError(
                "pii_keyring_file needs warehouse_dsn (contacts live in the warehouse)"
            )
        if self.cache_sentinels and self.redis_url is None:
            raise ValueError("cache_sentinels needs redis_url (its credentials and TLS options)")
        if self.embedding_provider == "openai" and not self.openai_base_url:
            raise ValueError("embedding_provider=openai needs openai_base_url")
        return self

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.oauth_issuer)


def load_mcp_settings(**overrides: object) -> McpSettings:
    """Settings from the environment and mounted Secret files; ConfigError names a bad one."""
    directory = secrets_dir()
    if directory is not None:
        overrides.setdefault("_secrets_dir", directory)
    return load_settings(McpSettings, **overrides)
