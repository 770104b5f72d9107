"""The shared JSON logger, used the way components log, never writes a test secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import psycopg
import pytest

from harness.services import free_port
from promptsales.logs import configure_logging
from tests.integration.secrets_hygiene.secrets import (
    BEARER_TOKEN,
    MONGO_PASSWORD,
    OPENAI_KEY,
    PG_PASSWORD,
    SOURCE_PASSWORD,
    STATIC_SECRETS,
    leaks,
)

PEM_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"
    "hygPemBody0123456789\n-----END PRIVATE KEY-----"
)
PEM_SECRET = "hygPemBody0123456789"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """The root logger configured as the components configure it, restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield logging.getLogger("promptsales.hygiene")
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _configure(capsys: pytest.CaptureFixture[str]) -> None:
    # Inside the test body: the handler binds the sys.stderr that capsys is capturing now.
    configure_logging("DEBUG")
    capsys.readouterr()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_messages_and_extra_fields_are_redacted(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(capsys)
    logger.info("connecting to postgresql://etl:%s@wh:5432/PromptSales", PG_PASSWORD)
    logger.info("source host=ads user=etl password=%s dbname=ads", SOURCE_PASSWORD)
    logger.info("mongo", extra={"uri": f"mongodb://app:{MONGO_PASSWORD}@m:27017/db"})
    logger.info("llm call", extra={"api_key": OPENAI_KEY, "headers": {"Authorization": "x"}})
    logger.info("upstream said: Authorization: Bearer %s", BEARER_TOKEN)
    logger.warning("loaded key %s", PEM_KEY)
    lines = _lines(capsys)
    assert len(lines) == 6
    text = json.dumps(lines)
    assert not leaks(text, [*STATIC_SECRETS, PEM_SECRET])
    assert text.count("[REDACTED]") >= 6


def test_exception_from_a_real_driver_is_redacted(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(capsys)
    dsn = f"postgresql://etl:{PG_PASSWORD}@127.0.0.1:{free_port()}/wh"
    try:
        psycopg.connect(dsn, connect_timeout=2)
    except psycopg.OperationalError:
        logger.exception("warehouse unreachable at %s", dsn)
    lines = _lines(capsys)
    assert len(lines) == 1
    assert "exc" in lines[0]
    assert not leaks(json.dumps(lines), STATIC_SECRETS)


def test_a_secret_wrapped_in_an_exception_message_is_redacted(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(capsys)
    try:
        raise RuntimeError(f"cannot open postgresql://etl:{PG_PASSWORD}@wh/x")
    except RuntimeError:
        logger.exception("run failed")
    assert not leaks(json.dumps(_lines(capsys)), STATIC_SECRETS)
