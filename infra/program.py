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
from infra.operators import OperatorReleases, install_operators
from infra.resources import declare
from workloads import (
    cache,
    content_replica_set,
    content_search,
    databases,
    mcp,
    warehouse_cluster,
)
from workloads import operator as operator_workload
from workloads.common import CACHE_STATEFULSET, Manifest, labels
from workloads.pods import CA_SECRET
from workloads.render import platform_manifests

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "Job", "CronJob"})
# Custom resources whose operator runs pods that mount the data namespace's Secrets.
OPERATED_KINDS = frozenset({"Cluster", "MongoDBCommunity", "MongoDBSearch"})
# pulumi-kubernetes' await annotation: ``pulumi up`` waits until the operator reports the
# database serving, so the init Job that depends on it starts against a ready primary.
WAIT_FOR = "pulumi.com/waitFor"
READY_WHEN = {
    "Cluster": "condition=Ready",
    "MongoDBCommunity": "jsonpath={.status.phase}=Running",
}


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
    """Declares the platform piece by piece, adding the ordering Kubernetes cannot infer:
    namespaces before their objects, Secrets before the pods that mount them, databases
    before their init Jobs, the CRD before the operator."""

    ca: pki.RootCertificateAuthority  # set by platform_ca(), which runs first

    def __init__(self, config: StackConfig, provider: pulumi.ProviderResource | None) -> None:
        self.spec = config.platform
        self.pki_config = config.pki
        self.base = pulumi.ResourceOptions(provider=provider)
        self.resources: dict[str, pulumi.CustomResource] = {}
        self.namespaces: dict[str, pulumi.CustomResource] = {}
        self.secrets: dict[str, list[pulumi.CustomResource]] = {}
        self.operators = OperatorReleases()

    # --- generic ---

    def add(
        self,
        manifest: Manifest,
        depends_on: list[pulumi.Resource] | None = None,
        ignore_changes: list[str] | None = None,
    ) -> pulumi.CustomResource:
        namespace = manifest["metadata"].get("namespace")
        deps = list(depends_on or [])
        kind = manifest["kind"]
        if namespace is not None:
            deps.append(self.namespaces[namespace])
            if kind in WORKLOAD_KINDS or kind in OPERATED_KINDS:
                deps.extend(self.secrets.get(namespace, []))
        release = self._release_for(manifest)
        if release is not None:
            deps.append(release)
        if kind in READY_WHEN:
            annotations = {
                **manifest["metadata"].get("annotations", {}),
                WAIT_FOR: READY_WHEN[kind],
            }
            manifest = {
                **manifest,
                "metadata": {**manifest["metadata"], "annotations": annotations},
            }
        own = pulumi.ResourceOptions(depends_on=deps, ignore_changes=ignore_changes)
        resource = declare(manifest, pulumi.ResourceOptions.merge(self.base, own))
        if manifest["kind"] == "Namespace":
            self.namespaces[manifest["metadata"]["name"]] = resource
        if manifest["kind"] == "Secret":
            self.secrets.setdefault(namespace or "", []).append(resource)
        self.resources[_key(manifest)] = resource
        return resource

    def _release_for(self, manifest: Manifest) -> pulumi.Resource | None:
        """The Helm release whose CRDs define this object's kind, when we install it."""
        group = manifest["apiVersion"].rpartition("/")[0]
        if group == "postgresql.cnpg.io":
            return self.operators.cloudnativepg
        if group in {"mongodbcommunity.mongodb.com", "mongodb.com"}:  # MongoDBSearch too
            return self.operators.mongodb
        return None

    def secret(
        self,
        name: str,
        namespace: str,
        component: str,
        data: dict[str, pulumi.Output[str] | str],
        secret_type: str = "Opaque",  # noqa: S107 (the Secret type)
        create_only: bool = False,
    ) -> pulumi.CustomResource:
        """A Secret; ``create_only`` leaves its data to whoever rotates it afterwards."""
        manifest = secret_manifest(name, namespace, component, data, secret_type)
        return self.add(manifest, ignore_changes=["stringData", "data"] if create_only else None)

    # --- PKI ---

    def platform_ca(self) -> pki.RootCertificateAuthority:
        """The CA (once) and the ``promptsales-ca`` Secret; a later rollover (new + old CA
        in ``ca.crt``) owns the Secret's data, not Pulumi."""
        cfg = self.pki_config
        self.ca = pki.RootCertificateAuthority(
            "platform-ca", cfg.ca_common_name, cfg.ca_validity_days, cfg.key_algorithm.value
        )
        data = {"tls.crt": self.ca.cert_pem, "tls.key": self.ca.key_pem, "ca.crt": self.ca.cert_pem}
        self.secret(
            CA_SECRET, self.spec.namespace, "pki", dict(data), "kubernetes.io/tls", create_only=True
        )
        return self.ca

    def serving_secret(
        self,
        name: str,
        namespace: str,
        component: str,
        combined: bool = False,
        extra_names: tuple[str, ...] = (),
    ) -> None:
        """``<name>-tls`` for a Service; ``combined`` adds MongoDB's cert+key ``tls.pem``."""
        cfg = self.pki_config
        cert = pki.ServerCertificate(
            f"{name}-serving",
            self.ca,
            [*databases.serving_dns_names(name, namespace), *extra_names],
            cfg.server_validity_days,
            cfg.renew_before_days,
            cfg.key_algorithm.value,
        )
        data: dict[str, pulumi.Output[str] | str] = {
            "tls.crt": cert.cert_pem,
            "tls.key": cert.key_pem,
            "ca.crt": cert.ca_pem,
        }
        if combined:
            data["tls.pem"] = cert.pem
        self.secret(
            databases.tls_secret_name(name), namespace, component, data, "kubernetes.io/tls"
        )

    # --- databases: generated credentials (in-cluster) or a team's connection Secret ---

    def _external(self, engine: str, secret_name: str) -> dict[str, pulumi.Output[str]]:
        keys = credentials.EXTERNAL_KEYS[engine]
        return credentials.read_external(self.spec.namespace, secret_name, keys, self.base)

    def mongodb(self) -> pulumi.Output[str]:
        """MongoDB's URI for the MCP server."""
        data_ns, external = self.spec.data_namespace, self.spec.mongodb.external_secret
        if external is not None:
            return self._external("mongodb", external)["uri"]
        if self.spec.content_on_operator:
            return self.content_replica_set()
        password = credentials.password("mongodb-password")
        self.serving_secret(databases.MONGODB, data_ns, "mongodb", combined=True)
        self.secret(
            databases.auth_secret_name(databases.MONGODB),
            data_ns,
            "mongodb",
            {"username": databases.MONGODB_USER, "password": password},
        )
        return credentials.internal_mongo_uri(data_ns, password)

    def content_replica_set(self) -> pulumi.Output[str]:
        """The replica set's user password and member certificate; returns the seed-list URI."""
        data_ns, members = self.spec.data_namespace, self.spec.mongodb.members
        password = credentials.password("content-password")
        names = tuple(content_replica_set.serving_dns_names(data_ns, members))
        self.serving_secret(content_replica_set.NAME, data_ns, "mongodb", extra_names=names)
        self.secret(content_replica_set.PASSWORD_SECRET, data_ns, "mongodb", {"password": password})
        if self.spec.content_search:
            # mongot serves TLS with a certificate of the platform CA, like the members.
            self.serving_secret(
                content_search.SEARCH_NAME,
                data_ns,
                "mongodb-search",
                extra_names=(
                    f"*.{content_search.SEARCH_NAME}-svc.{data_ns}.svc.cluster.local",
                    f"{content_search.SEARCH_NAME}-svc.{data_ns}.svc.cluster.local",
                ),
            )
        return credentials.replica_set_uri(data_ns, members, password)

    def sqlserver(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The ETL's SQLAlchemy URLs of PromptAds and PromptCRM."""
        data_ns, external = self.spec.data_namespace, self.spec.sqlserver.external_secret
        if external is not None:
            urls = self._external("sqlserver", external)
            return urls["ads_url"], urls["crm_url"]
        sa_password = credentials.password("sqlserver-sa-password")
        etl_password = credentials.password("sqlserver-etl-password")
        self.serving_secret(databases.SQLSERVER, data_ns, "sqlserver")
        self.secret(
            databases.auth_secret_name(databases.SQLSERVER),
            data_ns,
            "sqlserver",
            {"sa-password": sa_password, "etl-password": etl_password},
        )
        return (
            credentials.internal_sqlserver_url(data_ns, databases.ADS_DATABASE, etl_password),
            credentials.internal_sqlserver_url(data_ns, databases.CRM_DATABASE, etl_password),
        )

    def postgres(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The warehouse's libpq DSNs: the ETL's (writes) and the MCP server's (reads)."""
        data_ns, external = self.spec.data_namespace, self.spec.postgres.external_secret
        if external is not None:
            dsn = self._external("postgres", external)["dsn"]
            return dsn, dsn
        if self.spec.warehouse_on_cloudnativepg:
            return self.warehouse_cluster()
        password = credentials.password("postgres-password")
        self.serving_secret(databases.POSTGRES, data_ns, "postgres")
        self.secret(
            databases.auth_secret_name(databases.POSTGRES),
            data_ns,
            "postgres",
            {"password": password},
        )
        dsn = credentials.internal_warehouse_dsn(data_ns, password)
        return dsn, dsn

    def warehouse_cluster(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The CloudNativePG application user and serving certificate; the ETL writes
        through ``-rw`` (the primary), the MCP server reads from ``-ro`` (the standbys)."""
        data_ns = self.spec.data_namespace
        password = credentials.password("warehouse-password")
        names = tuple(warehouse_cluster.serving_dns_names(data_ns))
        self.serving_secret(warehouse_cluster.CLUSTER, data_ns, "postgres", extra_names=names)
        self.secret(
            warehouse_cluster.APP_SECRET,
            data_ns,
            "postgres",
            {"username": warehouse_cluster.OWNER, "password": password},
            "kubernetes.io/basic-auth",
        )
        return (
            credentials.warehouse_dsn_at(warehouse_cluster.rw_host(data_ns), password),
            credentials.warehouse_dsn_at(
                warehouse_cluster.read_host(data_ns, self.spec.postgres.cluster.instances),
                password,
            ),
        )

    def cache(self) -> pulumi.Output[str]:
        """The cache's password (raw for its start-up scripts, and as the data pods' and
        the Sentinels' configuration lines) and one serving certificate for the data pods'
        and the Sentinels' names; returns its ``rediss://`` URL (a managed Redis's URL from
        the team's Secret in external mode)."""
        ns, external = self.spec.namespace, self.spec.cache.external_secret
        if external is not None:
            return self._external("redis", external)["url"]
        password = credentials.password("cache-password")
        sentinel_names = tuple(databases.serving_dns_names(cache.CACHE_SENTINEL, ns))
        self.serving_secret(CACHE_STATEFULSET, ns, "cache", extra_names=sentinel_names)
        data = password.apply(cache.auth_secret_data)

        def key_of(key: str) -> pulumi.Output[str]:
            return data.apply(lambda values: values[key])

        self.secret(
            cache.CACHE_AUTH_SECRET,
            ns,
            "cache",
            {key: key_of(key) for key in cache.AUTH_SECRET_KEYS},
        )
        return credentials.cache_url(ns, password)

    # --- what the platform's own programs read ---

    def consumer_secrets(self, connections: credentials.Connections) -> None:
        """MCP and ETL credentials (with ``ca.crt``, the trust anchor their connection
        strings name) and the first PII keyring."""
        ns = self.spec.namespace
        trust: dict[str, pulumi.Output[str] | str] = {"ca.crt": self.ca.cert_pem}
        self.secret(
            mcp.MCP_CREDENTIALS_SECRET, ns, "mcp", {**connections.mcp_secret_data(), **trust}
        )
        self.secret(
            databases.ETL_CREDENTIALS_SECRET, ns, "etl", {**connections.etl_secret_data(), **trust}
        )
        self.secret(
            credentials.PII_KEYRING_SECRET,
            ns,
            "pii",
            {credentials.PII_KEYRING_FILE: credentials.pii_keyring()},
            create_only=True,
        )

    def workloads(self, manifests: list[Manifest]) -> None:
        """Everything else, in render order."""
        data_ns = self.spec.data_namespace
        crds = [m["metadata"]["name"] for m in manifests if m["kind"] == "CustomResourceDefinition"]
        waits_for = {
            ("Deployment", operator_workload.NAME): crds[0],
            ("Job", databases.SQLSERVER_INIT_JOB): f"{data_ns}/{databases.SQLSERVER}",
            ("Job", databases.WAREHOUSE_INIT_JOB): f"{data_ns}/{databases.POSTGRES}",
        }
        if self.spec.warehouse_on_cloudnativepg:
            waits_for[("Job", databases.WAREHOUSE_INIT_JOB)] = (
                f"{data_ns}/{warehouse_cluster.CLUSTER}"
            )
        for manifest in manifests:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            if kind == "Namespace":
                continue
            prerequisite = self.resources.get(waits_for.get((kind, name), ""))
            self.add(manifest, [prerequisite] if prerequisite is not None else None)

    def outputs(self) -> dict[str, Any]:
        spec = self.spec
        ns, data_ns = spec.namespace, spec.data_namespace

        def service_of(engine: str, external: str | None) -> str:
            if external:
                return f"external:{ns}/{external}"
            if engine == databases.POSTGRES and spec.warehouse_on_cloudnativepg:
                return warehouse_cluster.rw_host(data_ns)
            if engine == databases.MONGODB and spec.content_on_operator:
                return f"{content_replica_set.SERVICE}.{data_ns}.svc"
            return databases.service_host(engine, data_ns)

        return {
            "namespace": ns,
            "data_namespace": data_ns,
            "mcp_endpoint": mcp.mcp_endpoint(ns, next(iter(spec.mcp.external_hostnames), None)),
            "ca_bundle": self.ca.cert_pem,
            "database_services": {
                "mongodb": service_of(databases.MONGODB, spec.mongodb.external_secret),
                "sqlserver": service_of(databases.SQLSERVER, spec.sqlserver.external_secret),
                "postgres": service_of(databases.POSTGRES, spec.postgres.external_secret),
                "redis": (
                    f"external:{ns}/{spec.cache.external_secret}"
                    if spec.cache.external_secret
                    else databases.service_host(CACHE_STATEFULSET, ns)
                ),
            },
        }


def build_platform(
    config: StackConfig, provider: pulumi.ProviderResource | None = None
) -> Platform:
    """Declare every resource of the platform and return the stack outputs."""
    spec = config.platform
    manifests = platform_manifests(spec)
    b = _Builder(config, provider)
    for manifest in manifests:
        if manifest["kind"] == "Namespace":
            b.add(manifest)
    b.platform_ca()  # the operator issues and renews the MCP serving certificate from it
    b.operators = install_operators(spec, b.base)
    ads_url, crm_url = b.sqlserver()
    etl_warehouse_dsn, mcp_warehouse_dsn = b.postgres()
    connections = credentials.Connections(
        mongo_uri=b.mongodb(),
        ads_url=ads_url,
        crm_url=crm_url,
        warehouse_dsn=etl_warehouse_dsn,
        redis_url=b.cache(),
        mcp_warehouse_dsn=mcp_warehouse_dsn,
    )
    b.consumer_secrets(connections)
    b.workloads(manifests)
    return Platform(b.resources, b.outputs())


def main() -> None:
    """Entry point of ``pulumi up``: read config, pick the cluster, declare, export."""
    config = load_stack_config()
    cluster = kubernetes_cluster(config.cluster)
    platform = build_platform(config, cluster.provider)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    if cluster.kubeconfig is not None:
        pulumi.export("kubeconfig", cluster.kubeconfig)
