"""Find or start the real services the tests run against, with a message that says how to fix it.

PostgreSQL and Redis are the machine's own servers (found, never reconfigured); the
MongoDB wire-protocol server is a SecantusDB process started on a free port. Every
helper here fails with a message naming the missing service and the command that
starts it, rather than a bare connection error deep inside a test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pymongo
import redis
from psycopg import sql

from promptsales_cli.local.down import delete_prefix
from promptsales_cli.local.mongo import find_secantus

__all__ = ["delete_prefix"]

PG_ADMIN_DSN = os.environ.get(
    "PROMPTSALES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PROMPTSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

PG_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
    "(or point PROMPTSALES_TEST_PG_DSN at a server with trust auth)"
)
REDIS_HINT = (
    "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "--appendonly no (or point PROMPTSALES_TEST_REDIS_URL at a server)"
)


class ServiceUnavailableError(RuntimeError):
    """A service the tests need is not reachable; the message says how to start it."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dsn_for_database(admin_dsn: str, database: str) -> str:
    """The admin DSN with its database name replaced."""
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def check_postgres(admin_dsn: str = PG_ADMIN_DSN) -> None:
    try:
        with psycopg.connect(admin_dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(
            f"PostgreSQL is not reachable at {admin_dsn}: {exc}; {PG_HINT}"
        ) from None


def create_database(admin_dsn: str, prefix: str) -> str:
    """Create an empty uniquely named database and return its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def throwaway_database(admin_dsn: str, prefix: str) -> Iterator[str]:
    """A fresh database for the duration of the block; yields its DSN, drops it afterwards."""
    check_postgres(admin_dsn)
    name = create_database(admin_dsn, prefix)
    try:
        yield dsn_for_database(admin_dsn, name)
    finally:
        drop_database(admin_dsn, name)


def check_redis(url: str = REDIS_URL) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        raise ServiceUnavailableError(
            f"Redis is not reachable at {url}: {exc}; {REDIS_HINT}"
        ) from None
    return client


@dataclass(frozen=True)
class MongoServer:
    """A running MongoDB wire-protocol server (SecantusDB) the tests reach through pymongo."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"


def secantus_executable() -> str:
    found = find_secantus()
    if found is None:
        raise ServiceUnavailableError(
            "the MongoDB wire-protocol server SecantusDB is not installed; "
            "install the test extra: pip install -e '.[test]'"
        )
    return found


@contextmanager
def mongo_server(
    extra_args: list[str] | None = None, timeout_s: float = 60.0
) -> Iterator[MongoServer]:
    """Start SecantusDB on a free loopback port with in-memory storage; stop it afterwards."""
    port = free_port()
    args = [
        secantus_executable(),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--storage-path", ":memory:",
        "--log-level", "WARNING",
        *(extra_args or []),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = MongoServer("127.0.0.1", port, process)
    try:
        _wait_for_mongo(server, timeout_s)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_mongo(server: MongoServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            stderr = (
                server.process.stderr.read().decode(errors="replace")
                if server.process.stderr
                else ""
            )
            raise ServiceUnavailableError(
                f"SecantusDB exited with {server.process.returncode}: {stderr[-2000:]}"
            )
        try:
            client: pymongo.MongoClient[dict[str, object]]
            with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
            return
        except pymongo.errors.PyMongoError as exc:
            last_error = exc
            time.sleep(0.1)
    raise ServiceUnavailableError(
        f"SecantusDB did not answer on {server.uri} within {timeout_s}s: {last_error}"
    )
