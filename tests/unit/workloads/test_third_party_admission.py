"""Every custom resource the production render emits passes its real CRD (schema and CEL).

The CRDs are CloudNativePG 1.30.0, MongoDB Controllers for Kubernetes 1.10.0 and the
Prometheus Operator 0.93.0, unchanged from their release tags (``tests/data/third_party_crds``). The
admission checks themselves are shown to bite on objects those CRDs refuse.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from typer.testing import CliRunner

from promptsales.config import ConfigError
from promptsales_cli.main import app
from tests.support import third_party_crds as admission
from workloads import content_search
from workloads.render import PlatformSpec, platform_manifests

BACKUP = {"destination_path": "s3://promptsales-backups/warehouse", "credentials_secret": "s3"}

SPECS: dict[str, dict[str, Any]] = {
    "production defaults + monitoring": {"tier": "production", "monitoring": {"enabled": True}},
    "production, everything configured": {
        "tier": "production",
        "postgres": {
            "storage_class": "fast",
            "cluster": {
                "instances": 5,
                "image_name": "ghcr.io/cloudnative-pg/postgresql:17.5",
                "backup": {**BACKUP, "endpoint_url": "https://minio.example.com:9000"},
            },
        },
        "mongodb": {"members": 5, "storage_class": "fast", "version": "8.0.9"},
        "monitoring": {
            "enabled": True,
            "rule_labels": {"release": "kube-prometheus-stack"},
            "monitor_labels": {"release": "kube-prometheus-stack"},
        },
    },
    "single tier with monitoring": {"tier": "single", "monitoring": {"enabled": True}},
}


def third_party(spec: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = platform_manifests(PlatformSpec.model_validate(spec))
    return [m for m in manifests if admission.is_third_party(m)]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_rendered_custom_resource_is_admitted_by_its_crd(name: str) -> None:
    objects = third_party(SPECS[name])
    assert objects
    for obj in objects:
        assert admission.admission_violations(obj) == [], (obj["kind"], obj["metadata"]["name"])


def test_the_production_render_emits_each_kind_the_issue_asks_for() -> None:
    kinds = sorted(m["kind"] for m in third_party(SPECS["production, everything configured"]))
    assert kinds == sorted(
        [
            "Cluster",
            "ScheduledBackup",
            "MongoDBCommunity",
            "PodMonitor",
            "PodMonitor",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )


def test_every_custom_resource_kind_rendered_has_a_shared_crd() -> None:
    """No object of a group nobody defined slips past validation unnoticed."""
    builtin = {"", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"}
    builtin |= {"apiextensions.k8s.io", "promptsales.io"}
    for spec in SPECS.values():
        for manifest in platform_manifests(PlatformSpec.model_validate(spec)):
            group = manifest["apiVersion"].rpartition("/")[0]
            assert group in builtin or admission.is_third_party(manifest), manifest["kind"]


def test_the_single_tier_without_monitoring_renders_no_third_party_object() -> None:
    """What a small install applies to a cluster without these operators."""
    assert third_party({"tier": "single"}) == []


def test_every_cel_rule_of_the_shared_crds_compiles_with_the_evaluator() -> None:
    """A rule the evaluator could not compile would count as a refusal, never as a pass,
    but compiling them all shows no rule is beyond what these tests can run."""
    env = celpy.Environment()
    count = 0
    for crd in admission.load_crds().values():
        for version in crd["spec"]["versions"]:
            for rule in admission.all_rules(version["schema"]["openAPIV3Schema"]):
                env.compile(rule)
                count += 1
    assert count >= 20


# --- the checks bite ---


def _cluster() -> dict[str, Any]:
    objects = third_party(SPECS["production, everything configured"])
    return copy.deepcopy(next(m for m in objects if m["kind"] == "Cluster"))


def test_a_wrongly_typed_field_is_refused() -> None:
    cluster = _cluster()
    cluster["spec"]["instances"] = "three"
    assert [v.path for v in admission.admission_violations(cluster)] == [".spec.instances"]


def test_an_unknown_field_is_refused_as_strict_field_validation_does() -> None:
    cluster = _cluster()
    cluster["spec"]["certificates"]["serverTlsSecret"] = "typo"
    violations = admission.admission_violations(cluster)
    assert violations
    assert "serverTlsSecret" in violations[0].message


def test_a_cel_rule_is_enforced() -> None:
    cluster = _cluster()
    cluster["spec"]["imageCatalogRef"] = {
        "apiGroup": "postgresql.cnpg.io",
        "kind": "ImageCatalog",
        "name": "catalog",
        "major": 17,
    }
    violations = admission.admission_violations(cluster)
    assert [v.kind for v in violations] == ["cel"]


def test_cel_rules_on_lists_and_inside_list_items_are_enforced() -> None:
    """MongoDBSearch's rules sit on ``spec.clusters`` and inside each item's
    ``loadBalancer``: the walk reaches both."""

    def search(clusters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "mongodb.com/v1",
            "kind": "MongoDBSearch",
            "metadata": {"name": "s"},
            "spec": {"clusters": clusters},
        }

    assert admission.admission_violations(search([{"name": "a", "index": 0}])) == []
    unnamed = admission.admission_violations(search([{"index": 0}, {"index": 1}]))
    assert [(v.path, v.kind) for v in unnamed] == [(".spec.clusters", "cel")]
    both = {"managed": {}, "unmanaged": {"endpoint": "search.example.com:27028"}}
    inside = admission.admission_violations(search([{"name": "a", "loadBalancer": both}]))
    assert [(v.path, v.kind) for v in inside] == [(".spec.clusters[0].loadBalancer", "cel")]


def test_a_missing_required_field_is_refused() -> None:
    objects = third_party(SPECS["production defaults + monitoring"])
    replica_set = copy.deepcopy(next(m for m in objects if m["kind"] == "MongoDBCommunity"))
    del replica_set["spec"]["users"]
    assert [v.path for v in admission.admission_violations(replica_set)] == [".spec"]


def test_an_enum_value_of_the_monitoring_crd_is_enforced() -> None:
    objects = third_party(SPECS["production defaults + monitoring"])
    monitor = copy.deepcopy(next(m for m in objects if m["kind"] == "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scheme"] = "ftp"
    assert admission.admission_violations(monitor)


# --- the command ---


def test_render_in_production_mode_emits_admissible_objects_and_names_the_operators(
    tmp_path: Path,
) -> None:
    out = tmp_path / "platform.yaml"
    args = ["render", "--tier", "production", "--monitoring", "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    objects = [doc for doc in documents if admission.is_third_party(doc)]
    assert {doc["kind"] for doc in objects} == {
        "Cluster",
        "MongoDBCommunity",
        "PodMonitor",
        "ServiceMonitor",
        "PrometheusRule",
    }
    for obj in objects:
        assert admission.admission_violations(obj) == [], obj["kind"]
    header = text.split("---", 1)[0]
    assert "promptsales-data/promptsales-warehouse-app" in header
    assert "CloudNativePG" in header
    assert "Prometheus Operator" in header


def test_the_command_line_overrides_the_values_file(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("tier: production\nmonitoring:\n  enabled: true\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["render", "-f", str(values), "--no-monitoring"])
    assert result.exit_code == 0, result.output
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.output) if doc}
    assert "Cluster" in kinds
    assert not kinds & {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
    single = CliRunner().invoke(app, ["render", "-f", str(values), "--tier", "single"])
    assert single.exit_code == 0, single.output
    kinds = {doc["kind"] for doc in yaml.safe_load_all(single.output) if doc}
    assert "Cluster" not in kinds
    assert "PrometheusRule" in kinds
    assert "Install these operators" in single.output  # the Prometheus Operator's


def test_the_default_render_is_the_production_tier_and_names_its_operators() -> None:
    result = CliRunner().invoke(app, ["render"])
    assert result.exit_code == 0, result.output
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.output) if doc}
    assert {"Cluster", "MongoDBCommunity"} <= kinds
    assert "Install these operators" in result.output
    single = CliRunner().invoke(app, ["render", "--tier", "single"])
    assert single.exit_code == 0, single.output
    assert "Install these operators" not in single.output


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"monitoring": {"rule_labels": {"release": "bad value!"}}}, "monitoring.rule_labels"),
        ({"monitoring": {"monitor_labels": {"-bad": "x"}}}, "monitoring.monitor_labels"),
        ({"mongodb": {"members": 4}}, "mongodb"),
        ({"postgres": {"cluster": {"instances": 0}}}, "postgres.cluster.instances"),
        (
            {"operators": {"cloudnativepg_chart_version": "latest"}},
            "operators.cloudnativepg_chart_version",
        ),
        (
            {"postgres": {"cluster": {"backup": {**BACKUP, "schedule": "0 3 * * *"}}}},
            "postgres.cluster.backup.schedule",
        ),
        (
            {"postgres": {"cluster": {"backup": {**BACKUP, "endpoint_url": "http://minio"}}}},
            "postgres.cluster.backup.endpoint_url",
        ),
        ({"tier": "huge"}, "tier"),
    ],
)
def test_bad_production_settings_are_refused_naming_the_field(
    tmp_path: Path, values: dict[str, Any], field: str
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", "-f", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert f"{field}:" in str(result.exception)
    assert "apiVersion" not in result.output  # nothing rendered


SEARCH = {"tier": "production", "mongodb": {"search": {"enabled": True, "storage": "50Gi"}}}


def test_mongodb_search_renders_an_admissible_search_resource_and_the_index_definition() -> None:
    manifests = platform_manifests(PlatformSpec.model_validate(SEARCH))
    (search,) = [m for m in manifests if m["kind"] == "MongoDBSearch"]
    assert admission.admission_violations(search) == []
    assert search["spec"]["source"]["mongodbResourceRef"] == {"name": "promptsales-content"}
    assert search["spec"]["clusters"][0]["persistence"] == {"single": {"storage": "50Gi"}}
    (config_map,) = [
        m for m in manifests if m["metadata"]["name"] == "promptsales-content-vector-index"
    ]
    rendered = json.loads(config_map["data"]["content_vector.json"])
    assert rendered == content_search.vector_index_model(384)  # what the loader creates
    (mcp,) = [
        m
        for m in manifests
        if m["metadata"]["name"] == "promptsales-mcp" and m["kind"] == "Deployment"
    ]
    containers = mcp["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in containers[0]["env"]}
    assert env["PROMPTSALES_MCP_VECTOR_BACKEND"] == "mongo"
    without = platform_manifests(PlatformSpec.model_validate({"tier": "production"}))
    assert not [m for m in without if m["kind"] == "MongoDBSearch"]


def test_mongodb_search_without_the_replica_set_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"mongodb": {"search": {"enabled": True}}}), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", "-f", str(path), "--tier", "single"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "mongodb.search.enabled needs tier production" in str(result.exception)
    assert "apiVersion" not in result.output
