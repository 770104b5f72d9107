"""The platform on a real API server, as its users meet it (see conftest.py).

Order matters only where a test says so: the idle minute is last, once everything that
could still cause work (a per-minute CronJob, the examples' 11-minute schedules) is gone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tests.cluster.conftest import render_text
from tests.support import cluster as kc
from workloads.capacity import CampaignDemand, CapacityPolicy, plan_capacity
from workloads.common import CAMPAIGN_LABEL
from workloads.names import certificate_secret_name, etl_cronjob_name

EXAMPLES = kc.REPO_ROOT / "examples"
REPAIR_LIMIT_S = 2.0
OURS = "app.kubernetes.io/managed-by=promptsales-operator"


def _campaign(name: str, campaign_id: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {"name": name, "namespace": kc.NS},
        "spec": {"campaignId": campaign_id, "displayName": f"Suite {name}", **spec},
    }


def _apply(cluster: kc.Cluster, *objects: dict[str, object]) -> None:
    done = cluster.server_side_apply(yaml.safe_dump_all(objects))
    assert done.returncode == 0, done.stderr


def _wait_ready(cluster: kc.Cluster, names: list[str], timeout: float = 30.0) -> None:
    def all_ready() -> bool:
        found = {c["metadata"]["name"]: c for c in cluster.campaigns()}
        return all(
            kc.is_ready(found.get(name))
            and found[name]["status"].get("observedGeneration")
            == found[name]["metadata"]["generation"]
            for name in names
        )

    kc.wait_until(all_ready, f"{len(names)} campaigns Ready", timeout)


def _replicas(cluster: kc.Cluster, name: str) -> int:
    deployment = cluster.read("deployment", name)
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def _schedule(cluster: kc.Cluster, cronjob: str) -> str | None:
    found = cluster.read("cronjob", cronjob)
    return None if found is None else str(found["spec"]["schedule"])


def _reasons(cluster: kc.Cluster, campaign: str) -> list[str]:
    selector = f"involvedObject.name={campaign}"
    jsonpath = "jsonpath={.items[*].reason}"
    out = cluster.kubectl(
        "get", "events", "-n", kc.NS, "--field-selector", selector, "-o", jsonpath
    )
    return out.stdout.split()


def _serial(cluster: kc.Cluster, campaign: str) -> str:
    obj = cluster.campaign(campaign)
    assert obj is not None
    return str(obj["status"]["certificate"]["serialNumber"])


def test_examples_become_ready_with_owned_children(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    paths = sorted(EXAMPLES.glob("*.yaml"))
    for path in paths:
        done = cluster.server_side_apply(path.read_text())
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
    names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in paths]
    _wait_ready(cluster, names)
    for name in names:
        obj = cluster.campaign(name)
        assert obj is not None
        uid = obj["metadata"]["uid"]
        cronjob = cluster.read("cronjob", etl_cronjob_name(name))
        secret = cluster.read("secret", certificate_secret_name(name))
        assert cronjob is not None
        assert secret is not None
        for child in (cronjob, secret):
            (owner,) = child["metadata"]["ownerReferences"]
            assert (owner["uid"], owner["controller"]) == (uid, True)
        assert secret["type"] == "kubernetes.io/tls"


def test_a_new_campaign_is_ready_within_a_second_of_its_apply(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _wait_ready(cluster, ["holiday-push"])  # the operator is up and synced
    started = time.monotonic()
    _apply(cluster, _campaign("prompt", "401"))
    _wait_ready(cluster, ["prompt"])
    took = time.monotonic() - started
    print(f"\na new campaign was Ready {took:.2f} s after kubectl apply started")
    cluster.delete_campaign("prompt")


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "invalid").glob("*.yaml")), ids=lambda p: p.name
)
def test_invalid_specs_are_refused_by_the_server(installed: kc.Cluster, path: Path) -> None:
    done = installed.server_side_apply(path.read_text())
    assert done.returncode != 0, f"{path.name} was accepted"
    assert "is invalid" in done.stderr or "duplicate entries" in done.stderr, done.stderr


def test_unknown_fields_and_a_changed_campaign_id_are_refused(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _apply(cluster, _campaign("fixed-id", "501"))
    typo = _campaign("fixed-id", "501", demand={"requestPerSecond": 5})  # one letter off
    done = cluster.server_side_apply(yaml.safe_dump(typo))
    assert done.returncode != 0
    assert ".spec.demand.requestPerSecond: field not declared in schema" in done.stderr
    moved = cluster.server_side_apply(yaml.safe_dump(_campaign("fixed-id", "502")))
    assert moved.returncode != 0
    assert "campaignId is immutable" in moved.stderr
    cluster.delete_campaign("fixed-id")


def test_kubectl_get_psc_prints_every_column(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _wait_ready(cluster, ["holiday-push"])
    text = cluster.kubectl("get", "psc", "-n", kc.NS).stdout
    header, *rows = text.strip().splitlines()
    assert header.split()[:6] == ["NAME", "CAMPAIGN", "PHASE", "READY", "SCHEDULE", "LAST"]
    assert "<invalid>" not in text
    row = next(r for r in rows if r.startswith("holiday-push"))
    holiday = cluster.campaign("holiday-push")
    assert holiday is not None
    assert holiday["status"]["certificate"]["notAfter"] in row  # Cert Expiry, as written
    assert " True " in row


def test_deleted_and_edited_children_are_repaired_within_two_seconds(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _wait_ready(cluster, ["spring-sale"])
    cronjob_name = etl_cronjob_name("spring-sale")
    secret_name = certificate_secret_name("spring-sale")
    schedule = _schedule(cluster, cronjob_name)

    started = time.monotonic()
    cluster.delete("cronjob", cronjob_name)
    kc.wait_until(lambda: cluster.read("cronjob", cronjob_name), "CronJob back", REPAIR_LIMIT_S)
    deleted_s = time.monotonic() - started

    started = time.monotonic()
    cluster.patch("cronjob", cronjob_name, {"spec": {"schedule": "* * * * *"}})
    kc.wait_until(
        lambda: _schedule(cluster, cronjob_name) == schedule, "schedule put back", REPAIR_LIMIT_S
    )
    edited_s = time.monotonic() - started

    serial = _serial(cluster, "spring-sale")
    started = time.monotonic()
    cluster.delete("secret", secret_name)
    kc.wait_until(lambda: cluster.read("secret", secret_name), "Secret reissued", REPAIR_LIMIT_S)
    reissued_s = time.monotonic() - started
    print(
        f"\nrepaired: deleted CronJob {deleted_s:.2f} s, edited CronJob {edited_s:.2f} s, "
        f"deleted Secret {reissued_s:.2f} s"
    )
    kc.wait_until(lambda: _serial(cluster, "spring-sale") != serial, "status names it", 10)
    assert "CronJobRepaired" in _reasons(cluster, "spring-sale")


def test_spec_edits_are_followed_as_updates(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    cluster.patch_campaign("loyalty-nightly", {"spec": {"etl": {"schedule": "45 3 * * *"}}})
    name = etl_cronjob_name("loyalty-nightly")
    kc.wait_until(
        lambda: _schedule(cluster, name) == "45 3 * * *", "CronJob follows", REPAIR_LIMIT_S
    )
    _wait_ready(cluster, ["loyalty-nightly"])
    reasons = _reasons(cluster, "loyalty-nightly")
    assert "CronJobUpdated" in reasons
    assert "CronJobRepaired" not in reasons


def test_replicas_follow_demand_and_survive_a_server_side_reapply_of_the_render(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _apply(cluster, _campaign("big-demand", "601", demand={"requestsPerSecond": 400}))
    _wait_ready(cluster, ["big-demand"])
    demands = [
        CampaignDemand(c["metadata"]["name"], float(c["status"]["capacity"]["requestsPerSecond"]))
        for c in cluster.campaigns()
        if (c.get("status") or {}).get("capacity")
    ]
    plan = plan_capacity(demands, CapacityPolicy())  # the operator runs the default policy
    assert plan.mcp_replicas > 2
    assert _replicas(cluster, "promptsales-mcp") == plan.mcp_replicas  # applied before Ready

    # A GitOps tool re-applies the render: no conflict over spec.replicas, the count kept.
    again = cluster.server_side_apply(render_text())
    assert again.returncode == 0, again.stderr
    time.sleep(1.0)
    assert _replicas(cluster, "promptsales-mcp") == plan.mcp_replicas
    deployment = cluster.read("deployment", "promptsales-mcp")
    assert deployment is not None
    managers = {entry["manager"] for entry in deployment["metadata"]["managedFields"]}
    assert "promptsales-operator" in managers  # the field's owner is named, not "Python"

    cluster.delete_campaign("big-demand")
    kc.wait_until(
        lambda: _replicas(cluster, "promptsales-mcp") < plan.mcp_replicas, "scaled down", 10
    )


def test_the_garbage_collector_takes_a_deleted_campaigns_children(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    _apply(cluster, _campaign("short-lived", "701"))
    _wait_ready(cluster, ["short-lived"])
    cluster.delete_campaign("short-lived")
    kc.wait_until(
        lambda: (
            cluster.read("cronjob", etl_cronjob_name("short-lived")) is None
            and cluster.read("secret", certificate_secret_name("short-lived")) is None
        ),
        "children collected",
        30,
    )


def test_a_cronjob_job_is_admitted_under_the_namespaces_pod_security_level(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    level = cluster.namespace_labels(kc.NS)["pod-security.kubernetes.io/enforce"]
    assert level == "restricted"
    _apply(cluster, _campaign("every-minute", "801", etl={"schedule": "* * * * *"}))
    _wait_ready(cluster, ["every-minute"])

    def pod_of_a_job() -> dict[str, Any] | None:
        pods = cluster.list("pod", f"{CAMPAIGN_LABEL}=every-minute")
        return pods[0] if pods else None

    pod = kc.wait_until(pod_of_a_job, "a Job's pod admitted", 100)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    failures = cluster.kubectl(
        "get", "events", "-n", kc.NS, "--field-selector", "reason=FailedCreate",
        "-o", "jsonpath={.items[*].message}",
    ).stdout  # fmt: skip
    assert "violates PodSecurity" not in failures
    cluster.delete_campaign("every-minute")


def test_the_operator_killed_mid_pass_converges_without_duplicates(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    names = [f"burst-{i:03d}" for i in range(100)]
    quiet = {"schedule": "0 0 1 1 *"}  # never fires during the suite's idle minute
    _apply(cluster, *[_campaign(n, str(1000 + i), etl=quiet) for i, n in enumerate(names)])
    kc.wait_until(
        lambda: sum(1 for c in cluster.campaigns() if c.get("status")) >= 10,
        "the operator mid-way through the burst",
        30,
    )
    operator.kill()
    operator.start()
    _wait_ready(cluster, names, timeout=90)
    cronjobs = cluster.list("cronjob", OURS)
    secrets = cluster.list("secret", OURS)
    for name in names:
        owned_cronjobs = [c for c in cronjobs if c["metadata"]["labels"][CAMPAIGN_LABEL] == name]
        owned_secrets = [s for s in secrets if s["metadata"]["labels"].get(CAMPAIGN_LABEL) == name]
        assert len(owned_cronjobs) == 1, name
        assert len(owned_secrets) == 1, name
        annotations = owned_secrets[0]["metadata"]["annotations"]
        assert annotations["promptsales.io/certificate-serial"] == _serial(cluster, name)


def test_the_operator_was_never_refused(operator: kc.OperatorProcess) -> None:
    log = operator.log()
    assert " 403" not in log
    assert "forbidden" not in log.lower()
    assert "Not enough permissions" not in log


def test_the_crd_is_what_kubectl_explains(installed: kc.Cluster) -> None:
    text = installed.kubectl("explain", "psc.spec.certificate").stdout
    assert "renewBefore" in text
    with pytest.raises(ApiException):
        installed.custom.create_namespaced_custom_object(
            kc.GROUP, kc.VERSION, kc.NS, kc.PLURAL, _campaign("x" * 64, "9")
        )


def test_an_idle_minute_costs_no_reads_and_no_writes(
    installed: kc.Cluster, operator: kc.OperatorProcess, audit: kc.AuditLog
) -> None:
    """Last: the examples (11-minute schedules) and the per-minute campaign are gone; what
    remains converged must cost the API server nothing but the open watch streams."""
    cluster = installed
    for obj in cluster.campaigns():
        if not obj["metadata"]["name"].startswith("burst-"):
            cluster.delete_campaign(obj["metadata"]["name"])
    _wait_ready(cluster, [f"burst-{i:03d}" for i in range(100)])
    time.sleep(5)  # the garbage collection of the deleted campaigns' children settles
    mark = audit.mark()
    time.sleep(60)
    entries = audit.since(mark)
    counts = kc.requests_by_verb(entries)
    print(f"\nthe operator's requests in an idle minute: {counts or 'none'}")
    assert {verb: n for verb, n in counts.items() if verb != "watch"} == {}, entries
    assert operator.alive()
