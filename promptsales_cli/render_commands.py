"""``promptsales render``: the platform as plain YAML for kubectl or a GitOps repository.

Reads the same typed configuration as the Pulumi stack (either a plain values file or a
``Pulumi.<stack>.yaml`` whose ``promptsales:platform`` key holds it), so both deployment
paths produce the same objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from promptsales.config import ConfigError
from workloads.render import PlatformSpec, platform_manifests, required_secrets, to_yaml

STACK_KEY = "promptsales:platform"

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
    try:
        return PlatformSpec.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("render", problems) from None


def _header(spec: PlatformSpec) -> str:
    lines = [
        "# PromptSales platform, rendered by `promptsales render`.",
        "# Secrets are not rendered; create these before applying:",
    ]
    lines += [f"#   {ns}/{name}: {keys}" for ns, name, keys in required_secrets(spec)]
    return "\n".join(lines) + "\n"


@app.callback(invoke_without_command=True)
def render(
    values: Annotated[
        Path | None,
        typer.Option("--values", "-f", help="Values YAML or Pulumi.<stack>.yaml to read."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Print every non-Secret manifest of the platform as one YAML stream."""
    spec = load_spec(values)
    text = to_yaml(platform_manifests(spec), _header(spec))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
