"""The ETL job's configuration: where the two sources and the warehouse are.

Credentials arrive as files in the mounted Secret ``promptsales-etl-credentials`` (one file
per variable), so the settings read ``secrets_dir()`` as well as the environment.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptsales.config import load_settings, secrets_dir

SOURCES = ("ads", "crm")


class EtlSettings(BaseSettings):
    """Connection strings of PromptAds, PromptCRM (SQLAlchemy URLs) and the warehouse (libpq DSN).

    ``SecretStr`` keeps passwords inside the URLs out of reprs, logs and tracebacks.
    """

    model_config = SettingsConfigDict(env_prefix="PROMPTSALES_ETL_", extra="ignore")

    ads_url: SecretStr = Field(description="SQLAlchemy URL of PromptAds")
    crm_url: SecretStr = Field(description="SQLAlchemy URL of PromptCRM")
    warehouse_dsn: SecretStr = Field(description="libpq DSN of the PromptSales warehouse")

    @field_validator("ads_url", "crm_url", "warehouse_dsn")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    sources: str = Field(
        default="ads,crm",
        description="Comma-separated sources to load (the campaign's spec.etl.sources)",
    )
    batch_rows: int = Field(default=20_000, ge=100, le=1_000_000)
    pii_workers: int = Field(default=0, ge=0, le=8)
    """Child processes that encrypt a customer view larger than one batch (0: the CRM
    reader thread does it; see ``etl_job.customer_worker`` for when more pays off)."""
    lock_wait_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = sorted(set(names) - set(SOURCES))
        if not names or unknown:
            raise ValueError(f"must list one or both of ads, crm (got {value!r})")
        return ",".join(s for s in SOURCES if s in names)

    @property
    def source_names(self) -> tuple[str, ...]:
        """The selected sources in load order (PromptAds first: CRM facts refer to campaigns)."""
        return tuple(self.sources.split(","))


def load_etl_settings() -> EtlSettings:
    """Settings from env and mounted Secret files; a ConfigError names the missing variable."""
    return load_settings(EtlSettings, _secrets_dir=secrets_dir())
