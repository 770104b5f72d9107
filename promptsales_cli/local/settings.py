"""Configuration of the local platform (``PROMPTSALES_LOCAL_*``), validated before any step runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalSettings(BaseSettings):
    """Where the local platform keeps its state and which services it reaches."""

    model_config = SettingsConfigDict(env_prefix="PROMPTSALES_LOCAL_", extra="ignore")

    home: Path = Field(
        default=Path(".promptsales"),
        description="State directory: CA, certificates, keyring, SecantusDB data, pids, logs.",
    )
    pg_admin_dsn: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="Superuser DSN of the PostgreSQL hosting warehouse and stand-in sources.",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="MCP response cache.")
    mongo_port: int = Field(default=27017, ge=1024, le=65535, description="SecantusDB port.")
    mcp_port: int = Field(default=8443, ge=1024, le=65535, description="MCP server HTTPS port.")
    warehouse_db: str = Field(default="promptsales", description="Warehouse database name.")
    ads_db: str = Field(default="promptads", description="Stand-in PromptAds source database.")
    crm_db: str = Field(default="promptcrm", description="Stand-in PromptCRM source database.")

    @field_validator("warehouse_db", "ads_db", "crm_db")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or not value[0].isalpha():
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return value

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"
