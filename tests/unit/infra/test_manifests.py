"""Every manifest the platform renders or Pulumi declares, validated strictly against the
official Kubernetes schemas from 1.30 (the oldest supported) to the newest packaged."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.support.third_party_crds import is_third_party
from tests.unit.infra.conftest import Runner
from workloads.render import PlatformSpec, platform_manifests

VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
# Every packaged minor from 1.30 on, for the default platform.
ALL_MINORS = sorted(
    {
        v
        for v in kubernetes_validate.utils.all_versions()
        if tuple(map(int, v.split(".")[:2])) >= (1, 30)
    },
    key=lambda v: tuple(map(int, v.split("."))),
)

SPECS = {
    "defaults": PlatformSpec(),
    "external-databases": PlatformSpec.model_validate(
        {
            "mongodb": {"external_secret": "mongo-conn"},
            "sqlserver": {"external_secret": "sql-conn"},
            "postgres": {"external_secret": "pg-conn"},
            "cache": {"external_secret": "redis-conn", "external_cidrs": ["10.40.0.0/24"]},
        }
    ),
    "tuned": PlatformSpec.model_validate(
        {
            "namespace": "ps-prod",
            "data_namespace": "ps-prod-data",
            "image": "registry.example/promptsales@sha256:" + "a" * 64,
            "postgres": {"storage": "200Gi", "storage_class": "fast-ssd", "cpu_limit": "4"},
            "sqlserver": {"edition": "Standard", "memory_limit": "8Gi", "server_memory_mb": 6144},
            "cache": {"memory_limit_mib": 2048, "eviction_policy": "allkeys-lfu"},
            "mcp": {"service_type": "LoadBalancer", "external_hostnames": ["mcp.example.com"]},
            "network": {"llm_cidrs": ["104.18.0.0/16"], "agent_cidrs": ["10.0.0.0/8"]},
        }
    ),
    # Its custom resources are admitted by their own CRDs (test_third_party_admission.py);
    # everything else it renders is checked here.
    "production": PlatformSpec.model_validate(
        {
            "tier": "production",
            "monitoring": {"enabled": True},
            "postgres": {
                "cluster": {
                    "backup": {"destination_path": "s3://bucket/wh", "credentials_secret": "s3"}
                }
            },
        }
    ),
}


def _label(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return f"{manifest['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def _cases() -> list[tuple[str, str]]:
    cases = {("defaults", version) for version in ALL_MINORS}
    cases |= {(name, version) for name in SPECS for version in VERSIONS}
    return sorted(cases)


@pytest.mark.parametrize(("spec_name", "version"), _cases())
def test_rendered_manifests_are_valid(spec_name: str, version: str) -> None:
    manifests = platform_manifests(SPECS[spec_name])
    assert len(manifests) > 10
    errors = []
    for manifest in manifests:
        if is_third_party(manifest):
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{_label(manifest)}: {exc.message}")
    assert errors == []


@pytest.mark.parametrize("tier", ["single", "production"])
@pytest.mark.parametrize("version", VERSIONS)
def test_declared_resources_including_secrets_are_valid(
    run_program: Runner, version: str, tier: str
) -> None:
    run = run_program({"platform": {"tier": tier}})
    declared = [m for m in run.mocks.manifests() if "kind" in m and not is_third_party(m)]
    assert any(m["kind"] == "Secret" for m in declared)
    for manifest in declared:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_every_minor_from_1_30_is_covered() -> None:
    assert ALL_MINORS[0] == "1.30.0"
    assert ALL_MINORS[-1] == kubernetes_validate.latest_version()


def test_strict_validation_catches_a_misspelled_field() -> None:
    manifest = next(m for m in platform_manifests(PlatformSpec()) if m["kind"] == "StatefulSet")
    manifest["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, VERSIONS[0], strict=True)
