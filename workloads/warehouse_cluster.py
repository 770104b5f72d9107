"""The production warehouse: a CloudNativePG ``Cluster`` instead of one hand-built StatefulSet.

CloudNativePG (CNCF project, ``postgresql.cnpg.io/v1``) gives the warehouse what a single
StatefulSet cannot: a primary and streaming replicas with automated failover, a ``-rw``
Service that always reaches the primary and a ``-ro`` Service over the replicas, WAL
archiving and base backups to object storage (so point-in-time recovery), and a metrics
exporter on every instance that also runs our own SQL queries.

Who connects where: the ETL writes through ``-rw``; the MCP server only reads KPIs and
reads them from ``-ro``, so dashboards of agents never load the primary. The serving
certificate is the platform CA's (``certificates.serverTLSSecret``/``serverCASecret``), so
clients verify the server exactly as they verify the single instance (``verify-full``
against ``ca.crt``). CloudNativePG keeps its own client CA for replication.

Secrets the manifests reference (created by the Pulumi program, or by the team for
``promptsales render`` users): ``promptsales-warehouse-app`` (``kubernetes.io/basic-auth``:
``username``, ``password``), ``promptsales-warehouse-tls`` (``tls.crt``, ``tls.key``,
``ca.crt``) and, with backups, the team's object-store credentials.
"""

from __future__ import annotations

import dataclasses

import yaml

from workloads.common import Manifest, labels, resources
from workloads.pods import config_map

API_VERSION = "postgresql.cnpg.io/v1"
CLUSTER = "promptsales-warehouse"
COMPONENT = "postgres"  # the same component label as the single instance: same policies
DATABASE = "promptsales"
OWNER = "promptsales"
APP_SECRET = f"{CLUSTER}-app"
TLS_SECRET = f"{CLUSTER}-tls"
MONITORING_CONFIG = f"{CLUSTER}-monitoring"
MONITORING_KEY = "queries.yaml"
METRICS_PORT = 9187  # the instance manager's exporter, port name ``metrics``
STATUS_PORT = 8000  # the instance manager's status endpoint the CloudNativePG operator calls
POSTGRES_PORT = 5432
# Object-store credential keys, CloudNativePG's documented names for the S3 case.
BACKUP_ACCESS_KEY = "ACCESS_KEY_ID"
BACKUP_SECRET_KEY = "ACCESS_SECRET_KEY"  # noqa: S105 (a key's name)

# Prefix CloudNativePG gives every metric of a custom query: ``cnpg_<query>_<column>``.
CUSTOM_METRIC_PREFIX = "cnpg_"
ETL_QUERY = "promptsales_etl"
# One row per ETL scope (a campaign's ``campaign-<id>`` or the global one), from the run
# log the ETL already writes (``warehouse.etl_run``): the ETL's run summary becomes metrics
# without a Pushgateway and without the ETL itself serving anything.
ETL_QUERY_SQL = """\
SELECT scope,
       COALESCE(EXTRACT(EPOCH FROM max(finished_at) FILTER (WHERE status = 'succeeded')), 0)
         AS last_success_timestamp_seconds,
       COALESCE(EXTRACT(EPOCH FROM max(finished_at)), 0) AS last_run_timestamp_seconds,
       count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '1 hour')
         AS failures_last_hour,
       COALESCE((array_agg(CASE WHEN status = 'failed' THEN 1 ELSE 0 END
                           ORDER BY run_id DESC))[1], 0) AS last_run_failed,
       COALESCE((array_agg(duration_ms ORDER BY run_id DESC))[1], 0) / 1000.0
         AS last_run_duration_seconds
FROM warehouse.etl_run
GROUP BY scope
"""
ETL_METRIC_COLUMNS: dict[str, str] = {
    "last_success_timestamp_seconds": "Unix time the scope's last successful ETL run finished",
    "last_run_timestamp_seconds": "Unix time the scope's last ETL run finished, any status",
    "failures_last_hour": "Failed ETL runs of the scope in the last hour",
    "last_run_failed": "1 when the scope's most recent ETL run failed",
    "last_run_duration_seconds": "Duration of the scope's most recent ETL run",
}


def etl_metric(column: str) -> str:
    """The Prometheus name CloudNativePG's exporter gives one column of the ETL query."""
    if column not in ETL_METRIC_COLUMNS:
        raise KeyError(column)
    return f"{CUSTOM_METRIC_PREFIX}{ETL_QUERY}_{column}"


def service_names(cluster: str = CLUSTER) -> list[str]:
    """The three Services CloudNativePG creates: primary, any instance, replicas only."""
    return [f"{cluster}-rw", f"{cluster}-r", f"{cluster}-ro"]


def rw_host(namespace: str, cluster: str = CLUSTER) -> str:
    """Where writers (the ETL, ``etl init-schema``) connect: always the current primary."""
    return f"{cluster}-rw.{namespace}.svc"


def ro_host(namespace: str, cluster: str = CLUSTER) -> str:
    """Where read-only clients (the MCP server's KPI reads) connect: the hot standbys."""
    return f"{cluster}-ro.{namespace}.svc"


def read_host(namespace: str, instances: int, cluster: str = CLUSTER) -> str:
    """Where a read-only client connects: ``-ro`` when there are standbys to serve it; a
    one-instance cluster has none (its ``-ro`` Service has no endpoints), so ``-rw``."""
    return ro_host(namespace, cluster) if instances > 1 else rw_host(namespace, cluster)


