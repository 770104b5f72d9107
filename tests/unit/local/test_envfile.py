"""platform.env: written by ``up``, read by every other command, never over the environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptsales.config import ConfigError
from promptsales_cli.local.envfile import (
    apply_env_file,
    env_file_path,
    read_env_file,
    write_env_file,
)
from promptsales_cli.main import app

VALUES = {
    "PROMPTSALES_SECRETS_DIR": "/state dir/secrets/platform",
    "PROMPTSALES_MCP_OAUTH_ALGORITHMS": '["ES256"]',
    "PROMPTSALES_MCP_PUBLIC_URL": "https://127.0.0.1:8443",
    "PROMPTSALES_ODD": 'it\'s $HOME \\ "quoted"',
}


def test_written_file_reads_back_exactly_and_is_private(tmp_path: Path) -> None:
    path = write_env_file(tmp_path, VALUES)
    assert path == tmp_path / "platform.env"
    assert read_env_file(path) == VALUES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_multi_line_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PROMPTSALES_X"):
        write_env_file(tmp_path, {"PROMPTSALES_X": "a\nb"})
    assert not (tmp_path / "platform.env").exists()


def test_found_under_the_local_home_and_fills_only_missing_variables(tmp_path: Path) -> None:
    write_env_file(tmp_path, VALUES)
    environ = {
        "PROMPTSALES_LOCAL_HOME": str(tmp_path),
        "PROMPTSALES_MCP_PUBLIC_URL": "https://mine.example",
    }
    applied = apply_env_file(environ)
    assert environ["PROMPTSALES_MCP_PUBLIC_URL"] == "https://mine.example"  # exported wins
    assert environ["PROMPTSALES_SECRETS_DIR"] == VALUES["PROMPTSALES_SECRETS_DIR"]
    assert "PROMPTSALES_MCP_PUBLIC_URL" not in applied
    assert set(applied) == set(VALUES) - {"PROMPTSALES_MCP_PUBLIC_URL"}


def test_default_location_is_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert env_file_path({}) is None  # no local platform here
    (tmp_path / ".promptsales").mkdir()
    write_env_file(tmp_path / ".promptsales", VALUES)
    assert env_file_path({}) == Path(".promptsales") / "platform.env"


def test_env_file_variable_names_a_file_or_turns_the_lookup_off(tmp_path: Path) -> None:
    write_env_file(tmp_path, VALUES)
    home = {"PROMPTSALES_LOCAL_HOME": str(tmp_path)}
    assert env_file_path({**home, "PROMPTSALES_ENV_FILE": ""}) is None
    named = tmp_path / "platform.env"
    assert env_file_path({"PROMPTSALES_ENV_FILE": str(named)}) == named
    with pytest.raises(ConfigError, match="PROMPTSALES_ENV_FILE"):
        env_file_path({"PROMPTSALES_ENV_FILE": str(tmp_path / "missing.env")})


def test_component_commands_read_it_and_local_platform_commands_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env_file(tmp_path, {"PROMPTSALES_CERTS_CA_CERT_FILE": str(tmp_path / "nope.crt")})
    monkeypatch.setenv("PROMPTSALES_ENV_FILE", str(tmp_path / "platform.env"))
    monkeypatch.delenv("PROMPTSALES_CERTS_CA_CERT_FILE", raising=False)
    runner = CliRunner()
    result = runner.invoke(
        app, ["certs", "issue", "server", "--cn", "x", "--dns", "x.example", "--ca-key", "k"]
    )
    assert result.exit_code == 1
    assert "nope.crt" in result.output  # the CA file came from the env file
    monkeypatch.delenv("PROMPTSALES_CERTS_CA_CERT_FILE")
    result = runner.invoke(app, ["token", "--role", "nobody"])
    assert result.exit_code == 2
    assert "PROMPTSALES_CERTS_CA_CERT_FILE" not in os.environ
