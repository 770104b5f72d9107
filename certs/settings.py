"""Configuration of the ``promptsales certs`` CLI (env prefix ``PROMPTSALES_CERTS_``).

Durations accept ISO 8601 (``P90D``) or seconds. The key password comes from the
environment or a mounted Secret file, never from a command-line flag, where it would
be visible in the process list and shell history.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from certs.errors import CertificateError
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
    # The issuing CA of `certs issue` when --ca-cert/--ca-key are not given (`promptsales
    # up` points them at the local platform's CA).
    ca_cert_file: Path | None = None
    ca_key_file: Path | None = None

    def issuing_ca_files(self, cert: Path | None, key: Path | None) -> tuple[Path, Path]:
        """The --ca-cert/--ca-key pair, each defaulting to its setting."""
        chosen_cert, chosen_key = cert or self.ca_cert_file, key or self.ca_key_file
        if chosen_cert is None or chosen_key is None:
            missing = "--ca-cert" if chosen_cert is None else "--ca-key"
            variable = (
                f"{ENV_PREFIX}CERTS_{missing.removeprefix('--').replace('-', '_').upper()}_FILE"
            )
            raise CertificateError(
                f"{missing} is required (or set {variable}; after `promptsales up` it names "
                "the local platform's CA)"
            )
        return chosen_cert, chosen_key

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
