"""The Pulumi program in the production tier, under mocks: operators, custom resources,
certificates, credentials and the order Pulumi creates them in."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from cryptography import x509

from certs import load_certificate
from infra import policy
from infra.config import parse_stack_config
from tests.support import third_party_crds as admission
from tests.unit.infra.conftest import Run, Runner
from workloads.render import required_secrets

PLATFORM, DATA = "promptsales", "promptsales-data"
PRODUCTION: dict[str, Any] = {"platform": {"tier": "production", "monitoring": {"enabled": True}}}
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
REPLICA_SET_TYPE = "kubernetes:mongodbcommunity.mongodb.com/v1:MongoDBCommunity"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


def string_data(run: Run, name: str, namespace: str) -> dict[str, str]:
    data: dict[str, str] = run.mocks.find("Secret", name, namespace).plain["stringData"]
    return data


def depends(run: Run, name: str) -> set[str]:
    deps = run.options[name].depends_on
    assert isinstance(deps, list)
    return {dep._name for dep in deps if isinstance(dep, pulumi.Resource)}


def custom_resources(run: Run) -> list[dict[str, Any]]:
    return [r.plain for r in run.mocks.kubernetes() if admission.is_third_party(r.plain)]


def test_operators_are_installed_from_their_charts(run_program: Runner) -> None:
    run = run_program(PRODUCTION)
    releases = {r.name: r.plain for r in run.mocks.registered if r.typ == RELEASE_TYPE}
    assert set(releases) == {"cloudnative-pg", "mongodb-kubernetes"}
    cnpg = releases["cloudnative-pg"]
    assert (cnpg["chart"], cnpg["version"], cnpg["namespace"]) == (
        "cloudnative-pg",
        "0.29.0",
        "cnpg-system",
    )
    assert cnpg["repositoryOpts"]["repo"] == "https://cloudnative-pg.github.io/charts"
    mongo = releases["mongodb-kubernetes"]
    assert mongo["values"]["operator"]["watchNamespace"] == DATA
    # The custom resources wait for the release that brings their CRD.
    assert "cloudnative-pg" in depends(run, "cluster-promptsales-data-promptsales-warehouse")
    assert "mongodb-kubernetes" in depends(
        run, "mongodbcommunity-promptsales-data-promptsales-content"
    )


def test_operators_already_present_are_not_installed(run_program: Runner) -> None:
    values = {"platform": {"tier": "production", "operators": {"install": False}}}
    run = run_program(values)
    assert not [r for r in run.mocks.registered if r.typ == RELEASE_TYPE]
    assert [r for r in run.mocks.registered if r.typ == CLUSTER_TYPE]


def test_single_tier_declares_no_operator_and_no_custom_resource(run_program: Runner) -> None:
    run = run_program({"platform": {"tier": "single"}})
    assert not [r for r in run.mocks.registered if r.typ == RELEASE_TYPE]
    assert custom_resources(run) == []


def test_production_is_the_default_tier(run_program: Runner) -> None:
    run = run_program()
    assert {r.name for r in run.mocks.registered if r.typ == RELEASE_TYPE} == {
        "cloudnative-pg",
        "mongodb-kubernetes",
    }
    kinds = sorted(r["kind"] for r in custom_resources(run))
    assert kinds == ["Cluster", "MongoDBCommunity"]


def test_every_custom_resource_pulumi_declares_passes_its_real_crd(run_program: Runner) -> None:
    run = run_program(PRODUCTION)
    declared = custom_resources(run)
    kinds = ["Cluster", "MongoDBCommunity", "PodMonitor", "PodMonitor", "ServiceMonitor"]
    assert sorted(m["kind"] for m in declared) == sorted([*kinds, "PrometheusRule"])
    for manifest in declared:
        assert admission.admission_violations(manifest) == [], manifest["kind"]


def test_databases_are_awaited_ready_before_the_schema_job(run_program: Runner) -> None:
    run = run_program(PRODUCTION)
    cluster = run.mocks.find("Cluster", "promptsales-warehouse", DATA).plain
    assert cluster["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    replica_set = run.mocks.find("MongoDBCommunity", "promptsales-content", DATA).plain
    assert "status.phase" in replica_set["metadata"]["annotations"]["pulumi.com/waitFor"]
    init = depends(run, "job-promptsales-promptsales-warehouse-init")
    assert "cluster-promptsales-data-promptsales-warehouse" in init
    # The operators' pods mount these Secrets: the resources wait for them.
    cluster_deps = depends(run, "cluster-promptsales-data-promptsales-warehouse")
    assert "secret-promptsales-data-promptsales-warehouse-app" in cluster_deps
    assert "secret-promptsales-data-promptsales-warehouse-tls" in cluster_deps


def test_etl_writes_through_rw_and_mcp_reads_from_ro(run_program: Runner) -> None:
    run = run_program(PRODUCTION)
    etl = string_data(run, "promptsales-etl-credentials", PLATFORM)["PROMPTSALES_ETL_WAREHOUSE_DSN"]
    mcp = string_data(run, "promptsales-mcp-credentials", PLATFORM)
    reads = mcp["PROMPTSALES_MCP_WAREHOUSE_DSN"]
    assert "host=promptsales-warehouse-rw.promptsales-data.svc" in etl
    assert "host=promptsales-warehouse-ro.promptsales-data.svc" in reads
    for dsn in (etl, reads):
        assert "sslmode=verify-full" in dsn
        assert "dbname=promptsales user=promptsales" in dsn
        assert "password=Mock-warehouse-password-Pw9" in dsn
    app = run.mocks.find("Secret", "promptsales-warehouse-app", DATA).plain
    assert app["type"] == "kubernetes.io/basic-auth"
    assert app["stringData"] == {
        "username": "promptsales",
        "password": "Mock-warehouse-password-Pw9",
    }
    assert (
        run.outputs["database_services"]["postgres"]
        == "promptsales-warehouse-rw.promptsales-data.svc"
    )


def test_a_one_instance_cluster_serves_reads_from_its_primary(run_program: Runner) -> None:
    """Its -ro Service would have no endpoints."""
    run = run_program(
        {"platform": {"tier": "production", "postgres": {"cluster": {"instances": 1}}}}
    )
    mcp = string_data(run, "promptsales-mcp-credentials", PLATFORM)
    assert (
        "host=promptsales-warehouse-rw.promptsales-data.svc" in mcp["PROMPTSALES_MCP_WAREHOUSE_DSN"]
    )


def test_mcp_follows_the_replica_set_through_a_seed_list(run_program: Runner) -> None:
    run = run_program({"platform": {"tier": "production", "mongodb": {"members": 5}}})
    uri = string_data(run, "promptsales-mcp-credentials", PLATFORM)["PROMPTSALES_MCP_MONGO_URI"]
    seeds = uri.split("@", 1)[1].split("/", 1)[0].split(",")
    assert seeds == [
        f"promptsales-content-{i}.promptsales-content-svc.promptsales-data.svc.cluster.local:27017"
        for i in range(5)
    ]
    assert "replicaSet=promptsales-content" in uri
    assert "tls=true" in uri
    assert uri.startswith("mongodb://promptsales:Mock-content-password-Pw9@")
    services = run.outputs["database_services"]
    assert services["mongodb"] == "promptsales-content-svc.promptsales-data.svc"
    password = string_data(run, "promptsales-content-password", DATA)
    assert password == {"password": "Mock-content-password-Pw9"}


@pytest.mark.parametrize(
    ("secret", "names"),
    [
        (
            "promptsales-warehouse-tls",
            [
                "promptsales-warehouse-rw",
                "promptsales-warehouse-ro.promptsales-data.svc",
                "promptsales-warehouse-r.promptsales-data.svc.cluster.local",
            ],
        ),
        (
            "promptsales-content-tls",
            [
                "promptsales-content-0.promptsales-content-svc.promptsales-data.svc.cluster.local",
                "promptsales-content-2.promptsales-content-svc.promptsales-data.svc.cluster.local",
            ],
        ),
    ],
)
def test_serving_certificates_name_every_address_and_chain_to_the_platform_ca(
    run_program: Runner, secret: str, names: list[str]
) -> None:
    run = run_program(PRODUCTION)
    data = string_data(run, secret, DATA)
    cert = load_certificate(data["tls.crt"])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert set(names) <= set(sans.value.get_values_for_type(x509.DNSName))
    ca = load_certificate(string_data(run, "promptsales-ca", PLATFORM)["tls.crt"])
    cert.verify_directly_issued_by(ca)
    assert data["ca.crt"] == run.outputs["ca_bundle"]


def test_render_header_lists_exactly_the_secrets_pulumi_creates_in_production(
    run_program: Runner,
) -> None:
    run = run_program(PRODUCTION)
    declared = {
        (r.plain["metadata"]["namespace"], r.plain["metadata"]["name"]): set(r.plain["stringData"])
        for r in run.mocks.kubernetes()
        if r.typ == "kubernetes:core/v1:Secret"
    }
    documented = {
        (namespace, name): {key.strip().split(" ")[0] for key in keys.split(",")}
        for namespace, name, keys in required_secrets(parse_stack_config(PRODUCTION).platform)
    }
    assert documented == declared


def test_captured_production_inputs_pass_every_policy(run_program: Runner) -> None:
    run = run_program(PRODUCTION)
    assert policy.check_all(run.mocks.manifests()) == []


def test_mongodb_search_is_declared_after_the_operator_with_its_certificate(
    run_program: Runner,
) -> None:
    search_on = {"tier": "production", "mongodb": {"search": {"enabled": True}}}
    run = run_program({"platform": search_on})
    (search,) = [r.plain for r in run.mocks.kubernetes() if r.plain.get("kind") == "MongoDBSearch"]
    assert admission.admission_violations(search) == []
    name = "mongodbsearch-promptsales-data-promptsales-content-search"
    assert "mongodb-kubernetes" in depends(run, name)
    assert "tls.crt" in string_data(run, "promptsales-content-search-tls", DATA)
