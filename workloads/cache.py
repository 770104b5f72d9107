"""The MCP response cache: Redis replication under Sentinel, as two StatefulSets.

``promptsales-cache`` holds the data: one primary takes every write and the MCP servers'
single-flight locks, the other pods replicate it and serve reads, so a repeat is a hit on
whichever pod it reaches and one more pod adds read capacity without losing a hit (the
operator scales this StatefulSet's ``spec.replicas`` to campaign demand, never below
two, so there is always a replica to promote). ``promptsales-cache-sentinel`` is three
Sentinels watching it: when the primary is lost they agree (quorum two) and promote a
replica, and redis-py's Sentinel client in the MCP server asks them where the primary
is on every reconnect.

Why StatefulSets, with no volume (cached answers can always be recomputed): Sentinel
and replication name their peers, so every pod needs a stable DNS name (the headless
Services give ``<pod>.<service>.<namespace>.svc``), and Sentinel announces and is told
hostnames (``resolve-hostnames``/``announce-hostnames``), never pod IPs that change on
every restart; the same names are in the serving certificate that clients verify.

Start-up (``cache-node.sh``, ``cache-sentinel.sh``, kept beside this module and run for
real by the harness on loopback) asks the Sentinels for the current primary first; only
when none knows one (a new set) does ordinal 0 become the primary. Everything speaks TLS
with the platform CA (clients, replication, Sentinel), and one password from a Secret
guards the data pods and the Sentinels (``requirepass``, ``masterauth``, ``sentinel
auth-pass``). Root filesystems are read-only: the configuration each process may rewrite
(Sentinel records what it learns; a failover rewrites the promoted node's) is built at
start in a memory-backed emptyDir. Memory is bounded twice: ``maxmemory`` with an LRU
policy evicts before the container limit, so Redis is never OOM-killed.
"""

from __future__ import annotations

from importlib import resources

from workloads.common import (
    CACHE_STATEFULSET,
    Manifest,
    container_security_context,
    labels,
    selector_labels,
)
from workloads.common import (
    resources as container_resources,
)
from workloads.pods import (
    SECRETS_MOUNT,
    TLS_MOUNT,
    config_map,
    disruption_budget,
    mount,
    secret_volume,
    service,
    service_account,
    statefulset,
    tcp_probe,
)

CACHE_PORT = 6379
SENTINEL_PORT = 26379
CACHE_IMAGE = "docker.io/library/redis:7.4.2"
CACHE_SENTINEL = f"{CACHE_STATEFULSET}-sentinel"
CACHE_AUTH_SECRET = f"{CACHE_STATEFULSET}-auth"
CACHE_TLS_SECRET = f"{CACHE_STATEFULSET}-tls"
CACHE_CONFIG = f"{CACHE_STATEFULSET}-config"
# The name the Sentinels monitor the set by; the MCP server's default master name.
MASTER_NAME = CACHE_STATEFULSET
COMPONENT = "cache"
SENTINEL_COMPONENT = "cache-sentinel"
EVICTION_POLICY = "allkeys-lru"
# Three Sentinels, two must agree that the primary is down and on who replaces it.
SENTINELS = 3
QUORUM = 2
# Detection and failover limits of the deployed set. The harness shortens detection to
# one second so a test's failover takes seconds; a cluster network's hiccups need more.
DOWN_AFTER_MS = 5000
FAILOVER_TIMEOUT_MS = 30000

CONFIG_MOUNT = "/etc/promptsales/redis"
WORK_DIR = "/run/promptsales-cache"  # memory-backed emptyDir: the rewritable configuration
DATA_DIR = "/data"  # emptyDir: a replica's copy of the primary's snapshot during a sync
NODE_SCRIPT = "cache-node.sh"
SENTINEL_SCRIPT = "cache-sentinel.sh"
# Keys of CACHE_AUTH_SECRET.
PASSWORD_KEY = "password"  # noqa: S105 (a Secret key's name)
NODE_AUTH_KEY = "auth.conf"
SENTINEL_AUTH_KEY = "sentinel-auth.conf"
AUTH_SECRET_KEYS = (PASSWORD_KEY, NODE_AUTH_KEY, SENTINEL_AUTH_KEY)


