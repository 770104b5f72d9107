"""The MCP response cache: the ``promptsales-cache`` Redis Deployment the operator scales.

A Deployment, not a StatefulSet: cached answers can always be recomputed, so there is no
volume to keep, and the operator adds replicas with campaign demand. Each replica is an
independent LRU cache behind one Service (a miss on one replica costs a recomputation,
never a wrong answer). Memory is bounded twice: ``maxmemory`` with ``allkeys-lru``
evicts before the container limit is reached, so Redis never gets OOM-killed.
"""

from __future__ import annotations

from workloads.common import (
    CACHE_DEPLOYMENT,
    Manifest,
    container_security_context,
    labels,
    resources,
)
from workloads.pods import (
    SECRETS_MOUNT,
    TLS_MOUNT,
    config_map,
    deployment,
    disruption_budget,
    empty_dir,
    mount,
    secret_volume,
    service,
    service_account,
    tcp_probe,
)

CACHE_PORT = 6379
CACHE_IMAGE = "docker.io/library/redis:7.4.2"
CACHE_AUTH_SECRET = f"{CACHE_DEPLOYMENT}-auth"
CACHE_TLS_SECRET = f"{CACHE_DEPLOYMENT}-tls"
COMPONENT = "cache"
EVICTION_POLICY = "allkeys-lru"


def maxmemory_bytes(memory_limit_mib: int, headroom: float = 0.75) -> int:
    """Redis data budget as a share of the container limit (the rest covers buffers,
    fragmentation and TLS connections)."""
    if memory_limit_mib <= 0:
        raise ValueError("memory_limit_mib must be positive")
    return int(memory_limit_mib * 1024 * 1024 * headroom)


def redis_conf(memory_limit_mib: int, eviction_policy: str = EVICTION_POLICY) -> str:
    """TLS-only listener, no persistence, bounded memory; the password comes from an
    ``include`` of the mounted Secret file so it is not in this ConfigMap."""
    return (
        "port 0\n"
        f"tls-port {CACHE_PORT}\n"
        f"tls-cert-file {TLS_MOUNT}/tls.crt\n"
        f"tls-key-file {TLS_MOUNT}/tls.key\n"
        f"tls-ca-cert-file {TLS_MOUNT}/ca.crt\n"
        "tls-auth-clients no\n"
        'save ""\n'
        "appendonly no\n"
        "dir /data\n"
        f"maxmemory {maxmemory_bytes(memory_limit_mib)}\n"
        f"maxmemory-policy {eviction_policy}\n"
        'rename-command CONFIG ""\n'
        f"include {SECRETS_MOUNT}/auth.conf\n"
    )


def cache(
    namespace: str,
    memory_limit_mib: int = 512,
    image: str = CACHE_IMAGE,
    eviction_policy: str = EVICTION_POLICY,
) -> list[Manifest]:
    """ConfigMap, ServiceAccount, Service, PDB and the Deployment of the cache."""
    meta = labels(COMPONENT, "pulumi")
    memory = f"{memory_limit_mib}Mi"
    container: Manifest = {
        "name": "redis",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["/etc/promptsales/redis/redis.conf"],
        "ports": [{"name": "redis", "containerPort": CACHE_PORT, "protocol": "TCP"}],
        "resources": resources("100m", memory, "1", memory),
        "securityContext": container_security_context(),
        "readinessProbe": tcp_probe("redis", period=5),
        "livenessProbe": tcp_probe("redis", period=20, failures=6),
        "volumeMounts": [
            mount("config", "/etc/promptsales/redis"),
            mount("auth", SECRETS_MOUNT),
            mount("tls", TLS_MOUNT),
            mount("data", "/data", read_only=False),
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": f"{CACHE_DEPLOYMENT}-config"}},
        secret_volume("auth", CACHE_AUTH_SECRET, {"auth.conf": "auth.conf"}),
        secret_volume("tls", CACHE_TLS_SECRET),
        empty_dir("data"),
    ]
    return [
        config_map(
            f"{CACHE_DEPLOYMENT}-config",
            namespace,
            meta,
            {"redis.conf": redis_conf(memory_limit_mib, eviction_policy)},
        ),
        service_account(CACHE_DEPLOYMENT, namespace, meta),
        service(CACHE_DEPLOYMENT, namespace, COMPONENT, meta, [("redis", CACHE_PORT, "redis")]),
        disruption_budget(CACHE_DEPLOYMENT, namespace, COMPONENT, meta, maxUnavailable=1),
        deployment(CACHE_DEPLOYMENT, namespace, COMPONENT, meta, container, volumes),
    ]


def redis_auth_conf(password: str) -> str:
    """Content of the ``auth.conf`` Secret key that ``redis.conf`` includes."""
    if any(ch in password for ch in '"\n\r'):
        raise ValueError("cache password must not contain quotes or newlines")
    return f'requirepass "{password}"\n'


def redis_url(host: str, password: str) -> str:
    """``rediss://`` URL (TLS, verified against the CA file beside it in the Secret) that
    the MCP server reads from its credentials files."""
    from urllib.parse import quote

    return (
        f"rediss://:{quote(password, safe='')}@{host}:{CACHE_PORT}/0"
        f"?ssl_cert_reqs=required&ssl_ca_certs={SECRETS_MOUNT}/ca.crt"
    )
