"""The pure pieces the program composes: connection strings, engine config, resource mapping."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict
from pymongo.uri_parser import parse_uri
from sqlalchemy.engine import make_url

from infra import policy
from infra.resources import CUSTOM_KINDS, KINDS, declare
from workloads import cache, databases
from workloads.capacity import SCALED_WORKLOADS
from workloads.render import PlatformSpec, platform_manifests, sqlserver_source_ddl

# Printable passwords, including every character a URL or DSN would need escaped.
PASSWORDS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)


@given(PASSWORDS)
def test_warehouse_dsn_round_trips_any_password(password: str) -> None:
    parsed = conninfo_to_dict(databases.warehouse_dsn("pg.example.svc", password))
    assert parsed["password"] == password
    assert parsed["sslmode"] == "verify-full"
    assert parsed["sslrootcert"] == "/var/run/secrets/promptsales/ca.crt"


@given(PASSWORDS)
def test_sqlserver_url_round_trips_any_password(password: str) -> None:
    url = make_url(databases.sqlserver_url("sql.example.svc", "PromptAds", "etl", password))
    assert url.password == password
    assert url.database == "PromptAds"
    assert url.query["Encrypt"] == "yes"
    assert url.query["TrustServerCertificate"] == "no"


@given(PASSWORDS)
def test_mongodb_uri_round_trips_any_password(password: str) -> None:
    # validate=False: pymongo would open tlsCAFile, which exists only inside the pod.
    parsed = parse_uri(
        databases.mongodb_uri("mongo.example.svc", "promptsales", password), validate=False
    )
    assert parsed["password"] == password
    assert parsed["database"] == "PromptContent"
    assert parsed["options"]["tls"] in {True, "true"}
    assert parsed["options"]["tlsCAFile"] == "/var/run/secrets/promptsales/ca.crt"


@given(PASSWORDS)
def test_redis_url_round_trips_any_password(password: str) -> None:
    pool = redis.ConnectionPool.from_url(cache.redis_url("cache.example.svc", password))
    assert pool.connection_kwargs["password"] == password
    assert pool.connection_kwargs["ssl_ca_certs"] == "/var/run/secrets/promptsales/ca.crt"
    assert pool.connection_kwargs["ssl_cert_reqs"] == "required"


def test_redis_memory_budget_leaves_headroom_below_the_limit() -> None:
    assert cache.maxmemory_bytes(512) == 384 * 1024 * 1024
    conf = cache.redis_conf(512, "allkeys-lfu")
    assert "maxmemory 402653184\n" in conf
    assert "maxmemory-policy allkeys-lfu\n" in conf
    assert "port 0\n" in conf  # no plaintext listener
    with pytest.raises(ValueError, match="memory_limit_mib"):
        cache.maxmemory_bytes(0)


@pytest.mark.parametrize("bad", ['pa"ss', "pa\nss", "pa ss", "pa\\ss", ""])
def test_redis_auth_conf_refuses_passwords_that_would_break_the_file(bad: str) -> None:
    for build in (cache.redis_auth_conf, cache.sentinel_auth_conf, cache.auth_secret_data):
        with pytest.raises(ValueError, match="quotes, spaces or newlines"):
            build(bad)


def test_sqlserver_init_script_is_idempotent_and_carries_the_etl_model() -> None:
    script = databases.sqlserver_init_sql(sqlserver_source_ddl())
    assert "IF DB_ID(N'PromptAds') IS NULL CREATE DATABASE [PromptAds];" in script
    assert "IF DB_ID(N'PromptCRM') IS NULL CREATE DATABASE [PromptCRM];" in script
    assert "$(EtlPassword)" in script
    assert "CREATE OR ALTER VIEW etl." in script
    assert script.count("USE [PromptAds];") == 2  # login grants, then the source DDL
    assert not policy.check_plain_secrets(
        {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"init.sql": script}}
    )


def test_serving_names_cover_every_way_a_client_dials() -> None:
    names = databases.serving_dns_names("promptsales-postgres", "data")
    assert names[:4] == [
        "promptsales-postgres",
        "promptsales-postgres.data",
        "promptsales-postgres.data.svc",
        "promptsales-postgres.data.svc.cluster.local",
    ]


@pytest.mark.parametrize("tier", ["production", "single"])
def test_every_rendered_kind_has_a_typed_resource(tier: str) -> None:
    spec = PlatformSpec.model_validate(
        {
            "tier": tier,
            "mongodb": {"search": {"enabled": tier == "production"}},
            "monitoring": {"enabled": True},
        }
    )
    for manifest in platform_manifests(spec):
        key = (manifest["apiVersion"], manifest["kind"])
        assert key in KINDS or key in CUSTOM_KINDS, key


def test_no_manifest_sets_the_replicas_the_operator_owns() -> None:
    """One owner per field: a rendered spec.replicas would conflict with the operator's
    field manager on every server-side re-apply (or reset its count on a forced one)."""
    workloads = {
        (m["kind"], m["metadata"]["name"]): m["spec"]
        for m in platform_manifests(PlatformSpec())
        if m["kind"] in {"Deployment", "StatefulSet"}
    }
    for scaled in SCALED_WORKLOADS:
        assert "replicas" not in workloads[(scaled.kind, scaled.name)]
    # Not scaled by anyone: the operator itself, and the Sentinels (a quorum of three).
    assert workloads[("Deployment", "promptsales-operator")]["replicas"] == 1
    assert workloads[("StatefulSet", "promptsales-cache-sentinel")]["replicas"] == 3


def test_unknown_kinds_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"example\.io/v1/Widget"):
        declare({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}})