def script(name: str) -> str:
    """A start-up script (``cache-node.sh`` or ``cache-sentinel.sh``) as shipped."""
    return (resources.files("workloads") / name).read_text(encoding="utf-8")


def maxmemory_bytes(memory_limit_mib: int, headroom: float = 0.75) -> int:
    """Redis data budget as a share of the container limit (the rest covers buffers,
    replication output, fragmentation and TLS connections)."""
    if memory_limit_mib <= 0:
        raise ValueError("memory_limit_mib must be positive")
    return int(memory_limit_mib * 1024 * 1024 * headroom)


def _tls_lines(port: int, tls_dir: str, bind: str | None) -> str:
    """TLS only, for clients and for the connections this process opens itself (a
    replica to its primary, a Sentinel to the set); no client certificates (the password
    authenticates), chains verified against the platform CA."""
    return (
        (f"bind {bind}\n" if bind else "")
        + "port 0\n"
        + f"tls-port {port}\n"
        + f"tls-cert-file {tls_dir}/tls.crt\n"
        + f"tls-key-file {tls_dir}/tls.key\n"
        + f"tls-ca-cert-file {tls_dir}/ca.crt\n"
        + "tls-auth-clients no\n"
        + "tls-replication yes\n"
    )


def redis_conf(
    memory_limit_mib: int,
    eviction_policy: str = EVICTION_POLICY,
    *,
    port: int = CACHE_PORT,
    tls_dir: str = TLS_MOUNT,
    secrets_dir: str = SECRETS_MOUNT,
    data_dir: str = DATA_DIR,
    bind: str | None = None,
) -> str:
    """A data node's configuration: no persistence, bounded memory; the role lines
    (``replicaof``, ``replica-announce-ip``) are added at start by ``cache-node.sh`` and
    the password lines come from an ``include`` of the mounted Secret file."""
    return (
        _tls_lines(port, tls_dir, bind)
        + 'save ""\n'
        + "appendonly no\n"
        + f"dir {data_dir}\n"
        + f"maxmemory {maxmemory_bytes(memory_limit_mib)}\n"
        + f"maxmemory-policy {eviction_policy}\n"
        + f"include {secrets_dir}/{NODE_AUTH_KEY}\n"
    )


def sentinel_conf(
    *,
    port: int = SENTINEL_PORT,
    tls_dir: str = TLS_MOUNT,
    work_dir: str = WORK_DIR,
    bind: str | None = None,
) -> str:
    """A Sentinel's fixed part; ``cache-sentinel.sh`` adds what it monitors and the
    password lines. Hostnames everywhere: pod IPs change on every restart."""
    return (
        _tls_lines(port, tls_dir, bind)
        + f"dir {work_dir}\n"
        + "sentinel resolve-hostnames yes\n"
        + "sentinel announce-hostnames yes\n"
    )


def _checked(password: str) -> str:
    if not password or any(ch in password for ch in '"\\\n\r '):
        raise ValueError("cache password must be non-empty, without quotes, spaces or newlines")
    return password


def redis_auth_conf(password: str) -> str:
    """The data nodes' ``auth.conf``: clients need the password, and so does a replica
    towards its primary (every node may be either after a failover)."""
    pw = _checked(password)
    return f'requirepass "{pw}"\nmasterauth "{pw}"\n'


def sentinel_auth_conf(password: str, master: str = MASTER_NAME) -> str:
    """The Sentinels' lines: clients (and the other Sentinels) need the password, and the
    Sentinels use it towards the data nodes."""
    pw = _checked(password)
    return f'requirepass "{pw}"\nsentinel auth-pass {master} "{pw}"\n'


def auth_secret_data(password: str) -> dict[str, str]:
    """Every key of ``promptsales-cache-auth``, from the one password."""
    return {
        PASSWORD_KEY: _checked(password),
        NODE_AUTH_KEY: redis_auth_conf(password),
        SENTINEL_AUTH_KEY: sentinel_auth_conf(password),
    }


