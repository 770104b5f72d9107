"""The platform's databases as Kubernetes manifests: MongoDB, SQL Server, PostgreSQL.

Each engine is a single-instance StatefulSet with a PersistentVolumeClaim template, a
headless Service, a PodDisruptionBudget, probes, TLS where the engine speaks it (all
three do) and credentials read from mounted Secret files, never from manifest values.
This is the ``single`` tier (small installs, development). In the ``production`` tier the
warehouse is a CloudNativePG cluster (``workloads.warehouse_cluster``) and PromptContent a
MongoDB replica set under MongoDB's operator (``workloads.content_replica_set``); SQL Server
stays single here and goes external in production. The Redis cache is not here: it lives
beside the MCP server in the platform namespace (``workloads.cache``: a data StatefulSet
the operator scales, under three Sentinels), with no durable volume.

Secrets the manifests reference (created by the Pulumi program, or by the team for
``promptsales render`` users): ``<name>-auth`` (credentials) and ``<name>-tls``
(``tls.crt``, ``tls.key``, ``ca.crt`` and, for MongoDB, ``tls.pem`` = cert + key).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote, quote_plus

from workloads.common import (
    DEFAULT_IMAGE,
    Manifest,
    container_security_context,
    labels,
    pod_security_context,
    resources,
    selector_labels,
)
from workloads.pods import (
    CA_MOUNT,
    SECRETS_MOUNT,
    TLS_MOUNT,
    TMP_DIR,
    ca_bundle_volume,
    config_map,
    disruption_budget,
    empty_dir,
    exec_probe,
    mount,
    pod_template,
    secret_volume,
    service,
    service_account,
    tcp_probe,
)

MONGODB = "promptsales-mongodb"
SQLSERVER = "promptsales-sqlserver"
POSTGRES = "promptsales-postgres"

MONGODB_PORT = 27017
SQLSERVER_PORT = 1433
POSTGRES_PORT = 5432

MONGODB_IMAGE = "docker.io/library/mongo:8.0.4"
SQLSERVER_IMAGE = "mcr.microsoft.com/mssql/server:2022-CU16-ubuntu-22.04"
POSTGRES_IMAGE = "docker.io/library/postgres:17.2"

CONTENT_DATABASE = "PromptContent"
ADS_DATABASE = "PromptAds"
CRM_DATABASE = "PromptCRM"
WAREHOUSE_DATABASE = "promptsales"
WAREHOUSE_USER = "promptsales"
MONGODB_USER = "promptsales"
ETL_SQL_LOGIN = "promptsales_etl"

SQLSERVER_INIT_JOB = "promptsales-sqlserver-init"
WAREHOUSE_INIT_JOB = "promptsales-warehouse-init"
ETL_CREDENTIALS_SECRET = "promptsales-etl-credentials"  # noqa: S105 (a Secret\'s name)
WAREHOUSE_INIT_COMMAND = ["promptsales", "etl", "init-schema"]
# Consumers' credential Secrets (ETL, MCP) carry the platform CA as ``ca.crt`` beside the
# connection strings, so a DSN can name the file without any other volume being mounted.
CONSUMER_CA_FILE = f"{SECRETS_MOUNT}/ca.crt"


@dataclasses.dataclass(frozen=True, slots=True)
class Sizing:
    """Requests, limits and volume size of one engine; limits equal to requests for memory
    keep the pod in a predictable QoS class and out of the OOM killer's first picks."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    storage: str
    storage_class: str | None = None

    def resources(self) -> Manifest:
        return resources(self.cpu_request, self.memory_request, self.cpu_limit, self.memory_limit)


def auth_secret_name(name: str) -> str:
    """The Secret holding an engine's generated credentials."""
    return f"{name}-auth"


def tls_secret_name(name: str) -> str:
    """The Secret holding an engine's serving certificate."""
    return f"{name}-tls"


def service_host(name: str, namespace: str) -> str:
    """The in-cluster DNS name clients use, and the name the serving certificate carries."""
    return f"{name}.{namespace}.svc"


