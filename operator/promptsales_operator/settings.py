"""The operator's one configuration model (env prefix ``PROMPTSALES_OPERATOR_``).

Loaded through :func:`promptsales.config.load_settings` so a bad value stops the process
with the variable's name, before kopf connects to anything. Defaults that other parts of
the platform share (the capacity policy, the MCP serving certificate's lifetime) are
defined once, in ``workloads``, and read from there.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from certs.keys import KeyAlgorithm
from workloads.capacity import CACHE_MIN_REPLICAS, CapacityPolicy
from workloads.common import DEFAULT_IMAGE
from workloads.mcp import MCP_CERTIFICATE_RENEW_BEFORE_HOURS, MCP_CERTIFICATE_VALIDITY_HOURS

_POLICY = CapacityPolicy()


class OperatorSettings(BaseSettings):
    """Where the operator works, what it builds, how it scales and how fast it retries."""

    model_config = SettingsConfigDict(env_prefix="PROMPTSALES_OPERATOR_", extra="ignore")

    namespace: str = Field("promptsales", min_length=1, max_length=63)
    kubeconfig: str | None = Field(None, description="kubeconfig file; unset = in-cluster")
    image: str = DEFAULT_IMAGE
    probe_port: int = Field(8080, ge=0, le=65535, description="0 disables probes and metrics")
    probe_host: str = "0.0.0.0"  # noqa: S104 (probes must be reachable by the kubelet)

    ca_secret: str = "promptsales-ca"  # noqa: S105 (a Secret name)
    mcp_tls_secret: str = "promptsales-mcp-tls"  # noqa: S105 (a Secret name)
    mcp_service: str = "promptsales-mcp"
    mcp_external_hostnames: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="extra DNS names of the MCP serving certificate"
    )
    mcp_certificate_renew_before_hours: int = Field(MCP_CERTIFICATE_RENEW_BEFORE_HOURS, ge=1)
    mcp_certificate_validity_hours: int = Field(MCP_CERTIFICATE_VALIDITY_HOURS, ge=1)
    mcp_certificate_key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256

    resync_seconds: float = Field(
        600.0,
        gt=0,
        description="safety-net pass over every campaign, from the caches (no API reads); "
        "drift is seen through the watches, timed passes act on window edges and renewals",
    )
    requeue_min_seconds: float = Field(
        1.0, gt=0, description="least delay before a campaign's timed pass (no spinning)"
    )
    capacity_debounce_seconds: float = Field(
        0.2,
        ge=0,
        description="how long the capacity worker gathers demand changes before planning; "
        "a new campaign's Ready waits for that plan",
    )
    retry_backoff_seconds: float = Field(
        10.0, gt=0, description="first retry delay of a failed pass; doubles up to 5 minutes"
    )
    worker_limit: int = Field(64, ge=1, description="campaign passes run at once")
    api_connections: int = Field(
        16, ge=1, description="pooled connections to the API server for the operator's writes"
    )

    mcp_rps_per_replica: float = Field(_POLICY.mcp_rps_per_replica, gt=0)
    cache_rps_per_replica: float = Field(_POLICY.cache_rps_per_replica, gt=0)
    capacity_headroom: float = Field(_POLICY.headroom, ge=0)
    mcp_min_replicas: int = Field(_POLICY.mcp_min, ge=0)
    mcp_max_replicas: int = Field(_POLICY.mcp_max, ge=0)
    # The cache's data StatefulSet: a primary and at least one replica to promote.
    cache_min_replicas: int = Field(_POLICY.cache_min, ge=CACHE_MIN_REPLICAS)
    cache_max_replicas: int = Field(_POLICY.cache_max, ge=CACHE_MIN_REPLICAS)

    log_level: str = "INFO"

    @field_validator("mcp_external_hostnames", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("mcp_max_replicas", "cache_max_replicas", "mcp_certificate_validity_hours")
    @classmethod
    def _above_lower_bound(cls, value: int, info: ValidationInfo) -> int:
        lower = {
            "mcp_max_replicas": "mcp_min_replicas",
            "cache_max_replicas": "cache_min_replicas",
            "mcp_certificate_validity_hours": "mcp_certificate_renew_before_hours",
        }[str(info.field_name)]
        bound = info.data.get(lower)
        if bound is not None and value < bound:
            raise ValueError(f"must not be below PROMPTSALES_OPERATOR_{lower.upper()} ({bound})")
        return value

    def capacity_policy(self) -> CapacityPolicy:
        return CapacityPolicy(
            mcp_rps_per_replica=self.mcp_rps_per_replica,
            cache_rps_per_replica=self.cache_rps_per_replica,
            headroom=self.capacity_headroom,
            mcp_min=self.mcp_min_replicas,
            mcp_max=self.mcp_max_replicas,
            cache_min=self.cache_min_replicas,
            cache_max=self.cache_max_replicas,
        )