def pod_host(statefulset_name: str, ordinal: int, namespace: str) -> str:
    """The stable DNS name of a StatefulSet's pod behind its same-named headless Service."""
    return f"{statefulset_name}-{ordinal}.{statefulset_name}.{namespace}.svc"


def sentinel_addresses(namespace: str) -> list[tuple[str, int]]:
    """Where the Sentinels listen: what the MCP server's Sentinel client is given."""
    return [(pod_host(CACHE_SENTINEL, n, namespace), SENTINEL_PORT) for n in range(SENTINELS)]


def sentinels_setting(namespace: str) -> str:
    """``PROMPTSALES_MCP_CACHE_SENTINELS`` of the MCP server (``host:port,...``)."""
    return ",".join(f"{host}:{port}" for host, port in sentinel_addresses(namespace))


def _environment(namespace: str, own_service: str, extra: dict[str, str]) -> list[Manifest]:
    sentinels = " ".join(f"{host}:{port}" for host, port in sentinel_addresses(namespace))
    values = {
        "CACHE_ANNOUNCE": f"$(CACHE_POD).{own_service}.{namespace}.svc",
        "CACHE_SEED": f"{pod_host(CACHE_STATEFULSET, 0, namespace)}:{CACHE_PORT}",
        "CACHE_SENTINELS": sentinels,
        "CACHE_MASTER": MASTER_NAME,
        "CACHE_WORK_DIR": WORK_DIR,
        "CACHE_SECRETS": SECRETS_MOUNT,
        "CACHE_TLS": TLS_MOUNT,
        **extra,
    }
    pod_name = {"name": "CACHE_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    return [pod_name, *({"name": key, "value": value} for key, value in values.items())]


def _spread(component: str) -> Manifest:
    """Prefer one pod per node: a node's loss then takes one primary or replica, not the
    set (preferred, so a small cluster still schedules them all)."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": selector_labels(component)},
                    },
                }
            ]
        }
    }


def _container(
    name: str,
    image: str,
    script_name: str,
    port: tuple[str, int],
    env: list[Manifest],
    memory: str,
    mounts: list[Manifest],
) -> Manifest:
    port_name, number = port
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"{CONFIG_MOUNT}/{script_name}"],
        "env": env,
        "ports": [{"name": port_name, "containerPort": number, "protocol": "TCP"}],
        "resources": container_resources("100m", memory, "1", memory),
        "securityContext": container_security_context(),
        "readinessProbe": tcp_probe(port_name, period=5),
        "livenessProbe": tcp_probe(port_name, period=20, failures=6),
        "volumeMounts": [
            mount("config", CONFIG_MOUNT),
            mount("tls", TLS_MOUNT),
            mount("work", WORK_DIR, read_only=False),
            *mounts,
        ],
    }


def _volumes(auth_items: dict[str, str], extra: list[Manifest]) -> list[Manifest]:
    return [
        {"name": "config", "configMap": {"name": CACHE_CONFIG}},
        secret_volume("auth", CACHE_AUTH_SECRET, auth_items),
        secret_volume("tls", CACHE_TLS_SECRET),
        {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        *extra,
    ]


def data_statefulset(namespace: str, memory_limit_mib: int, image: str = CACHE_IMAGE) -> Manifest:
    """The data nodes; ``spec.replicas`` is the operator's (absent here)."""
    memory = f"{memory_limit_mib}Mi"
    env = _environment(
        namespace,
        CACHE_STATEFULSET,
        {"CACHE_PORT": str(CACHE_PORT), "CACHE_CONFIG": f"{CONFIG_MOUNT}/redis.conf"},
    )
    container = _container(
        "redis",
        image,
        NODE_SCRIPT,
        ("redis", CACHE_PORT),
        env,
        memory,
        [mount("auth", SECRETS_MOUNT), mount("data", DATA_DIR, read_only=False)],
    )
    volumes = _volumes(
        {PASSWORD_KEY: PASSWORD_KEY, NODE_AUTH_KEY: NODE_AUTH_KEY},
        [{"name": "data", "emptyDir": {"sizeLimit": memory}}],
    )
    manifest = statefulset(
        CACHE_STATEFULSET, namespace, COMPONENT, labels(COMPONENT, "pulumi"), container, volumes
    )
    manifest["spec"]["template"]["spec"]["affinity"] = _spread(COMPONENT)
    return manifest


def sentinel_statefulset(namespace: str, image: str = CACHE_IMAGE) -> Manifest:
    """Three Sentinels; their count is fixed (a quorum), not scaled."""
    env = _environment(
        namespace,
        CACHE_SENTINEL,
        {
            "CACHE_SENTINEL_PORT": str(SENTINEL_PORT),
            "CACHE_QUORUM": str(QUORUM),
            "CACHE_DOWN_AFTER_MS": str(DOWN_AFTER_MS),
            "CACHE_FAILOVER_TIMEOUT_MS": str(FAILOVER_TIMEOUT_MS),
            "CACHE_CONFIG": f"{CONFIG_MOUNT}/sentinel.conf",
        },
    )
    container = _container(
        "sentinel",
        image,
        SENTINEL_SCRIPT,
        ("sentinel", SENTINEL_PORT),
        env,
        "64Mi",
        [mount("auth", SECRETS_MOUNT)],
    )
    volumes = _volumes({PASSWORD_KEY: PASSWORD_KEY, SENTINEL_AUTH_KEY: SENTINEL_AUTH_KEY}, [])
    manifest = statefulset(
        CACHE_SENTINEL,
        namespace,
        SENTINEL_COMPONENT,
        labels(SENTINEL_COMPONENT, "pulumi"),
        container,
        volumes,
        replicas=SENTINELS,
    )
    manifest["spec"]["template"]["spec"]["affinity"] = _spread(SENTINEL_COMPONENT)
    return manifest


def cache(
    namespace: str,
    memory_limit_mib: int = 512,
    image: str = CACHE_IMAGE,
    eviction_policy: str = EVICTION_POLICY,
) -> list[Manifest]:
    """The ConfigMap, and for the data nodes and the Sentinels each a ServiceAccount,
    headless Service, PodDisruptionBudget and StatefulSet."""
    data_meta = labels(COMPONENT, "pulumi")
    sentinel_meta = labels(SENTINEL_COMPONENT, "pulumi")
    files = {
        "redis.conf": redis_conf(memory_limit_mib, eviction_policy),
        "sentinel.conf": sentinel_conf(),
        NODE_SCRIPT: script(NODE_SCRIPT),
        SENTINEL_SCRIPT: script(SENTINEL_SCRIPT),
    }
    return [
        config_map(CACHE_CONFIG, namespace, data_meta, files),
        service_account(CACHE_STATEFULSET, namespace, data_meta),
        service(
            CACHE_STATEFULSET,
            namespace,
            COMPONENT,
            data_meta,
            [("redis", CACHE_PORT, "redis")],
            headless=True,
        ),
        # One data pod at a time: a drain never takes the primary and its last replica.
        disruption_budget(CACHE_STATEFULSET, namespace, COMPONENT, data_meta, maxUnavailable=1),
        data_statefulset(namespace, memory_limit_mib, image),
        service_account(CACHE_SENTINEL, namespace, sentinel_meta),
        service(
            CACHE_SENTINEL,
            namespace,
            SENTINEL_COMPONENT,
            sentinel_meta,
            [("sentinel", SENTINEL_PORT, "sentinel")],
            headless=True,
        ),
        # A quorum of Sentinels stays up, so a failover can still be agreed during a drain.
        disruption_budget(
            CACHE_SENTINEL, namespace, SENTINEL_COMPONENT, sentinel_meta, minAvailable=QUORUM
        ),
        sentinel_statefulset(namespace, image),
    ]


def redis_url(host: str, password: str) -> str:
    """``rediss://`` URL (TLS, verified against the CA file beside it in the Secret) that
    the MCP server reads from its credentials files. With Sentinels its host is not
    dialled: it carries the password and TLS options used towards the Sentinels and the
    data pods they report."""
    from urllib.parse import quote

    return (
        f"rediss://:{quote(password, safe='')}@{host}:{CACHE_PORT}/0"
        f"?ssl_cert_reqs=required&ssl_ca_certs={SECRETS_MOUNT}/ca.crt"
    )
