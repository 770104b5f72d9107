"""Redis over TLS: redis-py with the platform CA, required certificates and host name check."""

from __future__ import annotations

import pytest
import redis

from promptsales.dbtls import DatabaseTLS, redis_options, redis_url
from tests.integration.dbtls.conftest import PKI
from tests.support import tls_services
from tests.support.tls_services import TLSEndpoint


def _client(endpoint: TLSEndpoint, tls: DatabaseTLS) -> redis.Redis:
    url = redis_url(f"redis://127.0.0.1:{endpoint.port}/0", tls)
    return redis.Redis.from_url(url, socket_connect_timeout=5, **redis_options(tls))


def test_verify_full_round_trip(tls_redis: TLSEndpoint, tls: DatabaseTLS) -> None:
    client = _client(tls_redis, tls)
    try:
        client.set("dbtls:probe", "1")
        assert client.get("dbtls:probe") == b"1"
        assert client.connection_pool.connection_class is redis.SSLConnection
    finally:
        client.close()


def test_server_certificate_from_another_ca_is_refused(pki: PKI, tls: DatabaseTLS) -> None:
    with tls_services.tls_redis(pki.rogue_server) as rogue:
        client = _client(rogue, tls)
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            client.ping()
        client.close()


def test_host_name_must_match_the_certificate(pki: PKI, tls: DatabaseTLS) -> None:
    with tls_services.tls_redis(pki.misnamed_server) as misnamed:
        client = _client(misnamed, tls)
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            client.ping()
        client.close()


def test_plaintext_client_cannot_talk_to_the_tls_port(tls_redis: TLSEndpoint) -> None:
    client = redis.Redis(host=tls_redis.host, port=tls_redis.port, socket_timeout=1)
    with pytest.raises(redis.RedisError):
        client.ping()
    client.close()


def test_mutual_tls_needs_the_client_certificate(
    pki: PKI, tls: DatabaseTLS, mtls: DatabaseTLS
) -> None:
    with tls_services.tls_redis(pki.platform_server, require_client_cert=True) as server:
        anonymous = _client(server, tls)
        with pytest.raises(redis.ConnectionError):
            anonymous.ping()
        anonymous.close()
        client = _client(server, mtls)
        assert client.ping() is True
        client.close()


def test_self_contained_url_verifies_without_extra_arguments(
    pki: PKI, tls_redis: TLSEndpoint, tls: DatabaseTLS
) -> None:
    """The form a Secret carries: every TLS option inside the URL."""
    good = redis.Redis.from_url(redis_url(f"redis://127.0.0.1:{tls_redis.port}/0", tls, embed=True))
    assert good.ping() is True
    good.close()
    with tls_services.tls_redis(pki.rogue_server) as rogue:
        bad = redis.Redis.from_url(redis_url(f"redis://127.0.0.1:{rogue.port}/0", tls, embed=True))
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            bad.ping()
        bad.close()
