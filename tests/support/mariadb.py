"""Find the machine's MariaDB for the dirty-read simulation, the anomaly PostgreSQL cannot show.

Like the other services it is found, never reconfigured; when it is missing the test
fails with the command that starts it.
"""

from __future__ import annotations

import os

import pymysql
import pytest

from harness.services import ServiceUnavailableError

MARIADB_URL = os.environ.get("PROMPTSALES_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
MARIADB_HINT = (
    "start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd "
    "(or point PROMPTSALES_TEST_MARIADB_URL at a server where root needs no password)"
)


def check_mariadb(url: str = MARIADB_URL) -> None:
    from etl_job.concurrency.databases import parse_mariadb_url

    target = parse_mariadb_url(url)
    try:
        conn = target.connect(autocommit=True)
    except pymysql.err.OperationalError as exc:
        raise ServiceUnavailableError(
            f"MariaDB is not reachable at {target.host}:{target.port}: {exc.args[-1]}; "
            f"{MARIADB_HINT}"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """SQLAlchemy-style URL of a MariaDB server; tests create their own databases on it."""
    try:
        check_mariadb(MARIADB_URL)
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    return MARIADB_URL
