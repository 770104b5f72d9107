"""MongoDB wire protocol over TLS: pymongo against SecantusDB with --tls-cert-file."""

from __future__ import annotations

import pymongo
import pytest

from promptsales.dbtls import DatabaseTLS, load_database_tls, mongo_options, mongo_uri
from tests.integration.dbtls.conftest import PKI
from tests.support import tls_services
from tests.support.tls_services import TLSEndpoint

#: A refused handshake never succeeds on retry; pymongo reports it after this long.
REFUSAL_MS = 1000


def _client(
    endpoint: TLSEndpoint, tls: DatabaseTLS, timeout_ms: int = 10_000
) -> pymongo.MongoClient[dict[str, object]]:
    return pymongo.MongoClient(
        f"mongodb://127.0.0.1:{endpoint.port}/?directConnection=true",
        serverSelectionTimeoutMS=timeout_ms,
        **mongo_options(tls),
    )


def test_verify_full_round_trip(tls_mongo: TLSEndpoint, tls: DatabaseTLS) -> None:
    with _client(tls_mongo, tls) as client:
        collection = client["promptcontent_tls"]["items"]
        collection.insert_one({"_id": 1, "tag": "tls"})
        assert collection.find_one({"_id": 1}) == {"_id": 1, "tag": "tls"}


def test_server_certificate_from_another_ca_is_refused(pki: PKI, tls: DatabaseTLS) -> None:
    with (
        tls_services.tls_mongo(pki.rogue_server) as rogue,
        _client(rogue, tls, REFUSAL_MS) as client,
        pytest.raises(pymongo.errors.ServerSelectionTimeoutError, match="certificate verify"),
    ):
        client.admin.command("ping")


def test_host_name_must_match_the_certificate(pki: PKI, tls: DatabaseTLS) -> None:
    with (
        tls_services.tls_mongo(pki.misnamed_server) as misnamed,
        _client(misnamed, tls, REFUSAL_MS) as client,
        pytest.raises(pymongo.errors.ServerSelectionTimeoutError, match="certificate verify"),
    ):
        client.admin.command("ping")


def test_plaintext_client_gets_nothing(tls_mongo: TLSEndpoint) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{tls_mongo.port}/?directConnection=true",
        serverSelectionTimeoutMS=REFUSAL_MS,
    )
    with client, pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        client.admin.command("ping")


def test_client_pem_is_accepted(tls_mongo: TLSEndpoint, pki: PKI) -> None:
    with_cert = load_database_tls(enabled=True, ca_file=pki.ca_file, cert_file=pki.client_pem_file)
    with _client(tls_mongo, with_cert) as client:
        assert client.admin.command("ping")["ok"] == 1


def test_self_contained_uri_verifies(tls_mongo: TLSEndpoint, pki: PKI, tls: DatabaseTLS) -> None:
    """The form a Secret carries: TLS options inside the URI, nothing passed beside it."""
    uri = mongo_uri(f"mongodb://127.0.0.1:{tls_mongo.port}/?directConnection=true", tls)
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=10_000
    )
    with client:
        assert client.admin.command("ping")["ok"] == 1
    with tls_services.tls_mongo(pki.rogue_server) as rogue:
        uri = mongo_uri(f"mongodb://127.0.0.1:{rogue.port}/?directConnection=true", tls)
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=REFUSAL_MS)
        with client, pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
            client.admin.command("ping")
