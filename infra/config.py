"""The stack's typed configuration: three objects under the ``promptsales`` namespace.

``promptsales:platform`` is the :class:`workloads.render.PlatformSpec` that
``promptsales render`` reads too, so both deployment paths share one model;
``promptsales:cluster`` switches on creating a managed cluster; ``promptsales:pki`` tunes
the platform CA and serving certificates. Every field has a default (see
``Pulumi.dev.example.yaml``), and a bad value stops ``pulumi up`` before any resource is
touched with an error naming the configuration key, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certs.keys import KeyAlgorithm
from promptsales.config import ConfigError
from workloads.render import Cidr, PlatformSpec

CONFIG_NAMESPACE = "promptsales"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterConfig(_Model):
    """Where to deploy: the current kubeconfig context, or a new Civo cluster.

    Civo is the one cloud provider coded here because its Pulumi SDK is the lightest of
    the managed-Kubernetes clouds on PyPI (~100 kB wheel against ~0.9 MB for DigitalOcean
    and ~0.6 MB for Linode); it installs with the ``cloud`` extra.
    """

    create: bool = False
    provider: Literal["civo"] = "civo"
    name: str = Field(default="promptsales", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    region: str = "LON1"
    node_size: str = "g4s.kube.large"
    node_count: int = Field(default=3, ge=1, le=100)
    kubernetes_version: str | None = None
    # Who may reach the new cluster's API server (the firewall has no other ingress).
    api_allowed_cidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0"])
    # Without create: which kubeconfig context to use (None: the current one).
    context: str | None = None


class PkiConfig(_Model):
    """The platform CA (made once, on the first ``up``) and the serving certificates."""

    ca_common_name: str = Field(default="PromptSales Platform CA", min_length=1, max_length=64)
    ca_validity_days: int = Field(default=3650, ge=30, le=36500)
    server_validity_days: int = Field(default=365, ge=1, le=825)
    # A serving certificate closer to expiry than this is reissued by the next ``up``.
    renew_before_days: int = Field(default=30, ge=1, le=365)
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256


class StackConfig(_Model):
    """Everything ``pulumi up`` varies by."""

    platform: PlatformSpec = PlatformSpec()
    cluster: ClusterConfig = ClusterConfig()
    pki: PkiConfig = PkiConfig()


def parse_stack_config(values: Mapping[str, Any]) -> StackConfig:
    """Validate the three objects; ConfigError names ``promptsales:<object>.<field>``."""
    try:
        return StackConfig.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            location = [str(part) for part in err["loc"]]
            key = f"{CONFIG_NAMESPACE}:{'.'.join(location)}" if location else CONFIG_NAMESPACE
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError("stack", problems) from None


def load_stack_config() -> StackConfig:
    """Read the stack's configuration through Pulumi (secrets stay wrapped upstream)."""
    import pulumi

    config = pulumi.Config(CONFIG_NAMESPACE)
    values = {
        key: value
        for key in ("platform", "cluster", "pki")
        if (value := config.get_object(key)) is not None
    }
    return parse_stack_config(values)
