"""The Pulumi program: the whole platform from the ``workloads/`` builders and ``certs/``.

:func:`build_platform` is a plain function of the typed stack configuration so unit tests
can run it under ``pulumi.runtime.set_mocks``; :func:`main` is what ``infra/__main__.py``
calls on a real ``pulumi up``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi

from infra import credentials, pki
from infra.cluster import kubernetes_cluster
from infra.config import StackConfig, load_stack_config
from infra.resources import declare
from workloads import cache, databases, mcp
from workloads.common import CACHE_DEPLOYMENT, MCP_DEPLOYMENT, Manifest, labels
from workloads.pods import CA_SECRET
from workloads.render import load_crd, platform_manifests

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "Job", "CronJob"})


@dataclasses.dataclass
class Platform:
    """The declared resources (by logical name) and the stack outputs."""

    resources: dict[str, pulumi.CustomResource]
    outputs: dict[str, Any]


def secret_manifest(
    name: str,
    namespace: str,
    component: str,
    data: dict[str, pulumi.Output[str] | str],
    secret_type: str = "Opaque",  # noqa: S107 (the Secret type)
) -> Manifest:
    """A Secret whose every value is marked secret, so Pulumi encrypts it in the state."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(component, "pulumi")},
        "type": secret_type,
        "stringData": {key: pulumi.Output.secret(value) for key, value in data.items()},
    }


