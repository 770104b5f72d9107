"""Generated database passwords and the connection strings each consumer reads.

Passwords come from ``pulumi_random.RandomPassword``: generated once, stored encrypted
in the stack state as secrets, stable across ups, and never in plain stack config. A
database in external mode contributes no password: its connection strings are read from
the team's connection Secret (keys in :data:`EXTERNAL_KEYS`) at deploy time, still as
Pulumi secrets, so both modes feed the same consumer Secrets.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from workloads import cache, content_replica_set, databases, mcp
from workloads.common import CACHE_STATEFULSET

PII_KEYRING_SECRET = "promptsales-pii-keyring"  # noqa: S105 (a Secret's name)
PII_KEYRING_FILE = "keyring.json"
INITIAL_KEK_ID = "kek-initial"

# Keys a team's connection Secret (promptsales:platform.<engine>.external_secret) holds.
EXTERNAL_KEYS: dict[str, tuple[str, ...]] = {
    "mongodb": ("uri",),
    "sqlserver": ("ads_url", "crm_url"),
    "postgres": ("dsn",),
    "redis": ("url",),  # promptsales:platform.cache.external_secret: a rediss:// URL
}


def password(name: str, opts: pulumi.ResourceOptions | None = None) -> pulumi.Output[str]:
    """32 characters meeting SQL Server's complexity policy, with only URL- and
    shell-safe punctuation so no consumer has to quote it differently."""
    generated = random.RandomPassword(
        name,
        length=32,
        special=True,
        override_special="-_.",
        min_upper=2,
        min_lower=2,
        min_numeric=2,
        min_special=1,
        opts=opts,
    )
    return pulumi.Output.secret(generated.result)


def pii_keyring(opts: pulumi.ResourceOptions | None = None) -> pulumi.Output[str]:
    """The first PII keyring (``promptsales.pii.keyring`` format): one 256-bit KEK and an
    HMAC key from ``RandomBytes``, generated once and kept encrypted in the state.
    Rotation (``promptsales pii rotate-kek``) edits the Secret afterwards, not Pulumi."""
    kek = random.RandomBytes("pii-kek", length=32, opts=opts)
    hmac_key = random.RandomBytes("pii-hmac-key", length=32, opts=opts)

    def document(keys: list[str]) -> str:
        kek_b64, hmac_b64 = keys
        return json.dumps(
            {
                "version": 1,
                "active_kek_id": INITIAL_KEK_ID,
                "keks": {INITIAL_KEK_ID: kek_b64},
                "hmac_key": hmac_b64,
            }
        )

    return pulumi.Output.secret(pulumi.Output.all(kek.base64, hmac_key.base64).apply(document))


def read_external(
    namespace: str, secret_name: str, keys: tuple[str, ...], opts: pulumi.ResourceOptions
) -> dict[str, pulumi.Output[str]]:
    """Values of an existing connection Secret, decoded and kept secret."""
    existing = k8s.core.v1.Secret.get(
        f"external-{namespace}-{secret_name}", f"{namespace}/{secret_name}", opts=opts
    )

    def pick(key: str) -> pulumi.Output[str]:
        def decode(data: Mapping[str, str]) -> str:
            if not data or key not in data:
                raise ValueError(f"Secret {namespace}/{secret_name} has no key {key!r}")
            return base64.b64decode(data[key]).decode("utf-8")

        return pulumi.Output.secret(existing.data.apply(decode))

    return {key: pick(key) for key in keys}


@dataclasses.dataclass(frozen=True)
class Connections:
    """What the MCP server and the ETL connect with; all values are Pulumi secrets."""

    mongo_uri: pulumi.Output[str]
    ads_url: pulumi.Output[str]
    crm_url: pulumi.Output[str]
    warehouse_dsn: pulumi.Output[str]  # the ETL's: where writes go
    redis_url: pulumi.Output[str]
    # The MCP server's, which only reads: a CloudNativePG cluster's ``-ro`` Service; None
    # when the warehouse has one address (single instance, managed service).
    mcp_warehouse_dsn: pulumi.Output[str] | None = None

    def mcp_secret_data(self) -> dict[str, pulumi.Output[str]]:
        return {
            mcp.MCP_MONGO_URI: self.mongo_uri,
            mcp.MCP_REDIS_URL: self.redis_url,
            mcp.MCP_WAREHOUSE_DSN: self.mcp_warehouse_dsn or self.warehouse_dsn,
        }

    def etl_secret_data(self) -> dict[str, pulumi.Output[str]]:
        return {
            "PROMPTSALES_ETL_ADS_URL": self.ads_url,
            "PROMPTSALES_ETL_CRM_URL": self.crm_url,
            "PROMPTSALES_ETL_WAREHOUSE_DSN": self.warehouse_dsn,
        }


def internal_mongo_uri(data_ns: str, pw: pulumi.Output[str]) -> pulumi.Output[str]:
    host = databases.service_host(databases.MONGODB, data_ns)
    return pw.apply(lambda p: databases.mongodb_uri(host, databases.MONGODB_USER, p))


def internal_sqlserver_url(
    data_ns: str, database: str, pw: pulumi.Output[str]
) -> pulumi.Output[str]:
    host = databases.service_host(databases.SQLSERVER, data_ns)
    return pw.apply(lambda p: databases.sqlserver_url(host, database, databases.ETL_SQL_LOGIN, p))


def replica_set_uri(data_ns: str, members: int, pw: pulumi.Output[str]) -> pulumi.Output[str]:
    return pw.apply(
        lambda p: content_replica_set.connection_uri(
            data_ns, members, p, databases.CONSUMER_CA_FILE
        )
    )


def warehouse_dsn_at(host: str, pw: pulumi.Output[str]) -> pulumi.Output[str]:
    return pw.apply(lambda p: databases.warehouse_dsn(host, p))


def internal_warehouse_dsn(data_ns: str, pw: pulumi.Output[str]) -> pulumi.Output[str]:
    host = databases.service_host(databases.POSTGRES, data_ns)
    return pw.apply(lambda p: databases.warehouse_dsn(host, p))


def cache_url(platform_ns: str, pw: pulumi.Output[str]) -> pulumi.Output[str]:
    """The MCP server's cache URL: password and TLS options (it finds the primary and the
    replicas through the Sentinels; the host is the data pods' headless Service)."""
    host = databases.service_host(CACHE_STATEFULSET, platform_ns)
    return pw.apply(lambda p: cache.redis_url(host, p))
