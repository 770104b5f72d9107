"""No key, password or token in anything the ``promptsales`` CLI prints.

Each command runs in a fresh process with every component's credentials set to test
secrets; its stdout and stderr are grepped for those secrets and for key material the
command itself created (CA and leaf private keys, PII keyring keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from harness.services import free_port
from promptsales_cli.main import app
from tests.integration.secrets_hygiene.secrets import (
    PG_PASSWORD,
    STATIC_SECRETS,
    Run,
    keyring_secrets,
    leaks,
    pem_body_lines,
    run_cli,
    secret_environment,
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    return secret_environment(free_port(), workdir)


@pytest.fixture
def keyring(workdir: Path, env: dict[str, str]) -> list[str]:
    """A real keyring created through the CLI; yields its key material."""
    created = run_cli("pii", "keyring", "create", "--file", str(workdir / "keyring.json"),
                      env=env, cwd=workdir)  # fmt: skip
    created.assert_registered()
    assert created.returncode == 0, created.output
    material = keyring_secrets(workdir / "keyring.json")
    assert not leaks(created.output, material)
    return material


def _assert_clean(run: Run, secrets: list[str]) -> None:
    run.assert_registered()
    found = leaks(run.output, secrets)
    assert not found, f"promptsales {' '.join(run.argv)} printed secrets {found}"


UNREACHABLE_SERVER_COMMANDS = [
    ("etl", "status"),
    ("etl", "run", "--campaign-id", "1"),
    ("etl", "run", "--all"),
    ("etl", "init-schema", "--sources"),
    ("etl", "seed", "--campaigns", "1", "--customers", "1", "--days", "1"),
    ("etl", "simulate", "lost-update"),
    ("etl", "simulate", "dirty-read"),
    ("pii", "rotate-kek"),
    ("pii", "rotate-dek"),
    ("pii", "retire"),
]


@pytest.mark.parametrize("argv", UNREACHABLE_SERVER_COMMANDS, ids=" ".join)
def test_failing_commands_print_no_secret(
    argv: tuple[str, ...], env: dict[str, str], workdir: Path, keyring: list[str]
) -> None:
    run = run_cli(*argv, env=env, cwd=workdir)
    run.assert_registered()
    assert run.returncode != 0, "the server is unreachable: the command must fail"
    _assert_clean(run, [*STATIC_SECRETS, *keyring])


def test_mcp_content_load_prints_no_secret(env: dict[str, str], workdir: Path) -> None:
    items = workdir / "items.jsonl"
    items.write_text('{"id": "c1", "title": "t", "body": "b", "tags": []}\n')
    run = run_cli("mcp", "load-content", str(items), env=env, cwd=workdir)
    _assert_clean(run, list(STATIC_SECRETS))


def test_successful_etl_init_schema_prints_no_password(
    pg_database_factory: object, env: dict[str, str], workdir: Path
) -> None:
    assert callable(pg_database_factory)
    params = psycopg.conninfo.conninfo_to_dict(pg_database_factory("promptsales_hyg"))
    params["password"] = PG_PASSWORD  # the local server trusts loopback and ignores it
    dsn = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    run = run_cli(
        "etl", "init-schema", env={**env, "PROMPTSALES_ETL_WAREHOUSE_DSN": dsn}, cwd=workdir
    )
    assert run.returncode == 0, run.output
    _assert_clean(run, list(STATIC_SECRETS))


def test_certs_commands_never_print_private_keys(env: dict[str, str], workdir: Path) -> None:
    out, leaf = workdir / "pki", workdir / "leaf"
    out.mkdir()
    leaf.mkdir()
    steps = [
        ("certs", "create-ca", "--cn", "Hygiene CA", "--out-dir", str(out)),
        ("certs", "issue", "server", "--ca-cert", str(out / "ca.crt"),
         "--ca-key", str(out / "ca.key"), "--cn", "db", "--dns", "db.internal",
         "--out-dir", str(leaf)),
        ("certs", "inspect", str(out)),
        ("certs", "inspect", "--json", str(leaf)),
        ("certs", "due", str(leaf)),
    ]  # fmt: skip
    runs = []
    for argv in steps:
        run = run_cli(*argv, env=env, cwd=workdir)
        run.assert_registered()
        runs.append(run)
    assert runs[0].returncode == 0, runs[0].output
    keys = [path for d in (out, leaf) for path in d.iterdir() if path.suffix == ".key"]
    assert len(keys) >= 2, "the CA and the server key were written to files"
    key_material = [line for path in keys for line in pem_body_lines(path)]
    for run in runs:
        assert "PRIVATE KEY" not in run.output
        _assert_clean(run, [*STATIC_SECRETS, *key_material])


def _leaf_commands(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    children = getattr(command, "commands", None)
    if not children:
        yield path
        return
    for name, child in sorted(children.items()):
        yield from _leaf_commands(child, (*path, name))


def test_every_command_help_is_clean(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Help text shows defaults; none of them may be a credential from the environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    root = typer.main.get_command(app)
    commands = list(_leaf_commands(root))
    assert len(commands) > 5
    for argv in commands:
        result = runner.invoke(app, [*argv, "--help"])
        assert result.exit_code == 0, (argv, result.output)
        assert not leaks(result.output, STATIC_SECRETS), argv
