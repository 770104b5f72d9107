"""The test secrets, the environment that carries them, and the grep that hunts for them.

Every secret is a distinctive string that cannot appear in output by accident, so finding
one anywhere in captured output is a leak, not a coincidence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PG_PASSWORD = "hyg-PgPass-7731"
SOURCE_PASSWORD = "hyg-SrcPass-4410"
MARIADB_PASSWORD = "hyg-MariaPass-9902"
REDIS_PASSWORD = "hyg-RedisPass-5120"
MONGO_PASSWORD = "hyg-MongoPass-6284"
OPENAI_KEY = "sk-hyg-0penaiKey-83412"
BEARER_TOKEN = "hyg-Bearer-eyJ0eXAi.J9-x"

STATIC_SECRETS = (
    PG_PASSWORD,
    SOURCE_PASSWORD,
    MARIADB_PASSWORD,
    REDIS_PASSWORD,
    MONGO_PASSWORD,
    OPENAI_KEY,
    BEARER_TOKEN,
)


def secret_environment(dead_port: int, workdir: Path) -> dict[str, str]:
    """Every component's settings, each credential carrying a test secret.

    Servers point at a port nothing listens on, so commands reach their error paths (the
    paths most likely to print a connection string) quickly and without side effects.
    """
    host = f"127.0.0.1:{dead_port}"
    return {
        "PROMPTSALES_SECRETS_DIR": str(workdir / "no-secrets-dir"),
        "PROMPTSALES_ETL_WAREHOUSE_DSN": f"postgresql://postgres:{PG_PASSWORD}@{host}/wh",
        "PROMPTSALES_ETL_ADS_URL": f"postgresql+psycopg://etl:{SOURCE_PASSWORD}@{host}/ads",
        "PROMPTSALES_ETL_CRM_URL": f"postgresql+psycopg://etl:{SOURCE_PASSWORD}@{host}/crm",
        "PROMPTSALES_ETL_SIM_POSTGRES_DSN": f"postgresql://postgres:{PG_PASSWORD}@{host}/postgres",
        "PROMPTSALES_ETL_SIM_MARIADB_URL": f"mysql+pymysql://root:{MARIADB_PASSWORD}@{host}/",
        "PROMPTSALES_MCP_MONGO_URI": f"mongodb://app:{MONGO_PASSWORD}@{host}/?directConnection=true",
        "PROMPTSALES_MCP_REDIS_URL": f"redis://:{REDIS_PASSWORD}@{host}/0",
        "PROMPTSALES_MCP_WAREHOUSE_DSN": f"postgresql://mcp:{PG_PASSWORD}@{host}/wh",
        "PROMPTSALES_MCP_OPENAI_API_KEY": OPENAI_KEY,
        "PROMPTSALES_PII_KEYRING_FILE": str(workdir / "keyring.json"),
    }


def pem_body_lines(path: Path) -> list[str]:
    """The base64 lines of a PEM private key: any one of them in output is a leak."""
    return [
        line
        for line in path.read_text().splitlines()
        if line and not line.startswith("-----") and len(line) >= 16
    ]


def keyring_secrets(path: Path) -> list[str]:
    """Key material in a keyring file (HMAC key and every KEK)."""
    data = json.loads(path.read_text())
    return [str(data["hmac_key"]), *(str(v) for v in data["keks"].values())]


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr together
    stdout: str

    def assert_registered(self) -> None:
        """Fail (never skip) when the command does not exist.

        A renamed or dropped command exits 2 with "No such command"; a check that only
        asserts a non-zero exit or the absence of secrets would pass on that, and the
        secret-leak check would silently stop covering the command.
        """
        assert not (self.returncode == 2 and re.search(r"No such command", self.output)), (
            f"promptsales {' '.join(self.argv)} is not registered: {self.output[-300:]}"
        )


def run_cli(*argv: str, env: Mapping[str, str], cwd: Path) -> Run:
    """``promptsales <argv>`` in a fresh process, as a CronJob or a person runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "promptsales_cli", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Run(tuple(argv), result.returncode, result.stdout + result.stderr, result.stdout)


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` occur in ``text`` (masked in the failure message itself)."""
    return [f"{s[:4]}…({len(s)} chars)" for s in secrets if s and s in text]
