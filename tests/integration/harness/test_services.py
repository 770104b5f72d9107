"""The harness itself: each fixture reaches a real, isolated service."""

from __future__ import annotations

import psycopg
import pymongo
import pytest
import redis

from harness import services


def test_postgres_database_is_private_and_writable(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        assert str(name[0]).startswith("promptsales_test_")
        conn.execute("CREATE TABLE probe (id int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        assert conn.execute("SELECT count(*) FROM probe").fetchone() == (1,)


def test_database_factory_drops_what_it_made(pg_admin_dsn: str) -> None:
    with services.throwaway_database(pg_admin_dsn, "promptsales_probe") as dsn:
        name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(pg_admin_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    assert row == (0,)


def test_redis_prefix_is_cleaned(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = "pstest:cleanup-probe:"
    client.set(prefix + "a", "1")
    client.set(prefix + "b", "2")
    assert services.delete_prefix(client, prefix) == 2
    assert client.exists(prefix + "a") == 0
    client.close()


def test_mongo_wire_protocol_round_trip(
    mongo_db: pymongo.database.Database[dict[str, object]],
) -> None:
    mongo_db.items.insert_many(
        [{"_id": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(10)]
    )
    assert mongo_db.items.count_documents({"tag": "even"}) == 5
    doc = mongo_db.items.find_one({"_id": 3})
    assert doc is not None
    assert doc["tag"] == "odd"


def test_missing_postgres_is_named_with_a_fix() -> None:
    dead_dsn = f"postgresql://postgres@127.0.0.1:{services.free_port()}/postgres"
    with pytest.raises(
        services.ServiceUnavailableError, match=r"(?s)PostgreSQL is not reachable.*pg_ctlcluster"
    ):
        services.check_postgres(dead_dsn)


def test_missing_redis_is_named_with_a_fix() -> None:
    with pytest.raises(
        services.ServiceUnavailableError, match=r"(?s)Redis is not reachable.*redis-server"
    ):
        services.check_redis(f"redis://127.0.0.1:{services.free_port()}/0")
