"""The connection strings the manifests put in Secrets verify exactly as ``dbtls`` would.

``workloads`` writes complete connection strings for the Kubernetes deployment (TLS on by
default there). This contract test keeps them and the single TLS translator in agreement,
so neither can drift to a weaker mode unnoticed.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import psycopg

from promptsales import dbtls
from workloads import cache, databases

PLATFORM_CA = dbtls.TLSFiles(ca_file=databases.CONSUMER_CA_FILE)


def test_warehouse_dsn_is_verify_full_against_the_platform_ca() -> None:
    dsn = databases.warehouse_dsn("promptsales-warehouse", "pw")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    for key, value in dbtls.libpq_options(PLATFORM_CA).items():
        assert params[key] == value


def test_sqlserver_url_encrypts_and_validates() -> None:
    url = databases.sqlserver_url("promptsales-sqlserver", "PromptAds", "etl", "pw")
    query = parse_qs(urlsplit(url).query)
    for key, value in dbtls.mssql_odbc_options(PLATFORM_CA).items():
        assert query[key] == [value]


def test_mongodb_uri_verifies_against_the_platform_ca() -> None:
    query = parse_qs(urlsplit(databases.mongodb_uri("promptsales-mongodb", "app", "pw")).query)
    assert query["tls"] == ["true"]
    assert query["tlsCAFile"] == [PLATFORM_CA.ca_file]
    assert not any(key.startswith("tlsAllow") or key == "tlsInsecure" for key in query)


def test_cache_url_requires_a_verified_certificate() -> None:
    url = cache.redis_url("promptsales-cache", "pw")
    assert url.startswith("rediss://")
    query = parse_qs(urlsplit(url).query)
    assert query["ssl_cert_reqs"] == ["required"]
    assert query.get("ssl_check_hostname", ["true"]) == ["true"]
    assert "ssl_ca_certs" in query


def test_default_ca_file_is_where_the_workloads_mount_it() -> None:
    assert dbtls.DEFAULT_CA_FILE == databases.CONSUMER_CA_FILE
