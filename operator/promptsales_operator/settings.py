"""The operator's one configuration model (env prefix ``PROMPTSALES_OPERATOR_``).

Loaded through :func:`promptsales.config.load_settings` so a bad value stops the process
with the variable's name, before kopf connects to anything.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workloads.capacity import CapacityPolicy
from workloads.common import DEFAULT_IMAGE


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
    mcp_certificate_renew_before_hours: int = Field(720, ge=1)
    mcp_certificate_validity_hours: int = Field(2160, ge=1)

    resync_seconds: float = Field(
        60.0, gt=0, description="drift check period; safety net for the timed passes"
    )
    requeue_min_seconds: float = Field(
        1.0, gt=0, description="least delay before a campaign's timed pass (no spinning)"
    )
    capacity_debounce_seconds: float = Field(1.0, ge=0)
    retry_backoff_seconds: float = Field(10.0, gt=0)
    worker_limit: int = Field(64, ge=1)

    mcp_rps_per_replica: float = Field(50.0, gt=0)
    cache_rps_per_replica: float = Field(500.0, gt=0)
    capacity_headroom: float = Field(0.2, ge=0)
    mcp_min_replicas: int = Field(1, ge=0)
    mcp_max_replicas: int = Field(20, ge=0)
    cache_min_replicas: int = Field(1, ge=0)
    cache_max_replicas: int = Field(6, ge=0)

    log_level: str = "INFO"

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
