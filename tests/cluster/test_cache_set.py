"""The cache set on a real API server: what ``promptsales render`` emits for it is
admitted (strict server-side apply, the namespace's restricted Pod Security level), and
the operator, as its own ServiceAccount, scales the data StatefulSet to demand (never
below a primary and a replica), keeps that count through a GitOps re-apply of the
render, and puts a hand edit back. There is no kubelet: pods never run, so what is
checked here is the API side; the set itself runs for real in the harness
(tests/integration/mcp/test_cache_provisioned.py).
"""

from __future__ import annotations

import time

import yaml

from tests.cluster.conftest import render_text
from tests.support import cluster as kc
from workloads.capacity import CACHE_MIN_REPLICAS, CampaignDemand, CapacityPolicy, plan_capacity
from workloads.common import CACHE_STATEFULSET

SENTINEL = f"{CACHE_STATEFULSET}-sentinel"


def _replicas(cluster: kc.Cluster, name: str = CACHE_STATEFULSET) -> int | None:
    found = cluster.read("statefulset", name)
    assert found is not None, f"StatefulSet {name}"
    replicas = found["spec"].get("replicas")
    return None if replicas is None else int(replicas)


def _campaign(name: str, campaign_id: str, rps: float) -> dict[str, object]:
    return {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {"name": name, "namespace": kc.NS},
        "spec": {
            "campaignId": campaign_id,
            "displayName": f"Cache {name}",
            "demand": {"requestsPerSecond": rps},
        },
    }


def test_the_rendered_cache_set_is_admitted(installed: kc.Cluster) -> None:
    cluster = installed
    data = cluster.read("statefulset", CACHE_STATEFULSET)
    sentinels = cluster.read("statefulset", SENTINEL)
    assert data is not None
    assert sentinels is not None
    assert sentinels["spec"]["replicas"] == 3
    assert data["spec"]["serviceName"] == CACHE_STATEFULSET
    for name in (CACHE_STATEFULSET, SENTINEL):
        service = cluster.read("service", name)
        assert service is not None
        assert service["spec"]["clusterIP"] == "None"  # headless: stable pod names
    # No Deployment of the cache is left from the previous design.
    assert cluster.read("deployment", CACHE_STATEFULSET) is None


def test_the_operator_scales_the_data_statefulset_to_demand(
    installed: kc.Cluster, operator: kc.OperatorProcess
) -> None:
    cluster = installed
    # The first plan, with no demand at all: a primary and a replica to promote.
    kc.wait_until(lambda: _replicas(cluster) == CACHE_MIN_REPLICAS, "the cache at its minimum")

    done = cluster.server_side_apply(yaml.safe_dump(_campaign("cache-heavy", "701", 2000)))
    assert done.returncode == 0, done.stderr
    expected = plan_capacity([CampaignDemand("cache-heavy", 2000)], CapacityPolicy())
    assert expected.cache_replicas > CACHE_MIN_REPLICAS  # the default policy does scale it
    kc.wait_until(
        lambda: _replicas(cluster) == expected.cache_replicas,
        f"{CACHE_STATEFULSET} scaled to {expected.cache_replicas}",
    )
    assert _replicas(cluster, SENTINEL) == 3  # the Sentinels are not the operator's

    # A GitOps tool re-applies the render: no conflict over spec.replicas, the count kept.
    again = cluster.server_side_apply(render_text())
    assert again.returncode == 0, again.stderr
    time.sleep(1.0)
    assert _replicas(cluster) == expected.cache_replicas
    data = cluster.read("statefulset", CACHE_STATEFULSET)
    assert data is not None
    owners = {
        entry["manager"]
        for entry in data["metadata"]["managedFields"]
        if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    }
    assert owners == {"promptsales-operator"}

    # A hand edit is put back when its watch event arrives.
    cluster.patch("statefulset", CACHE_STATEFULSET, {"spec": {"replicas": 9}})
    kc.wait_until(
        lambda: _replicas(cluster) == expected.cache_replicas, "the hand edit put back", 10
    )

    cluster.delete_campaign("cache-heavy")
    kc.wait_until(lambda: _replicas(cluster) == CACHE_MIN_REPLICAS, "scaled down", 10)


def test_the_operator_was_never_refused(operator: kc.OperatorProcess) -> None:
    log = operator.log()
    assert " 403" not in log
    assert "forbidden" not in log.lower()