def _key(manifest: Manifest) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as tests look them up."""
    meta = manifest["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else str(meta["name"])


class _Builder:
    """Accumulates resources with the dependencies Kubernetes itself does not enforce."""

    def __init__(self, config: StackConfig, provider: pulumi.ProviderResource | None) -> None:
        self.config = config
        self.spec = config.platform
        self.base = pulumi.ResourceOptions(provider=provider)
        self.resources: dict[str, pulumi.CustomResource] = {}
        self.namespaces: dict[str, pulumi.CustomResource] = {}
        self.secrets: dict[str, list[pulumi.CustomResource]] = {}

    def add(
        self, manifest: Manifest, depends_on: list[pulumi.Resource] | None = None
    ) -> pulumi.CustomResource:
        namespace = manifest["metadata"].get("namespace")
        deps = list(depends_on or [])
        if namespace is not None:
            deps.append(self.namespaces[namespace])
            if manifest["kind"] in WORKLOAD_KINDS:
                deps.extend(self.secrets.get(namespace, []))
        resource = declare(
            manifest,
            pulumi.ResourceOptions.merge(self.base, pulumi.ResourceOptions(depends_on=deps)),
        )
        if manifest["kind"] == "Namespace":
            self.namespaces[manifest["metadata"]["name"]] = resource
        if manifest["kind"] == "Secret":
            self.secrets.setdefault(namespace or "", []).append(resource)
        self.resources[_key(manifest)] = resource
        return resource

    def secret(
        self,
        name: str,
        namespace: str,
        component: str,
        data: dict[str, pulumi.Output[str] | str],
        secret_type: str = "Opaque",  # noqa: S107 (the Secret type)
        ignore_data: bool = False,
    ) -> pulumi.CustomResource:
        manifest = secret_manifest(name, namespace, component, data, secret_type)
        if not ignore_data:
            return self.add(manifest)
        opts = pulumi.ResourceOptions.merge(
            self.base,
            pulumi.ResourceOptions(
                depends_on=[self.namespaces[namespace]], ignore_changes=["stringData", "data"]
            ),
        )
        resource = declare(manifest, opts)
        self.secrets.setdefault(namespace, []).append(resource)
        self.resources[f"{namespace}/{name}"] = resource
        return resource


def build_platform(
    config: StackConfig, provider: pulumi.ProviderResource | None = None
) -> Platform:
    """Declare every resource of the platform and return the stack outputs."""
    spec, pki_config = config.platform, config.pki
    ns, data_ns = spec.namespace, spec.data_namespace
    manifests = platform_manifests(spec, load_crd())
    b = _Builder(config, provider)
    for manifest in manifests:
        if manifest["kind"] == "Namespace":
            b.add(manifest)

    # --- PKI: the CA once, then one serving certificate per TLS endpoint ---
    algorithm = pki_config.key_algorithm.value
    ca = pki.RootCertificateAuthority(
        "platform-ca",
        pki_config.ca_common_name,
        pki_config.ca_validity_days,
        algorithm,
    )
    # Created once: a later CA rollover (new + old CA in ca.crt) owns the data, not Pulumi.
    b.secret(
        CA_SECRET,
        ns,
        "pki",
        {"tls.crt": ca.cert_pem, "tls.key": ca.key_pem, "ca.crt": ca.cert_pem},
        "kubernetes.io/tls",
        ignore_data=True,
    )

    def serving(
        name: str,
        namespace: str,
        component: str,
        combined: bool = False,
        extra_names: tuple[str, ...] = (),
    ) -> None:
        cert = pki.ServerCertificate(
            f"{name}-serving",
            ca,
            [*databases.serving_dns_names(name, namespace), *extra_names],
            pki_config.server_validity_days,
            pki_config.renew_before_days,
            algorithm,
        )
        data: dict[str, pulumi.Output[str] | str] = {
            "tls.crt": cert.cert_pem,
            "tls.key": cert.key_pem,
            "ca.crt": cert.ca_pem,
        }
        if combined:
            data["tls.pem"] = cert.pem
        b.secret(databases.tls_secret_name(name), namespace, component, data, "kubernetes.io/tls")

    serving(MCP_DEPLOYMENT, ns, "mcp", extra_names=tuple(spec.mcp.external_hostnames))
    serving(CACHE_DEPLOYMENT, ns, "cache")

    # --- databases: generated credentials (in-cluster) or a team's connection Secret ---
    pw = credentials.password
    ext_opts = b.base
    if spec.mongodb.external_secret is None:
        mongo_pw = pw("mongodb-password")
        serving(databases.MONGODB, data_ns, "mongodb", combined=True)
        b.secret(
            databases.auth_secret_name(databases.MONGODB),
            data_ns,
            "mongodb",
            {"username": databases.MONGODB_USER, "password": mongo_pw},
        )
        mongo_uri = credentials.internal_mongo_uri(data_ns, mongo_pw)
    else:
        mongo_uri = credentials.read_external(
            ns, spec.mongodb.external_secret, credentials.EXTERNAL_KEYS["mongodb"], ext_opts
        )["uri"]

    if spec.sqlserver.external_secret is None:
        sa_pw, etl_pw = pw("sqlserver-sa-password"), pw("sqlserver-etl-password")
        serving(databases.SQLSERVER, data_ns, "sqlserver")
        b.secret(
            databases.auth_secret_name(databases.SQLSERVER),
            data_ns,
            "sqlserver",
            {"sa-password": sa_pw, "etl-password": etl_pw},
        )
        ads_url = credentials.internal_sqlserver_url(data_ns, databases.ADS_DATABASE, etl_pw)
        crm_url = credentials.internal_sqlserver_url(data_ns, databases.CRM_DATABASE, etl_pw)
    else:
        external = credentials.read_external(
            ns, spec.sqlserver.external_secret, credentials.EXTERNAL_KEYS["sqlserver"], ext_opts
        )
        ads_url, crm_url = external["ads_url"], external["crm_url"]

    if spec.postgres.external_secret is None:
        pg_pw = pw("postgres-password")
        serving(databases.POSTGRES, data_ns, "postgres")
        b.secret(
            databases.auth_secret_name(databases.POSTGRES), data_ns, "postgres", {"password": pg_pw}
        )
        warehouse_dsn = credentials.internal_warehouse_dsn(data_ns, pg_pw)
    else:
        warehouse_dsn = credentials.read_external(
            ns, spec.postgres.external_secret, credentials.EXTERNAL_KEYS["postgres"], ext_opts
        )["dsn"]

    cache_pw = pw("cache-password")
    b.secret(
        cache.CACHE_AUTH_SECRET, ns, "cache", {"auth.conf": cache_pw.apply(cache.redis_auth_conf)}
    )
    connections = credentials.Connections(
        mongo_uri=mongo_uri,
        ads_url=ads_url,
        crm_url=crm_url,
        warehouse_dsn=warehouse_dsn,
        redis_url=credentials.cache_url(ns, cache_pw),
    )
    # The PII keyring: created once; key rotation owns the data afterwards.
    b.secret(
        credentials.PII_KEYRING_SECRET,
        ns,
        "pii",
        {credentials.PII_KEYRING_FILE: credentials.pii_keyring()},
        ignore_data=True,
    )
    # ca.crt rides along: the connection strings name it as their trust anchor.
    trust: dict[str, pulumi.Output[str] | str] = {"ca.crt": ca.cert_pem}
    b.secret(mcp.MCP_CREDENTIALS_SECRET, ns, "mcp", {**connections.mcp_secret_data(), **trust})
    b.secret(
        databases.ETL_CREDENTIALS_SECRET, ns, "etl", {**connections.etl_secret_data(), **trust}
    )

    # --- everything else, in render order, with the ordering Kubernetes cannot infer ---
    crd = None
    for manifest in manifests:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        if kind == "Namespace":
            continue
        deps: list[pulumi.Resource] = []
        if kind == "Deployment" and crd is not None and name == "promptsales-operator":
            deps.append(crd)
        if kind == "Job" and name == databases.SQLSERVER_INIT_JOB:
            deps.append(b.resources[f"{data_ns}/{databases.SQLSERVER}"])
        if (
            kind == "Job"
            and name == databases.WAREHOUSE_INIT_JOB
            and (f"{data_ns}/{databases.POSTGRES}" in b.resources)
        ):
            deps.append(b.resources[f"{data_ns}/{databases.POSTGRES}"])
        resource = b.add(manifest, deps)
        if kind == "CustomResourceDefinition":
            crd = resource

    def service_of(engine: str, external: str | None) -> str:
        return f"external:{ns}/{external}" if external else databases.service_host(engine, data_ns)

    outputs: dict[str, Any] = {
        "namespace": ns,
        "data_namespace": data_ns,
        "mcp_endpoint": mcp.mcp_endpoint(ns, next(iter(spec.mcp.external_hostnames), None)),
        "ca_bundle": ca.cert_pem,
        "database_services": {
            "mongodb": service_of(databases.MONGODB, spec.mongodb.external_secret),
            "sqlserver": service_of(databases.SQLSERVER, spec.sqlserver.external_secret),
            "postgres": service_of(databases.POSTGRES, spec.postgres.external_secret),
            "redis": databases.service_host(CACHE_DEPLOYMENT, ns),
        },
    }
    return Platform(b.resources, outputs)


def main() -> None:
    """Entry point of ``pulumi up``: read config, pick the cluster, declare, export."""
    config = load_stack_config()
    cluster = kubernetes_cluster(config.cluster)
    platform = build_platform(config, cluster.provider)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    if cluster.kubeconfig is not None:
        pulumi.export("kubeconfig", cluster.kubeconfig)
