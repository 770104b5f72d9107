"""The Pulumi program under mocks: what it declares, with which inputs and references."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest
from cryptography import x509

from certs import load_certificate, load_certificates, load_private_key
from infra import policy
from infra.config import parse_stack_config
from promptsales.pii.keyring import parse_keyring
from tests.unit.infra.conftest import Run, Runner
from tests.unit.infra.mocks import RANDOM_BYTES, RANDOM_PASSWORD, is_secret, mock_bytes, unwrap
from workloads import cache
from workloads.common import CACHE_STATEFULSET
from workloads.render import required_secrets


@pytest.fixture
def run_program(run_program: Runner) -> Runner:
    """These tests are about the single tier (one StatefulSet per engine, no operators);
    the production tier's program is tested in test_data_tier_program.py."""

    def single(values: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        values = copy.deepcopy(values or {})
        values.setdefault("platform", {}).setdefault("tier", "single")
        return run_program(values, **kwargs)

    return single


PLATFORM, DATA = "promptsales", "promptsales-data"


def string_data(run: Run, name: str, namespace: str) -> dict[str, str]:
    data: dict[str, str] = run.mocks.find("Secret", name, namespace).plain["stringData"]
    return data


def test_declares_every_platform_object(run_program: Runner) -> None:
    run = run_program()
    expected = [
        ("Namespace", PLATFORM, None),
        ("Namespace", DATA, None),
        ("CustomResourceDefinition", "promptsalescampaigns.promptsales.io", None),
        ("ServiceAccount", "promptsales-operator", PLATFORM),
        ("Role", "promptsales-operator", PLATFORM),
        ("RoleBinding", "promptsales-operator", PLATFORM),
        ("Deployment", "promptsales-operator", PLATFORM),
        ("Deployment", "promptsales-mcp", PLATFORM),
        ("Service", "promptsales-mcp", PLATFORM),
        ("StatefulSet", "promptsales-cache", PLATFORM),
        ("Service", "promptsales-cache", PLATFORM),
        ("StatefulSet", "promptsales-cache-sentinel", PLATFORM),
        ("Service", "promptsales-cache-sentinel", PLATFORM),
        ("ConfigMap", "promptsales-cache-config", PLATFORM),
        ("Secret", "promptsales-cache-auth", PLATFORM),
        ("Secret", "promptsales-cache-tls", PLATFORM),
        ("Job", "promptsales-warehouse-init", PLATFORM),
        ("Job", "promptsales-sqlserver-init", DATA),
        ("Secret", "promptsales-ca", PLATFORM),
        ("Secret", "promptsales-mcp-credentials", PLATFORM),
        ("Secret", "promptsales-etl-credentials", PLATFORM),
        ("NetworkPolicy", "promptsales-default-deny", PLATFORM),
        ("NetworkPolicy", "promptsales-default-deny", DATA),
    ]
    for engine in ("promptsales-mongodb", "promptsales-sqlserver", "promptsales-postgres"):
        expected += [
            ("StatefulSet", engine, DATA),
            ("Service", engine, DATA),
            ("PodDisruptionBudget", engine, DATA),
            ("Secret", f"{engine}-auth", DATA),
            ("Secret", f"{engine}-tls", DATA),
        ]
    for kind, name, namespace in expected:
        run.mocks.find(kind, name, namespace)
    names = [
        (m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"])
        for m in run.mocks.manifests()
    ]
    assert len(names) == len(set(names)), "an object is declared twice"


def test_namespaces_enforce_restricted_pod_security(run_program: Runner) -> None:
    run = run_program()
    for name in (PLATFORM, DATA):
        labels = run.mocks.find("Namespace", name).plain["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_only_create_once_secrets_ignore_changes(run_program: Runner) -> None:
    run = run_program()
    ignored = {
        name: opts.ignore_changes for name, opts in run.options.items() if opts.ignore_changes
    }
    assert ignored == {
        # the CA Secret is written once; a rollover tool owns its data afterwards
        "secret-promptsales-promptsales-ca": ["stringData", "data"],
        # so is the PII keyring; `promptsales pii rotate-kek` owns it afterwards
        "secret-promptsales-promptsales-pii-keyring": ["stringData", "data"],
    }


def test_replica_bounds_reach_the_operator_not_the_workloads(run_program: Runner) -> None:
    run = run_program(
        {"platform": {"mcp": {"min_replicas": 5, "max_replicas": 9}, "cache": {"min_replicas": 3}}}
    )
    for kind, name in (("Deployment", "promptsales-mcp"), ("StatefulSet", "promptsales-cache")):
        assert "replicas" not in run.mocks.find(kind, name).plain["spec"]
    operator = run.mocks.find("Deployment", "promptsales-operator").plain
    env = {
        e["name"]: e["value"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PROMPTSALES_OPERATOR_MCP_MIN_REPLICAS"] == "5"
    assert env["PROMPTSALES_OPERATOR_MCP_MAX_REPLICAS"] == "9"
    assert env["PROMPTSALES_OPERATOR_CACHE_MIN_REPLICAS"] == "3"


def test_the_mcp_serving_certificate_is_the_operators_alone(run_program: Runner) -> None:
    """Pulumi never creates promptsales-mcp-tls (one owner: the operator issues and renews
    it); its lifetime and names reach the operator as settings."""
    run = run_program(
        {
            "platform": {
                "mcp": {
                    "certificate_validity_hours": 720,
                    "certificate_renew_before_hours": 240,
                    "external_hostnames": ["m.example.com"],
                }
            }
        }
    )
    secrets = {
        r.plain["metadata"]["name"]
        for r in run.mocks.kubernetes()
        if r.typ == "kubernetes:core/v1:Secret"
    }
    assert "promptsales-mcp-tls" not in secrets
    operator = run.mocks.find("Deployment", "promptsales-operator").plain
    env = {
        e["name"]: e["value"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PROMPTSALES_OPERATOR_MCP_CERTIFICATE_VALIDITY_HOURS"] == "720"
    assert env["PROMPTSALES_OPERATOR_MCP_EXTERNAL_HOSTNAMES"] == "m.example.com"


def test_ca_is_protected_and_serving_certificates_chain_to_it(run_program: Runner) -> None:
    run = run_program()
    assert run.options["platform-ca"].protect is True
    ca_data = string_data(run, "promptsales-ca", PLATFORM)
    ca_cert = load_certificate(ca_data["tls.crt"])
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    load_private_key(ca_data["tls.key"])
    assert run.outputs["ca_bundle"] == ca_data["ca.crt"]

    for name, namespace in (
        ("promptsales-cache-tls", PLATFORM),
        ("promptsales-mongodb-tls", DATA),
        ("promptsales-sqlserver-tls", DATA),
        ("promptsales-postgres-tls", DATA),
    ):
        data = string_data(run, name, namespace)
        leaf = load_certificates(data["tls.crt"])[0]
        leaf.verify_directly_issued_by(ca_cert)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        service = name.removesuffix("-tls")
        assert f"{service}.{namespace}.svc" in sans.get_values_for_type(x509.DNSName)
        assert load_certificate(data["ca.crt"]) == ca_cert
    mongo = string_data(run, "promptsales-mongodb-tls", DATA)
    assert mongo["tls.pem"] == mongo["tls.crt"] + mongo["tls.key"]


def test_the_cache_certificate_names_every_pod_the_sentinels_report(run_program: Runner) -> None:
    """With ``announce-hostnames`` the Sentinels hand clients pod names, and the clients
    verify the host name: every data pod's and every Sentinel's name must match a SAN."""
    run = run_program()
    leaf = load_certificates(string_data(run, "promptsales-cache-tls", PLATFORM)["tls.crt"])[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    patterns = sans.get_values_for_type(x509.DNSName)

    def matched(host: str) -> bool:
        _pod, _, rest = host.partition(".")
        return host in patterns or f"*.{rest}" in patterns

    dialled = [cache.pod_host(CACHE_STATEFULSET, n, PLATFORM) for n in range(6)]
    dialled += [host for host, _port in cache.sentinel_addresses(PLATFORM)]
    assert all(matched(host) for host in dialled), patterns
    assert not matched("promptsales-cache-0.elsewhere.promptsales.svc")


def test_every_secret_value_is_a_pulumi_secret(run_program: Runner) -> None:
    run = run_program()
    secrets = [r for r in run.mocks.kubernetes() if r.typ == "kubernetes:core/v1:Secret"]
    assert len(secrets) == 12  # promptsales-mcp-tls is the operator's
    for secret in secrets:
        # Pulumi collapses secret values into one secret stringData on the wire.
        assert is_secret(secret.inputs["stringData"]), f"{secret.name} has plain stringData"


def test_pii_keyring_is_generated_in_the_pii_modules_format(run_program: Runner) -> None:
    run = run_program()
    document = string_data(run, "promptsales-pii-keyring", PLATFORM)["keyring.json"]
    keyring = parse_keyring(json.loads(document), "test")
    kek = keyring.kek(keyring.active_kek_id)
    assert kek is not None
    assert len(kek) == 32
    assert keyring.hmac_key_bytes() != kek


def test_generated_passwords_and_keys_appear_only_inside_secrets(run_program: Runner) -> None:
    run = run_program()
    generated = [f"Mock-{r.name}-Pw9" for r in run.mocks.registered if r.typ == RANDOM_PASSWORD]
    assert len(generated) == 5
    generated += [mock_bytes(r.name, 32) for r in run.mocks.registered if r.typ == RANDOM_BYTES]
    assert len(generated) == 7
    for resource in run.mocks.kubernetes():
        if resource.typ == "kubernetes:core/v1:Secret":
            continue
        text = json.dumps(resource.plain)
        for value in generated:
            assert value not in text, f"{resource.name} carries a generated credential"


def test_consumer_credentials_point_at_the_in_cluster_databases(run_program: Runner) -> None:
    run = run_program()
    etl = string_data(run, "promptsales-etl-credentials", PLATFORM)
    assert set(etl) == {
        "PROMPTSALES_ETL_ADS_URL",
        "PROMPTSALES_ETL_CRM_URL",
        "PROMPTSALES_ETL_WAREHOUSE_DSN",
        "ca.crt",
    }
    # The trust anchor the DSNs name travels in the same Secret.
    assert etl["ca.crt"] == run.outputs["ca_bundle"]
    assert "sslrootcert=/var/run/secrets/promptsales/ca.crt" in etl["PROMPTSALES_ETL_WAREHOUSE_DSN"]
    assert etl["PROMPTSALES_ETL_ADS_URL"].startswith(
        "mssql+pyodbc://promptsales_etl:Mock-sqlserver-etl-password-Pw9@"
        "promptsales-sqlserver.promptsales-data.svc:1433/PromptAds?"
    )
    assert "/PromptCRM?" in etl["PROMPTSALES_ETL_CRM_URL"]
    dsn = etl["PROMPTSALES_ETL_WAREHOUSE_DSN"]
    assert "host=promptsales-postgres.promptsales-data.svc" in dsn
    assert "sslmode=verify-full" in dsn
    assert "password=Mock-postgres-password-Pw9" in dsn
    mcp = string_data(run, "promptsales-mcp-credentials", PLATFORM)
    assert mcp["PROMPTSALES_MCP_WAREHOUSE_DSN"] == dsn
    assert mcp["PROMPTSALES_MCP_MONGO_URI"].startswith(
        "mongodb://promptsales:Mock-mongodb-password-Pw9@promptsales-mongodb.promptsales-data.svc"
    )
    assert "tls=true" in mcp["PROMPTSALES_MCP_MONGO_URI"]
    assert mcp["PROMPTSALES_MCP_REDIS_URL"].startswith("rediss://:Mock-cache-password-Pw9@")
    cache_auth = string_data(run, "promptsales-cache-auth", PLATFORM)
    assert cache_auth == cache.auth_secret_data("Mock-cache-password-Pw9")
    # The MCP server reaches the data pods through the Sentinels the render names.
    mcp_env = {
        e["name"]: e.get("value")
        for e in run.mocks.find("Deployment", "promptsales-mcp", PLATFORM).plain["spec"][
            "template"
        ]["spec"]["containers"][0]["env"]
    }
    assert mcp_env["PROMPTSALES_MCP_CACHE_SENTINELS"] == cache.sentinels_setting(PLATFORM)
    sql_auth = string_data(run, "promptsales-sqlserver-auth", DATA)
    assert set(sql_auth) == {"sa-password", "etl-password"}
    assert sql_auth["sa-password"] != sql_auth["etl-password"]


def test_password_policy_fits_sql_server(run_program: Runner) -> None:
    run = run_program()
    for resource in run.mocks.registered:
        if resource.typ == RANDOM_PASSWORD:
            inputs = resource.plain
            assert inputs["length"] >= 16
            for minimum in ("minUpper", "minLower", "minNumeric", "minSpecial"):
                assert inputs[minimum] >= 1
            assert set(inputs["overrideSpecial"]) <= set("-_.")


def test_jobs_wait_for_their_databases_and_workloads_for_their_secrets(run_program: Runner) -> None:
    run = run_program()

    def depends(name: str) -> set[str]:
        deps = run.options[name].depends_on
        assert isinstance(deps, list)
        return {dep._name for dep in deps if isinstance(dep, pulumi.Resource)}

    sql_init = depends("job-promptsales-data-promptsales-sqlserver-init")
    assert "statefulset-promptsales-data-promptsales-sqlserver" in sql_init
    assert "secret-promptsales-data-promptsales-sqlserver-auth" in sql_init
    wh_init = depends("job-promptsales-promptsales-warehouse-init")
    assert "statefulset-promptsales-data-promptsales-postgres" in wh_init
    assert "secret-promptsales-promptsales-etl-credentials" in wh_init
    mcp = depends("deployment-promptsales-promptsales-mcp")
    assert {"secret-promptsales-promptsales-mcp-credentials", "namespace-promptsales"} <= mcp
    operator = depends("deployment-promptsales-promptsales-operator")
    assert "customresourcedefinition-promptsalescampaigns.promptsales.io" in operator


def test_stack_outputs(run_program: Runner) -> None:
    run = run_program()
    assert run.outputs["namespace"] == PLATFORM
    assert run.outputs["mcp_endpoint"] == "https://promptsales-mcp.promptsales.svc/mcp"
    assert run.outputs["database_services"] == {
        "mongodb": "promptsales-mongodb.promptsales-data.svc",
        "sqlserver": "promptsales-sqlserver.promptsales-data.svc",
        "postgres": "promptsales-postgres.promptsales-data.svc",
        "redis": "promptsales-cache.promptsales.svc",
    }


def test_external_databases_use_the_teams_connection_secrets(run_program: Runner) -> None:
    existing = {
        "promptsales/managed-mongo": {"uri": "mongodb+srv://u:p@atlas.example/PromptContent"},
        "promptsales/managed-sql": {
            "ads_url": "mssql+pyodbc://etl:x@sql.example/PromptAds",
            "crm_url": "mssql+pyodbc://etl:x@sql.example/PromptCRM",
        },
        "promptsales/managed-pg": {"dsn": "host=pg.example dbname=w user=w password=y"},
    }
    run = run_program(
        {
            "platform": {
                "mongodb": {"external_secret": "managed-mongo"},
                "sqlserver": {"external_secret": "managed-sql"},
                "postgres": {"external_secret": "managed-pg"},
            }
        },
        existing_secrets=existing,
    )
    kinds = {(m["kind"], m["metadata"]["name"]) for m in run.mocks.manifests()}
    for engine in ("promptsales-mongodb", "promptsales-sqlserver", "promptsales-postgres"):
        assert ("StatefulSet", engine) not in kinds
        assert ("Secret", f"{engine}-auth") not in kinds
    assert ("Job", "promptsales-sqlserver-init") not in kinds
    # The warehouse schema is still ours to initialize on a managed PostgreSQL.
    assert ("Job", "promptsales-warehouse-init") in kinds
    reads = {r.read_id for r in run.mocks.registered if r.read_id}
    assert reads == set(existing)
    mcp = string_data(run, "promptsales-mcp-credentials", PLATFORM)
    assert mcp["PROMPTSALES_MCP_MONGO_URI"] == existing["promptsales/managed-mongo"]["uri"]
    assert mcp["PROMPTSALES_MCP_WAREHOUSE_DSN"] == existing["promptsales/managed-pg"]["dsn"]
    etl = string_data(run, "promptsales-etl-credentials", PLATFORM)
    assert etl["PROMPTSALES_ETL_CRM_URL"] == existing["promptsales/managed-sql"]["crm_url"]
    assert run.outputs["database_services"]["mongodb"] == "external:promptsales/managed-mongo"
    assert policy.check_all(run.mocks.manifests()) == []


def test_external_secret_missing_a_key_fails_the_up(run_program: Runner) -> None:
    with pytest.raises(Exception, match="has no key 'dsn'"):
        run_program(
            {"platform": {"postgres": {"external_secret": "managed-pg"}}},
            existing_secrets={"promptsales/managed-pg": {"url": "postgresql://x"}},
        )


def test_external_cache_uses_the_teams_redis_url(run_program: Runner) -> None:
    existing = {"promptsales/managed-redis": {"url": "rediss://:pw@redis.example:6380/0"}}
    run = run_program(
        {"platform": {"cache": {"external_secret": "managed-redis"}}},
        existing_secrets=existing,
    )
    cache_objects = {
        (m["kind"], m["metadata"]["name"])
        for m in run.mocks.manifests()
        if m["metadata"]["name"].startswith("promptsales-cache")
    }
    assert cache_objects == set()  # no Deployment, Service, PDB, ConfigMap, auth or TLS Secret
    reads = {r.read_id for r in run.mocks.registered if r.read_id}
    assert reads == set(existing)
    mcp = string_data(run, "promptsales-mcp-credentials", PLATFORM)
    assert mcp["PROMPTSALES_MCP_REDIS_URL"] == existing["promptsales/managed-redis"]["url"]
    run.mocks.find("Deployment", "promptsales-mcp", PLATFORM)
    assert run.outputs["database_services"]["redis"] == "external:promptsales/managed-redis"
    assert run.outputs["database_services"]["postgres"] == (
        "promptsales-postgres.promptsales-data.svc"
    )
    assert policy.check_all(run.mocks.manifests()) == []


def test_external_cache_secret_without_url_fails_the_up(run_program: Runner) -> None:
    with pytest.raises(Exception, match="has no key 'url'"):
        run_program(
            {"platform": {"cache": {"external_secret": "managed-redis"}}},
            existing_secrets={"promptsales/managed-redis": {"uri": "rediss://x"}},
        )


def test_captured_inputs_pass_every_policy(run_program: Runner) -> None:
    run = run_program()
    assert policy.check_all(run.mocks.manifests()) == []


def test_custom_namespaces_flow_into_every_reference(run_program: Runner) -> None:
    run = run_program({"platform": {"namespace": "ps-prod", "data_namespace": "ps-prod-data"}})
    for manifest in run.mocks.manifests():
        namespace = manifest["metadata"].get("namespace")
        assert namespace in {None, "ps-prod", "ps-prod-data"}
    etl = string_data(run, "promptsales-etl-credentials", "ps-prod")
    assert "host=promptsales-postgres.ps-prod-data.svc" in etl["PROMPTSALES_ETL_WAREHOUSE_DSN"]
    assert unwrap(run.outputs)["mcp_endpoint"] == "https://promptsales-mcp.ps-prod.svc/mcp"


def test_exposed_mcp_gets_a_load_balancer_and_its_external_name_in_the_certificate(
    run_program: Runner,
) -> None:
    run = run_program(
        {
            "platform": {
                "mcp": {"service_type": "LoadBalancer", "external_hostnames": ["mcp.example.com"]},
                "network": {"agent_cidrs": ["203.0.113.0/24"]},
            }
        }
    )
    service = run.mocks.find("Service", "promptsales-mcp", PLATFORM).plain["spec"]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    # Local keeps the agent's address, so the NetworkPolicy ipBlock can match it.
    assert service["externalTrafficPolicy"] == "Local"
    assert run.outputs["mcp_endpoint"] == "https://mcp.example.com/mcp"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"platform": {"postgres": {"external_secret": "managed-pg"}}},
        {"platform": {"cache": {"external_secret": "managed-redis"}}},
    ],
    ids=["in-cluster", "external-postgres", "external-cache"],
)
def test_render_header_lists_exactly_the_secrets_pulumi_creates(
    run_program: Runner, values: dict[str, Any]
) -> None:
    existing = {
        "promptsales/managed-pg": {"dsn": "host=pg.example dbname=w user=w"},
        "promptsales/managed-redis": {"url": "rediss://:pw@redis.example:6380/0"},
    }
    values = {"platform": {"tier": "single", **values.get("platform", {})}}
    run = run_program(values, existing_secrets=existing)
    declared = {
        (r.plain["metadata"]["namespace"], r.plain["metadata"]["name"]): set(r.plain["stringData"])
        for r in run.mocks.kubernetes()
        if r.typ == "kubernetes:core/v1:Secret"
    }
    documented = {
        (namespace, name): {key.strip().split(" ")[0] for key in keys.split(",")}
        for namespace, name, keys in required_secrets(parse_stack_config(values).platform)
    }
    assert documented == declared
