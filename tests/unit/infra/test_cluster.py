"""The cluster switch: the current kubeconfig context by default, or a new Civo cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.cluster import kubernetes_cluster
from infra.config import parse_stack_config
from infra.program import Platform, build_platform
from tests.unit.infra.conftest import Run, Runner
from tests.unit.infra.mocks import CIVO_CLUSTER, Registered


def _program(values: dict[str, Any], exported: dict[str, Any]) -> Callable[[], Platform]:
    config = parse_stack_config(values)

    def program() -> Platform:
        cluster = kubernetes_cluster(config.cluster)
        if cluster.kubeconfig is not None:
            cluster.kubeconfig.apply(lambda text: exported.update(kubeconfig=text))
        return build_platform(config, cluster.provider)

    return program


def _providers(run: Run) -> list[Registered]:
    return [r for r in run.mocks.registered if r.typ == "pulumi:providers:kubernetes"]


def test_default_deploys_into_the_kubeconfig_context_and_creates_no_cloud_resources(
    run_program: Runner,
) -> None:
    run = run_program(program=_program({"cluster": {"context": "kind-dev"}}, {}))
    (provider,) = _providers(run)
    assert provider.plain.get("context") == "kind-dev"
    assert not any(r.typ.startswith("civo:") for r in run.mocks.registered)


def test_every_kubernetes_resource_goes_through_the_stack_provider(run_program: Runner) -> None:
    run = run_program(program=_program({}, {}))
    (provider,) = _providers(run)
    declared = run.mocks.kubernetes()
    assert declared
    for resource in declared:
        assert run.options[resource.name].provider is not None, resource.name
    assert provider.name == "promptsales"


def test_create_switch_builds_a_civo_cluster_with_cilium_and_uses_its_kubeconfig(
    run_program: Runner,
) -> None:
    exported: dict[str, Any] = {}
    values = {
        "cluster": {
            "create": True,
            "region": "FRA1",
            "node_count": 4,
            "node_size": "g4s.kube.xlarge",
            "api_allowed_cidrs": ["203.0.113.0/24"],
        }
    }
    run = run_program(program=_program(values, exported))
    (cluster,) = [r for r in run.mocks.registered if r.typ == CIVO_CLUSTER]
    inputs = cluster.plain
    assert inputs["region"] == "FRA1"
    # NetworkPolicies are only enforced by a policy-capable CNI.
    assert inputs["cni"] == "cilium"
    assert inputs["pools"] == {"nodeCount": 4, "size": "g4s.kube.xlarge", "label": "promptsales"}
    assert inputs["firewallId"]
    (firewall,) = [r for r in run.mocks.registered if r.typ == "civo:index/firewall:Firewall"]
    ingress = firewall.plain["ingressRules"]
    assert [(rule["portRange"], rule["cidrs"]) for rule in ingress] == [
        ("6443", ["203.0.113.0/24"])
    ]
    assert firewall.plain["createDefaultRules"] is False
    (provider,) = _providers(run)
    assert provider.plain["kubeconfig"] == exported["kubeconfig"]
    assert "kind: Config" in exported["kubeconfig"]
