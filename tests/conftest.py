"""Session-wide test harness: real PostgreSQL, Redis, a MongoDB wire-protocol server.

Every fixture finds or starts a real service; when one is missing the test errors with
a message naming it and the command that starts it. Tests are marked by directory:
``tests/unit`` → ``unit``, ``tests/integration`` → ``integration``, ``tests/e2e`` → ``e2e``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redis

from harness import services

TESTS_ROOT = Path(__file__).parent

# A developer's own local platform (.promptsales/platform.env after `promptsales up`) must
# not fill in settings for the commands the suite runs; tests that mean to read an env
# file name it, or remove this variable from a child's environment.
os.environ["PROMPTSALES_ENV_FILE"] = ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.fspath)).relative_to(TESTS_ROOT).parts
        if relative and relative[0] in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, relative[0]))


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# --- PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """DSN of a superuser connection to the local server (for creating databases)."""
    try:
        services.check_postgres(services.PG_ADMIN_DSN)
    except services.ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    return services.PG_ADMIN_DSN


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A throwaway database for this test session (one per xdist worker), dropped afterwards."""
    with services.throwaway_database(pg_admin_dsn, f"promptsales_test_{_worker_id()}") as dsn:
        yield dsn


@pytest.fixture
def pg_database_factory(pg_admin_dsn: str) -> Iterator[object]:
    """Create extra empty databases inside one test (e.g. a source and a warehouse)."""
    created: list[str] = []

    def make(prefix: str = "promptsales_t") -> str:
        name = services.create_database(pg_admin_dsn, f"{prefix}_{_worker_id()}")
        created.append(name)
        return services.dsn_for_database(pg_admin_dsn, name)

    yield make
    for name in created:
        services.drop_database(pg_admin_dsn, name)


# --- Redis --------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        services.check_redis(services.REDIS_URL).close()
    except services.ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    return services.REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix owned by this test; every key under it is deleted afterwards."""
    prefix = f"pstest:{_worker_id()}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        services.delete_prefix(client, prefix)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# --- MongoDB wire protocol (SecantusDB) ----------------------------------------


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[services.MongoServer]:
    """One SecantusDB server per session (per xdist worker) on a free loopback port."""
    try:
        with services.mongo_server() as server:
            yield server
    except services.ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: services.MongoServer) -> str:
    return mongo_server.uri


@pytest.fixture
def mongo_db(mongo_uri: str) -> Iterator[pymongo.database.Database[dict[str, object]]]:
    """A uniquely named database on the session server, dropped after the test."""
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(mongo_uri)
    name = f"promptcontent_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


# --- MariaDB (the dirty-read simulation: PostgreSQL cannot show that anomaly) ---------

from tests.support.mariadb import mariadb_url  # noqa: E402, F401  (registers the fixture)