def serving_dns_names(name: str, namespace: str) -> list[str]:
    """Every name a client may dial: short, namespaced, cluster-qualified and the pod's."""
    return [
        name,
        f"{name}.{namespace}",
        service_host(name, namespace),
        f"{name}.{namespace}.svc.cluster.local",
        f"*.{name}.{namespace}.svc",
        f"*.{name}.{namespace}.svc.cluster.local",
    ]


def _claim(sizing: Sizing, component: str) -> Manifest:
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": sizing.storage}},
    }
    if sizing.storage_class is not None:
        spec["storageClassName"] = sizing.storage_class
    return {"metadata": {"name": "data", "labels": selector_labels(component)}, "spec": spec}


def _statefulset(
    name: str,
    namespace: str,
    component: str,
    sizing: Sizing,
    container: Manifest,
    volumes: list[Manifest],
) -> Manifest:
    meta = labels(component, "pulumi")
    container = {
        "imagePullPolicy": "IfNotPresent",
        "resources": sizing.resources(),
        "securityContext": container_security_context(),
        **container,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": meta},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": selector_labels(component)},
            "template": pod_template(name, meta, container, volumes, grace_period_s=60),
            "volumeClaimTemplates": [_claim(sizing, component)],
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
        },
    }


def _supporting(
    name: str, namespace: str, component: str, port_name: str, port: int
) -> list[Manifest]:
    meta = labels(component, "pulumi")
    return [
        service_account(name, namespace, meta),
        service(name, namespace, component, meta, [(port_name, port, port_name)], headless=True),
        # One instance: minAvailable 1 makes a node drain wait for a person to move the
        # database deliberately instead of evicting it during autoscaler consolidation.
        disruption_budget(name, namespace, component, meta, minAvailable=1),
    ]


def mongodb(namespace: str, sizing: Sizing, image: str = MONGODB_IMAGE) -> list[Manifest]:
    """MongoDB for ``PromptContent``: auth on, TLS required, root user from Secret files."""
    component = "mongodb"
    container: Manifest = {
        "name": "mongodb",
        "image": image,
        "args": [
            "mongod",
            "--bind_ip_all",
            "--auth",
            "--tlsMode",
            "requireTLS",
            "--tlsCertificateKeyFile",
            f"{TLS_MOUNT}/tls.pem",
            "--tlsCAFile",
            f"{TLS_MOUNT}/ca.crt",
            "--tlsAllowConnectionsWithoutCertificates",
        ],
        "env": [
            {"name": "MONGO_INITDB_ROOT_USERNAME_FILE", "value": f"{SECRETS_MOUNT}/username"},
            {"name": "MONGO_INITDB_ROOT_PASSWORD_FILE", "value": f"{SECRETS_MOUNT}/password"},
            {"name": "MONGO_INITDB_DATABASE", "value": CONTENT_DATABASE},
        ],
        "ports": [{"name": "mongodb", "containerPort": MONGODB_PORT, "protocol": "TCP"}],
        "startupProbe": tcp_probe("mongodb", period=5, failures=60),
        "readinessProbe": tcp_probe("mongodb"),
        "livenessProbe": tcp_probe("mongodb", period=20, failures=6),
        "volumeMounts": [
            mount("data", "/data/db", read_only=False),
            mount("configdb", "/data/configdb", read_only=False),
            mount("tmp", TMP_DIR, read_only=False),
            mount("auth", SECRETS_MOUNT),
            mount("tls", TLS_MOUNT),
        ],
    }
    volumes = [
        empty_dir("configdb"),
        empty_dir("tmp"),
        secret_volume("auth", auth_secret_name(MONGODB)),
        secret_volume("tls", tls_secret_name(MONGODB)),
    ]
    return [
        *_supporting(MONGODB, namespace, component, "mongodb", MONGODB_PORT),
        _statefulset(MONGODB, namespace, component, sizing, container, volumes),
    ]


