"""Configuration of the ``promptsales certs`` CLI (env prefix ``PROMPTSALES_CERTS_``).

Durations accept ISO 8601 (``P90D``) or seconds. The key password comes from the
environment or a mounted Secret file, never from a command-line flag, where it would
be visible in the process list and shell history.
"""

from __future__ import annotations

import datetime as dt

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from certs.keys import DEFAULT_KEY_ALGORITHM, KeyAlgorithm
from promptsales.config import ENV_PREFIX, load_settings, secrets_dir


class CertsSettings(BaseSettings):
    """Defaults for issuing and the policy for renewal checks."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}CERTS_", extra="ignore")

    key_algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM
    ca_validity: dt.timedelta = dt.timedelta(days=3650)
    leaf_validity: dt.timedelta = dt.timedelta(days=90)
    # None: renew at two thirds of the lifetime (cert-manager's default).
    renew_before: dt.timedelta | None = None
    # Encrypts key files the CLI writes and decrypts the ones it reads.
    key_password: SecretStr | None = None

    def password_bytes(self) -> bytes | None:
        """The key password as the bytes ``cryptography`` expects, or None."""
        if self.key_password is None or not self.key_password.get_secret_value():
            return None
        return self.key_password.get_secret_value().encode()


def load_certs_settings() -> CertsSettings:
    """Settings from the environment and the mounted-Secret directory, or ConfigError."""
    directory = secrets_dir()
    if directory is None:
        return load_settings(CertsSettings)
    return load_settings(CertsSettings, _secrets_dir=directory)
