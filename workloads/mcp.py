"""The MCP server: the ``promptsales-mcp`` Deployment (scaled by the operator) and Service.

Agents reach it over mutual TLS on port 8443: the serving certificate comes from
``promptsales-mcp-tls`` and client certificates are checked against the platform CA
bundle (``ca.crt`` of ``promptsales-ca`` only, never the CA key). Credentials (database
URLs, API keys) arrive as files from ``promptsales-mcp-credentials``, one file per
setting named like its ``PROMPTSALES_MCP_*`` variable. Probes are HTTPS on the same port:
the server requests client certificates without requiring them (bearer tokens are the
other way in), so the kubelet's certificate-less probe reaches ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

from collections.abc import Sequence

from workloads.common import (
    DEFAULT_IMAGE,
    MCP_DEPLOYMENT,
    Manifest,
    container_security_context,
    labels,
    resources,
)
from workloads.pods import (
    CA_MOUNT,
    PII_KEYRING_FILE_ENV,
    PII_MOUNT,
    SECRETS_MOUNT,
    TLS_MOUNT,
    TMP_DIR,
    ca_bundle_volume,
    deployment,
    disruption_budget,
    empty_dir,
    http_probe,
    mount,
    pii_keyring_volume,
    secret_volume,
    service,
    service_account,
)

COMPONENT = "mcp"
MCP_PORT = 8443
SERVICE_PORT = 443
MCP_PATH = "/mcp"
MCP_CREDENTIALS_SECRET = "promptsales-mcp-credentials"  # noqa: S105 (a Secret\'s name)
MCP_TLS_SECRET = "promptsales-mcp-tls"  # noqa: S105 (a Secret\'s name)
# The serving certificate in MCP_TLS_SECRET is the operator's to issue and renew; these
# are its defaults (the operator's settings and the platform configuration use them).
MCP_CERTIFICATE_VALIDITY_HOURS = 2160
MCP_CERTIFICATE_RENEW_BEFORE_HOURS = 720
MCP_COMMAND = ["promptsales", "mcp", "serve"]

# Files of promptsales-mcp-credentials; the MCP server's settings read them by these names.
MCP_MONGO_URI = "PROMPTSALES_MCP_MONGO_URI"
MCP_REDIS_URL = "PROMPTSALES_MCP_REDIS_URL"
MCP_WAREHOUSE_DSN = "PROMPTSALES_MCP_WAREHOUSE_DSN"
MCP_CREDENTIAL_KEYS = (MCP_MONGO_URI, MCP_REDIS_URL, MCP_WAREHOUSE_DSN)


def mcp_environment(namespace: str, cache_sentinels: str | None = None) -> list[Manifest]:
    """Non-secret settings: where the server finds its certificate, key and client CA, and
    the in-cluster cache's Sentinels (None: the Redis URL's server alone, a managed Redis)."""
    env: list[Manifest] = [
        {"name": "PROMPTSALES_MCP_PUBLIC_URL", "value": mcp_public_url(namespace)},
        {"name": "PROMPTSALES_SECRETS_DIR", "value": SECRETS_MOUNT},
        {"name": "PROMPTSALES_MCP_HOST", "value": "0.0.0.0"},  # noqa: S104 - pod network
        {"name": "PROMPTSALES_MCP_PORT", "value": str(MCP_PORT)},
        {"name": "PROMPTSALES_MCP_TLS_CERT_FILE", "value": f"{TLS_MOUNT}/tls.crt"},
        {"name": "PROMPTSALES_MCP_TLS_KEY_FILE", "value": f"{TLS_MOUNT}/tls.key"},
        {"name": "PROMPTSALES_MCP_TLS_CLIENT_CA_FILE", "value": f"{CA_MOUNT}/ca.crt"},
        PII_KEYRING_FILE_ENV,
    ]
    if cache_sentinels is not None:
        env.append({"name": "PROMPTSALES_MCP_CACHE_SENTINELS", "value": cache_sentinels})
    return env


def mcp_server(
    namespace: str,
    image: str = DEFAULT_IMAGE,
    cpu: tuple[str, str] = ("250m", "1"),
    memory: tuple[str, str] = ("512Mi", "1Gi"),
    service_type: str = "ClusterIP",
    source_ranges: Sequence[str] = (),
    cache_sentinels: str | None = None,
    vector_backend: str | None = None,
) -> list[Manifest]:
    """ServiceAccount, Service, PDB and Deployment of the MCP server.

    ``cache_sentinels`` (``host:port,...``) points the server's cache at the in-cluster
    Sentinels; the Redis URL in its credentials then carries only password and TLS options.

    With ``service_type="LoadBalancer"`` the Service is reachable from outside, limited to
    ``source_ranges``, with ``externalTrafficPolicy: Local`` so agents' source addresses
    survive to the pod and the NetworkPolicy's ipBlocks can match them.
    """
    meta = labels(COMPONENT, "pulumi")
    svc = service(MCP_DEPLOYMENT, namespace, COMPONENT, meta, [("mcp", SERVICE_PORT, "mcp")])
    if service_type == "LoadBalancer":
        svc["spec"]["type"] = "LoadBalancer"
        svc["spec"]["externalTrafficPolicy"] = "Local"
        svc["spec"]["loadBalancerSourceRanges"] = list(source_ranges)
    elif service_type != "ClusterIP":
        raise ValueError("service_type must be ClusterIP or LoadBalancer")
    container: Manifest = {
        "name": "mcp",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": MCP_COMMAND,
        "env": mcp_environment(namespace, cache_sentinels)
        + (
            [{"name": "PROMPTSALES_MCP_VECTOR_BACKEND", "value": vector_backend}]
            if vector_backend
            else []
        ),
        "ports": [
            {"name": "mcp", "containerPort": MCP_PORT, "protocol": "TCP"},
        ],
        "resources": resources(cpu[0], memory[0], cpu[1], memory[1]),
        "securityContext": container_security_context(),
        "startupProbe": http_probe("/healthz", "mcp", period=5, failures=60, scheme="HTTPS"),
        "readinessProbe": http_probe("/readyz", "mcp", period=5, scheme="HTTPS"),
        "livenessProbe": http_probe("/healthz", "mcp", period=20, failures=6, scheme="HTTPS"),
        "volumeMounts": [
            mount("credentials", SECRETS_MOUNT),
            mount("tls", TLS_MOUNT),
            mount("ca-bundle", CA_MOUNT),
            mount("pii-keyring", PII_MOUNT),
            mount("tmp", TMP_DIR, read_only=False),
        ],
    }
    volumes = [
        secret_volume("credentials", MCP_CREDENTIALS_SECRET),
        secret_volume("tls", MCP_TLS_SECRET, {"tls.crt": "tls.crt", "tls.key": "tls.key"}),
        ca_bundle_volume(),
        pii_keyring_volume(),
        empty_dir("tmp", "256Mi"),
    ]
    return [
        service_account(MCP_DEPLOYMENT, namespace, meta),
        svc,
        disruption_budget(MCP_DEPLOYMENT, namespace, COMPONENT, meta, maxUnavailable=1),
        deployment(MCP_DEPLOYMENT, namespace, COMPONENT, meta, container, volumes),
    ]


def mcp_public_url(namespace: str) -> str:
    """The server's own base URL (OAuth resource identifier), via the Service on 443."""
    return f"https://{MCP_DEPLOYMENT}.{namespace}.svc"


def mcp_endpoint(namespace: str, external_hostname: str | None = None) -> str:
    """The URL agents use: the external name when one is configured, else in-cluster."""
    if external_hostname:
        return f"https://{external_hostname}{MCP_PATH}"
    return f"{mcp_public_url(namespace)}{MCP_PATH}"
