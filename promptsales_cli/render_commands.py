"""``promptsales render``: the platform as plain YAML for kubectl or a GitOps repository.

Reads the same typed configuration as the Pulumi stack (either a plain values file or a
``Pulumi.<stack>.yaml`` whose ``promptsales:platform`` key holds it), so both deployment
paths produce the same objects.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from promptsales.config import ConfigError
from workloads.render import PlatformSpec, platform_manifests, required_secrets, to_yaml

STACK_KEY = "promptsales:platform"


class Tier(enum.StrEnum):
    """``--tier`` choices (the values of ``PlatformSpec.tier``)."""

    SINGLE = "single"
    PRODUCTION = "production"


app = typer.Typer(help="Render the platform's manifests as YAML (no Secrets).")


def load_spec(path: Path | None) -> PlatformSpec:
    """The spec from ``path`` (values file or Pulumi stack file), defaults when ``None``."""
    if path is None:
        return PlatformSpec()
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("render", [f"{path}: {exc.__class__.__name__}"]) from None
    if isinstance(document, dict) and isinstance(document.get("config"), dict):
        document = document["config"].get(STACK_KEY, {})
    return validate_spec(document)


def validate_spec(document: Any) -> PlatformSpec:
    """The typed spec; ConfigError naming each bad field (also for command-line overrides)."""
    try:
        return PlatformSpec.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("render", problems) from None


# Operators whose CRDs objects of an API group need on the cluster before applying.
_OPERATOR_OF_GROUP = {
    "postgresql.cnpg.io": "CloudNativePG (its operator, for the warehouse Cluster)",
    "mongodbcommunity.mongodb.com": "MongoDB Controllers for Kubernetes (MongoDBCommunity)",
    "mongodb.com": "MongoDB Controllers for Kubernetes (MongoDBSearch)",
    "monitoring.coreos.com": "the Prometheus Operator (ServiceMonitor, PodMonitor, PrometheusRule)",
}


def _header(spec: PlatformSpec, manifests: list[dict[str, Any]]) -> str:
    lines = [
        "# PromptSales platform, rendered by `promptsales render`.",
        "# Secrets are not rendered; create these before applying:",
    ]
    lines += [f"#   {ns}/{name}: {keys}" for ns, name, keys in required_secrets(spec)]
    groups = {m["apiVersion"].rpartition("/")[0] for m in manifests}
    needed = [name for group, name in _OPERATOR_OF_GROUP.items() if group in groups]
    if needed:
        lines.append("# Install these operators (and so their CRDs) first:")
        lines += [f"#   {name}" for name in needed]
    return "\n".join(lines) + "\n"


def with_overrides(spec: PlatformSpec, tier: str | None, monitoring: bool | None) -> PlatformSpec:
    """The spec with the command line's ``--tier`` / ``--monitoring`` taking precedence."""
    values = spec.model_dump()
    if tier is not None:
        values["tier"] = tier
    if monitoring is not None:
        values["monitoring"]["enabled"] = monitoring
    return validate_spec(values)


@app.callback(invoke_without_command=True)
def render(
    values: Annotated[
        Path | None,
        typer.Option("--values", "-f", help="Values YAML or Pulumi.<stack>.yaml to read."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    tier: Annotated[
        Tier | None,
        typer.Option(
            "--tier",
            help="production (default): CloudNativePG and a MongoDB replica set; single: "
            "one StatefulSet per database, for small installs (overrides the values file).",
        ),
    ] = None,
    monitoring: Annotated[
        bool | None,
        typer.Option(
            "--monitoring/--no-monitoring",
            help="Prometheus Operator objects and the Grafana dashboard (overrides the values).",
        ),
    ] = None,
) -> None:
    """Print every non-Secret manifest of the platform as one YAML stream."""
    spec = with_overrides(load_spec(values), tier.value if tier else None, monitoring)
    manifests = platform_manifests(spec)
    text = to_yaml(manifests, _header(spec, manifests))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
