"""Each policy rule passes on the platform and fails on a manifest that breaks it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra import policy
from workloads.etl_cronjob import EtlCronJobSpec, build_etl_cronjob
from workloads.render import PlatformSpec, platform_manifests

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def platform() -> list[Manifest]:
    """The rendered platform plus one campaign's ETL CronJob as the operator builds it."""
    cronjob = build_etl_cronjob(
        EtlCronJobSpec(
            campaign_name="spring-sale",
            campaign_uid="0b7f9f5e-1d1e-4a57-9a0b-7b1f7e4e2c11",
            campaign_id="C-42",
            namespace="promptsales",
        )
    )
    # The single tier: its hand-built StatefulSets are what the violation tests tamper with
    # (the production tier's objects pass the same rules in test_data_tier_program.py).
    return [*platform_manifests(PlatformSpec(tier="single")), cronjob]


def test_platform_passes_every_rule(platform: list[Manifest]) -> None:
    assert policy.check_all(platform) == []


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def _container(manifest: Manifest) -> Manifest:
    template = policy.pod_template(manifest)
    assert template is not None
    container: Manifest = template["spec"]["containers"][0]
    return container


def _pod_spec(manifest: Manifest) -> Manifest:
    template = policy.pod_template(manifest)
    assert template is not None
    spec: Manifest = template["spec"]
    return spec


Mutation = Callable[[list[Manifest]], object]

MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "no memory limit": (
        "resources",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-postgres"))["resources"][
            "limits"
        ].pop("memory"),
    ),
    "no cpu request": (
        "resources",
        lambda ms: _container(_find(ms, "Deployment", "promptsales-mcp"))["resources"][
            "requests"
        ].pop("cpu"),
    ),
    "root user": (
        "non-root",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-cache"))[
            "securityContext"
        ].update(runAsUser=0),
    ),
    "runAsNonRoot off in pod and container": (
        "non-root",
        lambda ms: (
            _container(_find(ms, "StatefulSet", "promptsales-mongodb"))["securityContext"].pop(
                "runAsNonRoot"
            ),
            _pod_spec(_find(ms, "StatefulSet", "promptsales-mongodb"))["securityContext"].pop(
                "runAsNonRoot"
            ),
        ),
    ),
    "writable root": (
        "read-only-root",
        lambda ms: _container(_find(ms, "Job", "promptsales-warehouse-init"))[
            "securityContext"
        ].update(readOnlyRootFilesystem=False),
    ),
    "escalation allowed": (
        "no-escalation",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-sqlserver"))[
            "securityContext"
        ].pop("allowPrivilegeEscalation"),
    ),
    "capability added": (
        "capabilities",
        lambda ms: _container(_find(ms, "Deployment", "promptsales-mcp"))["securityContext"][
            "capabilities"
        ].update(add=["NET_ADMIN"]),
    ),
    "capabilities kept": (
        "capabilities",
        lambda ms: _container(_find(ms, "Deployment", "promptsales-mcp"))["securityContext"].pop(
            "capabilities"
        ),
    ),
    "no seccomp": (
        "seccomp",
        lambda ms: (
            _container(_find(ms, "Deployment", "promptsales-operator"))["securityContext"].pop(
                "seccompProfile"
            ),
            _pod_spec(_find(ms, "Deployment", "promptsales-operator"))["securityContext"].pop(
                "seccompProfile"
            ),
        ),
    ),
    "latest tag": (
        "image-tag",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-cache")).update(
            image="docker.io/library/redis:latest"
        ),
    ),
    "untagged image": (
        "image-tag",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-cache")).update(
            image="registry:5000/redis"
        ),
    ),
    "password in env": (
        "plain-secret",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-postgres"))["env"].append(
            {"name": "POSTGRES_PASSWORD", "value": "hunter2"}
        ),
    ),
    "credential URL in env": (
        "plain-secret",
        lambda ms: _container(_find(ms, "Deployment", "promptsales-mcp"))["env"].append(
            {"name": "PROMPTSALES_MCP_REDIS_URL", "value": "rediss://:pw@cache:6379/0"}
        ),
    ),
    "password on the command line": (
        "plain-secret",
        lambda ms: _container(_find(ms, "StatefulSet", "promptsales-cache"))["command"].append(
            "--requirepass hunter2"
        ),
    ),
    "password in a ConfigMap": (
        "plain-secret",
        lambda ms: _find(ms, "ConfigMap", "promptsales-cache-config")["data"].update(
            {"extra.conf": "requirepass hunter2\n"}
        ),
    ),
    "literal SQL password": (
        "plain-secret",
        lambda ms: _find(ms, "ConfigMap", "promptsales-sqlserver-init-sql")["data"].update(
            {"init.sql": "CREATE LOGIN x WITH PASSWORD = N'hunter2';"}
        ),
    ),
    "uncovered pod": (
        "network-policy",
        lambda ms: (
            ms[:]
            and ms.__setitem__(
                slice(None),
                [
                    m
                    for m in ms
                    if m["kind"] != "NetworkPolicy"
                    or m["metadata"]["namespace"] != "promptsales-data"
                ],
            )
        ),
    ),
    "wildcard verb": (
        "rbac-wildcard",
        lambda ms: _find(ms, "Role", "promptsales-operator")["rules"].append(
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}
        ),
    ),
    "wildcard resource": (
        "rbac-wildcard",
        lambda ms: _find(ms, "Role", "promptsales-operator")["rules"].append(
            {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_rule_catches_a_violation(platform: list[Manifest], case: str) -> None:
    rule, mutate = MUTATIONS[case]
    manifests = copy.deepcopy(platform)
    mutate(manifests)
    rules = {violation.rule for violation in policy.check_all(manifests)}
    assert rules == {rule}


def test_violation_detail_never_quotes_the_secret(platform: list[Manifest]) -> None:
    manifests = copy.deepcopy(platform)
    _container(_find(manifests, "StatefulSet", "promptsales-postgres"))["env"].append(
        {"name": "POSTGRES_PASSWORD", "value": "hunter2"}
    )
    (violation,) = policy.check_all(manifests)
    assert "hunter2" not in str(violation)
    assert "POSTGRES_PASSWORD" in str(violation)


def test_file_pointers_and_sqlcmd_variables_are_not_secrets() -> None:
    assert not policy.check_plain_secrets(
        {
            "kind": "ConfigMap",
            "metadata": {"name": "x"},
            "data": {"init.sql": "CREATE LOGIN l WITH PASSWORD = N'$(EtlPassword)';"},
        }
    )


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "2"}}, {"a": "1"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]},
            {"a": "1"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"b": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"b": "1"}, True),
    ],
)
def test_selector_semantics(selector: Manifest, labels: dict[str, str], matches: bool) -> None:
    assert policy.selector_matches(selector, labels) is matches
