from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certs.keys import KeyAlgorithm
from certs.settings import load_certs_settings
from promptsales.config import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    settings = load_certs_settings()
    assert settings.key_algorithm is KeyAlgorithm.ECDSA_P256
    assert settings.leaf_validity == dt.timedelta(days=90)
    assert settings.password_bytes() is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    monkeypatch.setenv("PROMPTSALES_CERTS_KEY_ALGORITHM", "rsa-3072")
    monkeypatch.setenv("PROMPTSALES_CERTS_RENEW_BEFORE", "P7D")
    monkeypatch.setenv("PROMPTSALES_CERTS_KEY_PASSWORD", "pw")
    settings = load_certs_settings()
    assert settings.key_algorithm is KeyAlgorithm.RSA_3072
    assert settings.renew_before == dt.timedelta(days=7)
    assert settings.password_bytes() == b"pw"


def test_bad_value_names_the_variable_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    monkeypatch.setenv("PROMPTSALES_CERTS_KEY_ALGORITHM", "dsa-1024-secretish")
    with pytest.raises(ConfigError, match="PROMPTSALES_CERTS_KEY_ALGORITHM") as info:
        load_certs_settings()
    assert "secretish" not in str(info.value)


def test_password_from_mounted_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    directory = tmp_path
    (directory / "PROMPTSALES_CERTS_KEY_PASSWORD").write_text("from-file")
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", str(directory))
    monkeypatch.delenv("PROMPTSALES_CERTS_KEY_PASSWORD", raising=False)
    assert load_certs_settings().password_bytes() == b"from-file"
