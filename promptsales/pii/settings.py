"""Where the keyring lives: a file from the mounted Secret ``promptsales-pii-keyring``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptsales.config import load_settings, secrets_dir


class PiiSettings(BaseSettings):
    """Only a path: key material is never put into environment variables."""

    model_config = SettingsConfigDict(env_prefix="PROMPTSALES_PII_", extra="ignore")

    keyring_file: Path = Field(description="JSON keyring file (mounted Secret)")
    rotation_batch_rows: int = Field(default=5_000, ge=1, le=1_000_000)


def load_pii_settings() -> PiiSettings:
    return load_settings(PiiSettings, _secrets_dir=secrets_dir())