def _mssql_conf(memory_limit_mb: int) -> str:
    return (
        "[network]\n"
        f"tlscert = {TLS_MOUNT}/tls.crt\n"
        f"tlskey = {TLS_MOUNT}/tls.key\n"
        "tlsprotocols = 1.2\n"
        "forceencryption = 1\n"
        "[memory]\n"
        f"memorylimitmb = {memory_limit_mb}\n"
    )


def sqlserver(
    namespace: str,
    sizing: Sizing,
    memory_limit_mb: int,
    edition: str = "Developer",
    image: str = SQLSERVER_IMAGE,
) -> list[Manifest]:
    """SQL Server hosting ``PromptAds`` and ``PromptCRM``, encryption forced on every login.

    The image reads the ``sa`` password only from an environment variable, so a shell
    exports it from the mounted file just before ``exec``: it never appears in the
    manifest, only in the server process's own environment.
    """
    component = "sqlserver"
    meta = labels(component, "pulumi")
    conf = config_map(
        f"{SQLSERVER}-config", namespace, meta, {"mssql.conf": _mssql_conf(memory_limit_mb)}
    )
    container: Manifest = {
        "name": "sqlserver",
        "image": image,
        "command": ["/bin/sh", "-c"],
        "args": [
            f'MSSQL_SA_PASSWORD="$(cat {SECRETS_MOUNT}/sa-password)"; '
            "export MSSQL_SA_PASSWORD; exec /opt/mssql/bin/sqlservr"
        ],
        "env": [
            {"name": "ACCEPT_EULA", "value": "Y"},
            {"name": "MSSQL_PID", "value": edition},
            {"name": "MSSQL_TCP_PORT", "value": str(SQLSERVER_PORT)},
        ],
        "ports": [{"name": "mssql", "containerPort": SQLSERVER_PORT, "protocol": "TCP"}],
        "startupProbe": tcp_probe("mssql", period=5, failures=60),
        "readinessProbe": tcp_probe("mssql"),
        "livenessProbe": tcp_probe("mssql", period=20, failures=6),
        "volumeMounts": [
            mount("data", "/var/opt/mssql", read_only=False),
            mount("config", "/var/opt/mssql/mssql.conf", sub_path="mssql.conf"),
            mount("system", "/.system", read_only=False),
            mount("tmp", TMP_DIR, read_only=False),
            mount("auth", SECRETS_MOUNT),
            mount("tls", TLS_MOUNT),
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": f"{SQLSERVER}-config"}},
        empty_dir("system", "256Mi"),
        empty_dir("tmp", "256Mi"),
        secret_volume("auth", auth_secret_name(SQLSERVER), {"sa-password": "sa-password"}),
        secret_volume("tls", tls_secret_name(SQLSERVER)),
    ]
    return [
        conf,
        *_supporting(SQLSERVER, namespace, component, "mssql", SQLSERVER_PORT),
        _statefulset(SQLSERVER, namespace, component, sizing, container, volumes),
    ]


def sqlserver_init_sql(source_ddl: str = "") -> str:
    """Create the two source databases and a read-only ETL login, then the ETL's own DDL.

    Idempotent: the Job may run again on every ``pulumi up`` that changes it. The ETL
    login's password comes from the ``EtlPassword`` environment variable, which sqlcmd
    exposes as a scripting variable, so it never sits in this ConfigMap.
    """
    statements = []
    for database in (ADS_DATABASE, CRM_DATABASE):
        statements.append(f"IF DB_ID(N'{database}') IS NULL CREATE DATABASE [{database}];\nGO")
    statements.append(
        f"IF SUSER_ID(N'{ETL_SQL_LOGIN}') IS NULL\n"
        f"  CREATE LOGIN [{ETL_SQL_LOGIN}] WITH PASSWORD = N'$(EtlPassword)';\n"
        f"ELSE\n  ALTER LOGIN [{ETL_SQL_LOGIN}] WITH PASSWORD = N'$(EtlPassword)';\nGO"
    )
    for database in (ADS_DATABASE, CRM_DATABASE):
        statements.append(
            f"USE [{database}];\n"
            f"IF USER_ID(N'{ETL_SQL_LOGIN}') IS NULL\n"
            f"  CREATE USER [{ETL_SQL_LOGIN}] FOR LOGIN [{ETL_SQL_LOGIN}];\n"
            f"ALTER ROLE db_datareader ADD MEMBER [{ETL_SQL_LOGIN}];\nGO"
        )
    if source_ddl.strip():
        statements.append(source_ddl.strip())
    return "\n".join(statements) + "\n"


def sqlserver_init_job(
    namespace: str, source_ddl: str = "", image: str = SQLSERVER_IMAGE
) -> list[Manifest]:
    """A Job that runs :func:`sqlserver_init_sql` with the image's own ``sqlcmd``.

    ``-N -C`` encrypts the session but trusts the server certificate without a chain
    check: the ODBC-based sqlcmd cannot be pointed at a CA file. It stays inside the
    data namespace behind a NetworkPolicy.
    """
    component = "sqlserver-init"
    meta = labels(component, "pulumi")
    script = config_map(
        f"{SQLSERVER_INIT_JOB}-sql", namespace, meta, {"init.sql": sqlserver_init_sql(source_ddl)}
    )
    host = service_host(SQLSERVER, namespace)
    shell = (
        f'SQLCMDPASSWORD="$(cat {SECRETS_MOUNT}/sa-password)"; '
        f'EtlPassword="$(cat {SECRETS_MOUNT}/etl-password)"; '
        "export SQLCMDPASSWORD EtlPassword; "
        f"exec /opt/mssql-tools18/bin/sqlcmd -S tcp:{host},{SQLSERVER_PORT} -U sa -N -C "
        "-b -i /etc/promptsales/sql/init.sql"
    )
    job = _job(
        SQLSERVER_INIT_JOB,
        namespace,
        component,
        {
            "name": "init",
            "image": image,
            "command": ["/bin/sh", "-c"],
            "args": [shell],
            "volumeMounts": [
                mount("sql", "/etc/promptsales/sql"),
                mount("auth", SECRETS_MOUNT),
                mount("tmp", TMP_DIR, read_only=False),
            ],
        },
        [
            {"name": "sql", "configMap": {"name": f"{SQLSERVER_INIT_JOB}-sql"}},
            secret_volume("auth", auth_secret_name(SQLSERVER)),
            empty_dir("tmp"),
        ],
    )
    return [script, job]


def _job(
    name: str,
    namespace: str,
    component: str,
    container: Manifest,
    volumes: list[Manifest],
) -> Manifest:
    meta = labels(component, "pulumi")
    container = {
        "imagePullPolicy": "IfNotPresent",
        "resources": resources("100m", "128Mi", "500m", "256Mi"),
        "securityContext": container_security_context(),
        **container,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": meta},
        "spec": {
            # Retries cover the minutes a fresh database needs before it accepts logins.
            "backoffLimit": 12,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": meta},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def postgres(namespace: str, sizing: Sizing, image: str = POSTGRES_IMAGE) -> list[Manifest]:
    """PostgreSQL for the ``PromptSales`` warehouse: remote logins only over TLS (hostssl)."""
    component = "postgres"
    meta = labels(component, "pulumi")
    hba = (
        "# local socket: the image's init scripts and probes, inside the pod only\n"
        "local all all trust\n"
        "hostssl all all all scram-sha-256\n"
    )
    conf = config_map(f"{POSTGRES}-config", namespace, meta, {"pg_hba.conf": hba})
    container: Manifest = {
        "name": "postgres",
        "image": image,
        "args": [
            "postgres",
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={TLS_MOUNT}/tls.crt",
            "-c",
            f"ssl_key_file={TLS_MOUNT}/tls.key",
            "-c",
            f"ssl_ca_file={TLS_MOUNT}/ca.crt",
            "-c",
            "hba_file=/etc/promptsales/postgres/pg_hba.conf",
            "-c",
            "password_encryption=scram-sha-256",
        ],
        "env": [
            {"name": "POSTGRES_USER", "value": WAREHOUSE_USER},
            {"name": "POSTGRES_DB", "value": WAREHOUSE_DATABASE},
            {"name": "POSTGRES_PASSWORD_FILE", "value": f"{SECRETS_MOUNT}/password"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "startupProbe": exec_probe(["pg_isready", "-h", "/var/run/postgresql"], 5, 60),
        "readinessProbe": exec_probe(["pg_isready", "-h", "/var/run/postgresql"]),
        "livenessProbe": tcp_probe("postgres", period=20, failures=6),
        "volumeMounts": [
            mount("data", "/var/lib/postgresql/data", read_only=False),
            mount("run", "/var/run/postgresql", read_only=False),
            mount("tmp", TMP_DIR, read_only=False),
            mount("config", "/etc/promptsales/postgres"),
            mount("auth", SECRETS_MOUNT),
            mount("tls", TLS_MOUNT),
        ],
    }
    volumes = [
        empty_dir("run"),
        empty_dir("tmp", "256Mi"),
        {"name": "config", "configMap": {"name": f"{POSTGRES}-config"}},
        secret_volume("auth", auth_secret_name(POSTGRES), {"password": "password"}),
        secret_volume("tls", tls_secret_name(POSTGRES)),
    ]
    return [
        conf,
        *_supporting(POSTGRES, namespace, component, "postgres", POSTGRES_PORT),
        _statefulset(POSTGRES, namespace, component, sizing, container, volumes),
    ]


def warehouse_init_job(platform_namespace: str, image: str = DEFAULT_IMAGE) -> Manifest:
    """``promptsales etl init-schema`` as a Job in the platform namespace, reading the same
    ``promptsales-etl-credentials`` files the ETL CronJobs read."""
    return _job(
        WAREHOUSE_INIT_JOB,
        platform_namespace,
        "etl-init",
        {
            "name": "init-schema",
            "image": image,
            "command": WAREHOUSE_INIT_COMMAND,
            "volumeMounts": [
                mount("credentials", SECRETS_MOUNT),
                mount("ca-bundle", CA_MOUNT),
                mount("tmp", TMP_DIR, read_only=False),
            ],
        },
        [
            secret_volume("credentials", ETL_CREDENTIALS_SECRET),
            ca_bundle_volume(),
            empty_dir("tmp"),
        ],
    )


# --- connection strings (pure; the Pulumi program applies them to generated passwords) ---


def warehouse_dsn(host: str, password: str, user: str = WAREHOUSE_USER) -> str:
    """libpq DSN with full certificate verification against the mounted platform CA."""
    return (
        f"host={host} port={POSTGRES_PORT} dbname={WAREHOUSE_DATABASE} user={user} "
        f"password={_libpq_quote(password)} sslmode=verify-full sslrootcert={CONSUMER_CA_FILE}"
    )


def _libpq_quote(value: str) -> str:
    if value and all(ch.isalnum() or ch in "-_." for ch in value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def sqlserver_url(host: str, database: str, user: str, password: str) -> str:
    """SQLAlchemy ``mssql+pyodbc`` URL, encrypted and verified by name."""
    return (
        f"mssql+pyodbc://{quote_plus(user)}:{quote_plus(password)}@{host}:{SQLSERVER_PORT}/"
        f"{database}?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes&TrustServerCertificate=no"
    )


def mongodb_uri(host: str, user: str, password: str) -> str:
    """MongoDB URI with TLS verified against the mounted platform CA."""
    return (
        f"mongodb://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{MONGODB_PORT}/"
        f"{CONTENT_DATABASE}?authSource=admin&tls=true&tlsCAFile={CONSUMER_CA_FILE}"
    )