def serving_dns_names(namespace: str, cluster: str = CLUSTER) -> list[str]:
    """Every name the server certificate must carry, CloudNativePG's documented list for a
    user-provided ``serverTLSSecret``: each Service short, namespaced and cluster-qualified."""
    names: list[str] = []
    for svc in service_names(cluster):
        names += [svc, f"{svc}.{namespace}", f"{svc}.{namespace}.svc"]
        names.append(f"{svc}.{namespace}.svc.cluster.local")
    return names


@dataclasses.dataclass(frozen=True, slots=True)
class Backup:
    """Continuous WAL archiving plus base backups to an S3-compatible object store."""

    destination_path: str  # s3://bucket/prefix
    credentials_secret: str  # in the data namespace, keys ACCESS_KEY_ID / ACCESS_SECRET_KEY
    endpoint_url: str | None = None  # for S3-compatible stores other than AWS
    retention: str = "30d"
    schedule: str = "0 0 3 * * *"  # six fields (seconds first), CloudNativePG's cron format


@dataclasses.dataclass(frozen=True, slots=True)
class WarehouseCluster:
    """Everything the ``Cluster`` varies by."""

    namespace: str
    instances: int = 3
    storage: str = "10Gi"
    storage_class: str | None = None
    cpu: tuple[str, str] = ("250m", "1")
    memory: tuple[str, str] = ("1Gi", "1Gi")
    image_name: str | None = None  # None: the operator's default PostgreSQL image
    backup: Backup | None = None
    monitoring: bool = True


def _backup(backup: Backup) -> Manifest:
    def key(name: str) -> Manifest:
        return {"name": backup.credentials_secret, "key": name}

    store: Manifest = {
        "destinationPath": backup.destination_path,
        "s3Credentials": {
            "accessKeyId": key(BACKUP_ACCESS_KEY),
            "secretAccessKey": key(BACKUP_SECRET_KEY),
        },
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    if backup.endpoint_url is not None:
        store["endpointURL"] = backup.endpoint_url
    return {"barmanObjectStore": store, "retentionPolicy": backup.retention}


def cluster(spec: WarehouseCluster) -> Manifest:
    """The ``Cluster``: TLS-only logins, the platform's serving certificate, our labels on
    every object it creates (so the data namespace's NetworkPolicies select its pods)."""
    meta = labels(COMPONENT, "pulumi")
    body: Manifest = {
        "instances": spec.instances,
        "primaryUpdateStrategy": "unsupervised",
        "enablePDB": True,
        "enableSuperuserAccess": False,
        "inheritedMetadata": {"labels": meta},
        "postgresql": {
            # (scram-sha-256 is CloudNativePG's and PostgreSQL's default password method.)
            # Appended before CloudNativePG's own catch-all ``host`` rule, so a client
            # without TLS is turned away before any password is asked for.
            "pg_hba": ["hostnossl all all all reject", "hostssl all all all scram-sha-256"],
        },
        "bootstrap": {
            "initdb": {"database": DATABASE, "owner": OWNER, "secret": {"name": APP_SECRET}}
        },
        "certificates": {"serverTLSSecret": TLS_SECRET, "serverCASecret": TLS_SECRET},
        "storage": {"size": spec.storage},
        "resources": resources(spec.cpu[0], spec.memory[0], spec.cpu[1], spec.memory[1]),
    }
    if spec.storage_class is not None:
        body["storage"]["storageClass"] = spec.storage_class
    if spec.image_name is not None:
        body["imageName"] = spec.image_name
    if spec.monitoring:
        body["monitoring"] = {
            "customQueriesConfigMap": [{"name": MONITORING_CONFIG, "key": MONITORING_KEY}]
        }
    if spec.backup is not None:
        body["backup"] = _backup(spec.backup)
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": CLUSTER, "namespace": spec.namespace, "labels": meta},
        "spec": body,
    }


def scheduled_backup(namespace: str, backup: Backup) -> Manifest:
    """A base backup on ``backup.schedule``; WAL archiving between them gives PITR."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ScheduledBackup",
        "metadata": {
            "name": f"{CLUSTER}-daily",
            "namespace": namespace,
            "labels": labels(COMPONENT, "pulumi"),
        },
        "spec": {
            "schedule": backup.schedule,
            "cluster": {"name": CLUSTER},
            "method": "barmanObjectStore",
            "backupOwnerReference": "self",
            "immediate": True,
        },
    }


def custom_queries() -> str:
    """CloudNativePG's custom-query document (its ``queries.yaml`` format)."""
    metrics: list[Manifest] = [{"scope": {"usage": "LABEL", "description": "ETL scope"}}]
    metrics += [
        {column: {"usage": "GAUGE", "description": description}}
        for column, description in ETL_METRIC_COLUMNS.items()
    ]
    document = {
        ETL_QUERY: {
            "query": ETL_QUERY_SQL,
            "primary": True,  # one answer per cluster, not one per replica
            "target_databases": [DATABASE],
            "metrics": metrics,
        }
    }
    return yaml.safe_dump(document, sort_keys=False, width=100)


def monitoring_config(namespace: str) -> Manifest:
    """The ConfigMap ``spec.monitoring.customQueriesConfigMap`` names."""
    return config_map(
        MONITORING_CONFIG,
        namespace,
        labels(COMPONENT, "pulumi"),
        {MONITORING_KEY: custom_queries()},
    )


def warehouse_cluster(spec: WarehouseCluster) -> list[Manifest]:
    """The ConfigMap the Cluster reads, the Cluster, and its ScheduledBackup if configured."""
    result: list[Manifest] = []
    if spec.monitoring:
        result.append(monitoring_config(spec.namespace))
    result.append(cluster(spec))
    if spec.backup is not None:
        result.append(scheduled_backup(spec.namespace, spec.backup))
    return result
