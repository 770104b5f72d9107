"""Every manifest the operator builds passes the official 1.30 schemas, strictly."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from workloads import campaign_certificate, etl_cronjob, names
from workloads import operator as operator_workloads
from workloads.capacity import CampaignDemand, CapacityPolicy, plan_capacity

K8S_VERSION = "1.30"


def _validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def _cronjob(**overrides: Any) -> dict[str, Any]:
    spec = etl_cronjob.EtlCronJobSpec(
        campaign_name="spring-sale",
        campaign_uid="0b6f3f9e-1111-2222-3333-444455556666",
        campaign_id="10042",
        namespace="promptsales",
        **overrides,
    )
    return etl_cronjob.build_etl_cronjob(spec)


def test_cronjob_is_valid_and_runs_the_etl_for_the_campaign() -> None:
    cronjob = _cronjob()
    _validate(cronjob)
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["promptsales", "etl", "run", "--campaign-id", "10042"]
    assert {"name": "PROMPTSALES_SECRETS_DIR", "value": "/var/run/secrets/promptsales"} in (
        container["env"]
    )
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["metadata"]["ownerReferences"][0]["uid"].startswith("0b6f3f9e")


def test_cronjob_pod_is_restricted_and_reads_credentials_only_from_secrets() -> None:
    pii_file = "/var/run/secrets/promptsales-pii/keyring.json"
    pod = _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert all("valueFrom" not in env and "PASSWORD" not in env["name"] for env in container["env"])
    secret_volumes = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secret_volumes == ["promptsales-etl-credentials", "promptsales-pii-keyring"]
    keyring = {"name": "PROMPTSALES_PII_KEYRING_FILE", "value": pii_file}
    assert keyring in container["env"]
    assert container["resources"]["limits"]
    assert container["resources"]["requests"]


def test_default_schedule_is_spread_stably_and_custom_schedules_are_kept() -> None:
    first = etl_cronjob.effective_schedule("*/11 * * * *", "promptsales", "a")
    again = etl_cronjob.effective_schedule("*/11  * * * *", "promptsales", "a")
    assert first == again
    assert first.endswith("-59/11 * * * *")
    assert etl_cronjob.effective_schedule("30 2 * * *", "promptsales", "a") == "30 2 * * *"
    assert etl_cronjob.effective_schedule("0-59/11 * * * *", "promptsales", "a") == (
        "0-59/11 * * * *"
    )


@pytest.mark.parametrize("interval", [2, 5, 11, 15, 30, 59])
def test_any_every_n_minutes_schedule_is_spread_not_only_the_default(interval: int) -> None:
    """The rule is the schedule's shape: changing the API's default keeps the spreading."""
    spread = etl_cronjob.effective_schedule(f"*/{interval} * * * *", "promptsales", "a")
    offset = etl_cronjob.schedule_offset("promptsales", "a", interval)
    assert spread == f"{offset}-59/{interval} * * * *"
    assert etl_cronjob.effective_schedule("*/1 * * * *", "p", "a") == "*/1 * * * *"


def test_a_thousand_default_campaigns_use_every_offset_evenly() -> None:
    offsets = [etl_cronjob.schedule_offset("promptsales", f"campaign-{i}", 11) for i in range(1000)]
    counts = [offsets.count(minute) for minute in range(11)]
    assert min(counts) > 1000 / 11 * 0.7
    assert max(counts) < 1000 / 11 * 1.3


def test_suspend_is_passed_through() -> None:
    assert _cronjob(suspend=True)["spec"]["suspend"] is True


def test_long_campaign_names_give_distinct_valid_child_names() -> None:
    a = names.etl_cronjob_name("x" * 60 + "-alpha")
    b = names.etl_cronjob_name("x" * 60 + "-beta")
    assert a != b
    assert len(a) <= names.CRONJOB_NAME_MAX
    assert names.etl_cronjob_name("short") == "short-etl"


def test_tls_secret_is_valid_and_rejects_missing_fields() -> None:
    secret = campaign_certificate.build_tls_secret(
        name="spring-sale-client-tls",
        namespace="promptsales",
        component="certificate",
        pem_data={"tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "CA"},
        annotations={campaign_certificate.SERIAL: "ab"},
        campaign="spring-sale",
        owner_uid="uid-1",
    )
    _validate(secret)
    assert secret["type"] == "kubernetes.io/tls"
    with pytest.raises(ValueError, match=r"ca\.crt"):
        campaign_certificate.build_tls_secret(
            name="x",
            namespace="promptsales",
            component="certificate",
            pem_data={"tls.crt": "CERT", "tls.key": "KEY"},
            annotations={},
        )


@pytest.mark.parametrize("manifest", operator_workloads.operator_manifests("promptsales"))
def test_operator_manifests_are_valid(manifest: dict[str, Any]) -> None:
    _validate(manifest)


def test_role_grants_no_wildcards_no_delete_and_nothing_cluster_wide() -> None:
    for rule in operator_workloads.role_rules():
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert "delete" not in rule["verbs"]
    kinds = {m["kind"] for m in operator_workloads.operator_manifests("promptsales")}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    patchable = [
        r
        for r in operator_workloads.role_rules()
        if r["apiGroups"] == ["apps"] and "patch" in r["verbs"]
    ]
    # The MCP server Deployment and the cache's data StatefulSet, by name; not the Sentinels.
    assert [(r["resources"], r["resourceNames"]) for r in patchable] == [
        (["deployments"], ["promptsales-mcp"]),
        (["statefulsets"], ["promptsales-cache"]),
    ]


def test_capacity_formula_examples() -> None:
    policy = CapacityPolicy(mcp_rps_per_replica=50, cache_rps_per_replica=500, headroom=0.2)
    idle = plan_capacity([], policy)
    assert (idle.mcp_replicas, idle.cache_replicas) == (1, 2)  # a primary and a replica
    plan = plan_capacity(
        [
            CampaignDemand("a", 100),
            CampaignDemand("b", 40, peak_requests_per_second=200),  # counts 100
            CampaignDemand("c", 1000, active=False),
        ],
        policy,
    )
    assert plan.total_requests_per_second == 200
    assert plan.mcp_replicas == 5  # ceil(240 / 50)
    assert plan.cache_replicas == 2  # ceil(240 / 500) is 1, below the minimum
    busy = plan_capacity([CampaignDemand("d", 1000)], policy)
    assert busy.cache_replicas == 3  # ceil(1200 / 500): read replicas follow demand
    huge = plan_capacity([CampaignDemand("x", 1e6)], policy)
    assert (huge.mcp_replicas, huge.cache_replicas) == (policy.mcp_max, policy.cache_max)


def test_capacity_policy_rejects_min_above_max() -> None:
    with pytest.raises(ValueError, match="mcp_min"):
        CapacityPolicy(mcp_min=5, mcp_max=2)


def test_the_cache_never_plans_below_a_primary_and_a_replica_to_promote() -> None:
    with pytest.raises(ValueError, match="cache_min must be between 2"):
        CapacityPolicy(cache_min=1)


def test_events_the_operator_posts_are_valid() -> None:
    from promptsales_operator.events import build_event

    campaign = {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {"name": "c", "namespace": "promptsales", "uid": "u"},
    }
    event = build_event(campaign, "CertificateIssued", "x" * 5000, now="2026-12-10T00:00:00Z")
    _validate(event)
    assert len(event["message"]) == 1024
