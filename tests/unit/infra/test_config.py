"""Stack configuration: documented defaults, errors that name the key, render parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from infra.config import StackConfig, parse_stack_config
from promptsales.config import ConfigError
from promptsales_cli.main import app
from workloads.render import PlatformSpec, platform_manifests, to_yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "Pulumi.dev.example.yaml"


def _example_values() -> dict[str, object]:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return {key.split(":", 1)[1]: value for key, value in document["config"].items()}


def test_example_stack_file_documents_exactly_the_defaults() -> None:
    assert parse_stack_config(_example_values()) == StackConfig()


def test_example_stack_file_names_every_field() -> None:
    def keys(value: object, prefix: str = "") -> set[str]:
        if isinstance(value, dict):
            return {k for key, item in value.items() for k in keys(item, f"{prefix}{key}.")}
        return {prefix.rstrip(".")}

    assert keys(_example_values()) == keys(StackConfig().model_dump(mode="json"))


def test_pulumi_project_points_into_infra_with_the_repo_venv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (ROOT / project["main"] / "__main__.py").is_file()


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (
            {"platform": {"image": "ghcr.io/promptsales/platform:latest"}},
            "promptsales:platform.image",
        ),
        ({"platform": {"image": "ghcr.io/promptsales/platform"}}, "promptsales:platform.image"),
        ({"platform": {"namespace": "Prompt_Sales"}}, "promptsales:platform.namespace"),
        (
            {"platform": {"postgres": {"storage": "ten gigs"}}},
            "promptsales:platform.postgres.storage",
        ),
        ({"platform": {"mcp": {"min_replicas": 0}}}, "promptsales:platform.mcp.min_replicas"),
        (
            {"platform": {"mcp": {"min_replicas": 4, "max_replicas": 3}}},
            "max_replicas must not be below min_replicas",
        ),
        (
            {"platform": {"network": {"agent_cidrs": ["10.0.0.0/33"]}}},
            "promptsales:platform.network.agent_cidrs.0",
        ),
        (
            {"platform": {"sqlserver": {"server_memory_mb": 512}}},
            "promptsales:platform.sqlserver.server_memory_mb",
        ),
        ({"cluster": {"node_count": 0}}, "promptsales:cluster.node_count"),
        (
            {"platform": {"mcp": {"external_hostnames": ["MCP_host"]}}},
            "promptsales:platform.mcp.external_hostnames.0",
        ),
        (
            {"platform": {"mcp": {"service_type": "NodePort"}}},
            "promptsales:platform.mcp.service_type",
        ),
        ({"pki": {"key_algorithm": "dsa-1024"}}, "promptsales:pki.key_algorithm"),
        (
            {"platform": {"mongodb": {"password": "hunter2"}}},
            "promptsales:platform.mongodb.password",
        ),
    ],
)
def test_bad_values_are_reported_by_key_without_the_value(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    message = str(caught.value)
    assert key in message
    assert "hunter2" not in message


def test_render_cli_reads_a_pulumi_stack_file(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(
        yaml.safe_dump(
            {"config": {"promptsales:platform": {"namespace": "ps-prod"}, "promptsales:pki": {}}}
        ),
        encoding="utf-8",
    )
    out = tmp_path / "platform.yaml"
    result = CliRunner().invoke(app, ["render", "--values", str(stack), "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    expected = to_yaml(platform_manifests(PlatformSpec(namespace="ps-prod")))
    assert text.endswith(expected)
    assert "ps-prod/promptsales-mcp-credentials" in text  # the required-Secrets header
    documents = [d for d in yaml.safe_load_all(text) if d]
    assert not any(d["kind"] == "Secret" for d in documents)


def test_render_cli_rejects_a_bad_values_file_naming_the_field(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("cache:\n  memory_limit_mib: 1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["render", "-f", str(values)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "cache.memory_limit_mib" in str(result.exception)
