"""The cache as rendered: a data StatefulSet the operator scales, three Sentinels watching
it, stable names that agree everywhere, the MCP server pointed at the Sentinels, and the
operator allowed to scale the data pods and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from infra import policy
from mcp_server.config import McpSettings
from workloads import cache
from workloads import operator as operator_workload
from workloads.render import PlatformSpec, platform_manifests, required_secrets

NS = "promptsales"
Manifest = dict[str, Any]


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}"
    return found[0]


def _env(workload: Manifest) -> dict[str, str]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return platform_manifests(PlatformSpec())


def test_the_data_pods_are_a_statefulset_whose_replicas_the_operator_owns(
    rendered: list[Manifest],
) -> None:
    data = _find(rendered, "StatefulSet", "promptsales-cache")
    assert "replicas" not in data["spec"]
    assert data["spec"]["serviceName"] == "promptsales-cache"
    headless = _find(rendered, "Service", "promptsales-cache")["spec"]
    assert headless["clusterIP"] == "None"
    # Names resolve before readiness: a replica dials its primary while both start.
    assert headless["publishNotReadyAddresses"] is True
    assert headless["selector"] == data["spec"]["selector"]["matchLabels"]
    assert not [
        m for m in rendered if m["kind"] == "Deployment" and "cache" in m["metadata"]["name"]
    ]


def test_three_sentinels_with_a_quorum_that_a_drain_cannot_break(
    rendered: list[Manifest],
) -> None:
    sentinels = _find(rendered, "StatefulSet", "promptsales-cache-sentinel")
    assert sentinels["spec"]["replicas"] == 3
    assert sentinels["spec"]["serviceName"] == "promptsales-cache-sentinel"
    service = _find(rendered, "Service", "promptsales-cache-sentinel")["spec"]
    assert service["clusterIP"] == "None"
    assert service["ports"] == [
        {"name": "sentinel", "port": 26379, "targetPort": "sentinel", "protocol": "TCP"}
    ]
    budget = _find(rendered, "PodDisruptionBudget", "promptsales-cache-sentinel")["spec"]
    assert budget["minAvailable"] == 2
    env = _env(sentinels)
    assert (env["CACHE_QUORUM"], env["CACHE_MASTER"]) == ("2", "promptsales-cache")


def test_every_name_a_pod_announces_or_dials_is_a_stable_pod_name(
    rendered: list[Manifest],
) -> None:
    data = _find(rendered, "StatefulSet", "promptsales-cache")
    sentinels = _find(rendered, "StatefulSet", "promptsales-cache-sentinel")
    for workload in (data, sentinels):
        container = workload["spec"]["template"]["spec"]["containers"][0]
        names = [e["name"] for e in container["env"]]
        # $(CACHE_POD) is expanded only from a variable defined before it.
        assert names.index("CACHE_POD") < names.index("CACHE_ANNOUNCE")
        env = _env(workload)
        service = workload["spec"]["serviceName"]
        assert env["CACHE_ANNOUNCE"] == f"$(CACHE_POD).{service}.{NS}.svc"
        assert (
            env["CACHE_SEED"] == f"promptsales-cache-0.{data['spec']['serviceName']}.{NS}.svc:6379"
        )
        assert env["CACHE_SENTINELS"].split() == [
            f"promptsales-cache-sentinel-{n}.{sentinels['spec']['serviceName']}.{NS}.svc:26379"
            for n in range(3)
        ]
    files = _find(rendered, "ConfigMap", "promptsales-cache-config")["data"]
    assert "sentinel resolve-hostnames yes\n" in files["sentinel.conf"]
    assert "sentinel announce-hostnames yes\n" in files["sentinel.conf"]
    assert "replica-announce-ip $CACHE_ANNOUNCE" in files["cache-node.sh"]


def test_the_mcp_server_finds_the_primary_through_the_rendered_sentinels(
    rendered: list[Manifest],
) -> None:
    env = _env(_find(rendered, "Deployment", "promptsales-mcp"))
    settings = McpSettings(
        cache_sentinels=env["PROMPTSALES_MCP_CACHE_SENTINELS"],
        redis_url="rediss://:pw@promptsales-cache.promptsales.svc:6379/0",
    )
    assert settings.sentinel_addresses == cache.sentinel_addresses(NS)
    assert settings.cache_sentinel_master == cache.MASTER_NAME  # the name they monitor


def test_tls_on_every_connection_and_the_password_only_in_the_secret(
    rendered: list[Manifest],
) -> None:
    files = _find(rendered, "ConfigMap", "promptsales-cache-config")["data"]
    for conf in (files["redis.conf"], files["sentinel.conf"]):
        assert conf.startswith("port 0\n")  # no plaintext listener
        assert "tls-replication yes\n" in conf  # replicas and Sentinels dial over TLS
        assert "tls-ca-cert-file /etc/promptsales/tls/ca.crt\n" in conf
    assert "include /var/run/secrets/promptsales/auth.conf\n" in files["redis.conf"]
    assert "sentinel-auth.conf" in files["cache-sentinel.sh"]
    auth = cache.auth_secret_data("S3cret-pw")
    assert auth["auth.conf"] == 'requirepass "S3cret-pw"\nmasterauth "S3cret-pw"\n'
    assert auth["sentinel-auth.conf"] == (
        'requirepass "S3cret-pw"\nsentinel auth-pass promptsales-cache "S3cret-pw"\n'
    )
    needed = {name: keys for _ns, name, keys in required_secrets(PlatformSpec())}
    assert needed["promptsales-cache-auth"] == "password, auth.conf, sentinel-auth.conf"
    assert needed["promptsales-cache-tls"] == "tls.crt, tls.key, ca.crt"
    assert policy.check_all(rendered) == []


def test_root_filesystems_are_read_only_and_what_is_rewritten_lives_in_memory(
    rendered: list[Manifest],
) -> None:
    for name in ("promptsales-cache", "promptsales-cache-sentinel"):
        pod = _find(rendered, "StatefulSet", name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["runAsNonRoot"] is True
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m["readOnly"]}
        work = next(v for v in pod["volumes"] if v["name"] == "work")
        assert work["emptyDir"]["medium"] == "Memory"
        assert cache.WORK_DIR in writable
        auth = next(v for v in pod["volumes"] if v["name"] == "auth")["secret"]["items"]
        # Each process gets the password lines it includes and no others.
        expected = "auth.conf" if name == "promptsales-cache" else "sentinel-auth.conf"
        assert {item["key"] for item in auth} == {"password", expected}


def test_the_operator_may_patch_the_data_statefulset_by_name_and_nothing_else() -> None:
    rules = operator_workload.role_rules()
    on_statefulsets = [r for r in rules if r["resources"] == ["statefulsets"]]
    assert on_statefulsets == [
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["list", "watch"]},
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets"],
            "resourceNames": ["promptsales-cache"],
            "verbs": ["patch"],
        },
    ]
    patchable = [
        r.get("resourceNames")
        for r in rules
        if "patch" in r["verbs"] and r["apiGroups"] == ["apps"]
    ]
    assert patchable == [["promptsales-mcp"], ["promptsales-cache"]]


def test_a_managed_redis_replaces_the_whole_set() -> None:
    spec = PlatformSpec.model_validate({"cache": {"external_secret": "managed-redis"}})
    manifests = platform_manifests(spec)
    assert not [m for m in manifests if m["metadata"]["name"].startswith("promptsales-cache")]
    env = _env(_find(manifests, "Deployment", "promptsales-mcp"))
    assert "PROMPTSALES_MCP_CACHE_SENTINELS" not in env  # the URL's server alone
    assert not [n for _ns, n, _k in required_secrets(spec) if n.startswith("promptsales-cache")]


def test_fewer_than_a_primary_and_a_replica_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"cache\.min_replicas"):
        PlatformSpec.model_validate({"cache": {"min_replicas": 1}})
