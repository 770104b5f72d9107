"""Day-2 observability as Prometheus Operator objects, and the Grafana dashboard as a ConfigMap.

Rendered only when the cluster runs the Prometheus Operator (``monitoring.enabled``): its
CRDs must exist before ``ServiceMonitor``, ``PodMonitor`` and ``PrometheusRule`` objects can
be applied.

What is scraped, and how:

- the operator: a ``PodMonitor`` on its probe port (``http``, ``/metrics``); it has no
  Service, and none is needed for one replica;
- the MCP server: a ``ServiceMonitor`` over HTTPS, verifying the server against the
  ``ca.crt`` the operator keeps current in the serving Secret ``promptsales-mcp-tls``;
- the warehouse (CloudNativePG only): a ``PodMonitor`` on every instance's exporter port
  (``metrics``), which also serves the ETL's run summary through our custom query
  (``workloads.warehouse_cluster``), so no Pushgateway is needed.

The alert rules refer only to metrics this code exports (operator, MCP server, the ETL
query) and to CloudNativePG's built-in exporter metrics listed in
:data:`CLOUDNATIVEPG_METRICS`; a test checks both against the live registries.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources as package_files
from typing import Any

from workloads import warehouse_cluster
from workloads.common import MCP_DEPLOYMENT, Manifest, labels, selector_labels
from workloads.pods import config_map

API_VERSION = "monitoring.coreos.com/v1"
DASHBOARD_FILE = "promptsales-dashboard.json"
DASHBOARD_CONFIGMAP = "promptsales-grafana-dashboard"
# The label Grafana's dashboard sidecar (kube-prometheus-stack's default) watches for.
DASHBOARD_LABEL = ("grafana_dashboard", "1")
MCP_TLS_SECRET = "promptsales-mcp-tls"  # noqa: S105 (a Secret's name; issued by the operator)
OPERATOR_METRICS_PORT = "http"
MCP_METRICS_PORT = "mcp"
WAREHOUSE_METRICS_PORT = "metrics"

# Metrics CloudNativePG's instance manager exports on its own (not defined in this
# repository); the alerts use these and nothing else of it.
CLOUDNATIVEPG_METRICS = frozenset({"cnpg_collector_up", "cnpg_pg_replication_lag"})


@dataclasses.dataclass(frozen=True, slots=True)
class Monitoring:
    """What the monitoring objects vary by."""

    namespace: str
    data_namespace: str
    warehouse_instances: int | None  # None: no CloudNativePG cluster to watch
    rule_labels: tuple[tuple[str, str], ...] = ()  # what the Prometheus' ruleSelector matches
    monitor_labels: tuple[
        tuple[str, str], ...
    ] = ()  # what its (pod|service)MonitorSelector matches
    etl_interval_minutes: int = 11
    mcp_p95_objective_seconds: float = 0.4
    certificate_alert_hours: int = 24
    scrape_interval: str = "30s"


def _meta(name: str, namespace: str, extra: tuple[tuple[str, str], ...]) -> Manifest:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**labels("monitoring", "pulumi"), **dict(extra)},
    }


def operator_pod_monitor(spec: Monitoring) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": "PodMonitor",
        "metadata": _meta("promptsales-operator", spec.namespace, spec.monitor_labels),
        "spec": {
            "selector": {"matchLabels": selector_labels("operator")},
            "podMetricsEndpoints": [
                {
                    "port": OPERATOR_METRICS_PORT,
                    "path": "/metrics",
                    "interval": spec.scrape_interval,
                }
            ],
        },
    }


def mcp_service_monitor(spec: Monitoring) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": _meta(MCP_DEPLOYMENT, spec.namespace, spec.monitor_labels),
        "spec": {
            "selector": {"matchLabels": selector_labels("mcp")},
            "endpoints": [
                {
                    "port": MCP_METRICS_PORT,
                    "path": "/metrics",
                    "scheme": "https",
                    "interval": spec.scrape_interval,
                    "tlsConfig": {
                        "ca": {"secret": {"name": MCP_TLS_SECRET, "key": "ca.crt"}},
                        "serverName": f"{MCP_DEPLOYMENT}.{spec.namespace}.svc",
                    },
                }
            ],
        },
    }


def warehouse_pod_monitor(spec: Monitoring) -> Manifest:
    """CloudNativePG deprecated its own ``enablePodMonitor`` in favour of this object."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PodMonitor",
        "metadata": _meta(warehouse_cluster.CLUSTER, spec.data_namespace, spec.monitor_labels),
        "spec": {
            "selector": {"matchLabels": {"cnpg.io/cluster": warehouse_cluster.CLUSTER}},
            "podMetricsEndpoints": [
                {"port": WAREHOUSE_METRICS_PORT, "interval": spec.scrape_interval}
            ],
        },
    }


def _alert(name: str, expr: str, duration: str, severity: str, summary: str) -> Manifest:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def platform_alerts(spec: Monitoring) -> list[Manifest]:
    """Alerts on what the operator and the MCP server export."""
    ns = spec.namespace
    objective = spec.mcp_p95_objective_seconds
    return [
        _alert(
            "PromptSalesCertificateExpiringSoon",
            "min by (secret) (promptsales_operator_certificate_expiry_seconds"
            f'{{namespace="{ns}"}}) < {spec.certificate_alert_hours * 3600}',
            "10m",
            "warning",
            "Certificate in Secret {{ $labels.secret }} expires in less than "
            f"{spec.certificate_alert_hours}h and was not renewed.",
        ),
        _alert(
            "PromptSalesCacheDown",
            f'sum(rate(promptsales_mcp_cache_errors_total{{namespace="{ns}"}}[5m])) > 0',
            "5m",
            "warning",
            "The MCP server cannot reach the Redis cache; answers are served uncached.",
        ),
        _alert(
            "PromptSalesMcpLatencyHigh",
            "histogram_quantile(0.95, sum by (le) (rate("
            f'promptsales_mcp_tool_latency_seconds_bucket{{namespace="{ns}"}}[5m]))) '
            f"> {objective}",
            "10m",
            "warning",
            f"MCP tool-call p95 latency is above its {objective}s objective.",
        ),
    ]


def warehouse_alerts(spec: Monitoring, instances: int) -> list[Manifest]:
    """Alerts on the warehouse cluster and on the ETL runs it records."""
    data = spec.data_namespace
    cluster = warehouse_cluster.CLUSTER
    selector = f'namespace="{data}", pod=~"{cluster}-[0-9]+"'
    failed = warehouse_cluster.etl_metric("last_run_failed")
    last_success = warehouse_cluster.etl_metric("last_success_timestamp_seconds")
    last_run = warehouse_cluster.etl_metric("last_run_timestamp_seconds")
    lag_limit = 2 * spec.etl_interval_minutes * 60
    return [
        _alert(
            "PromptSalesEtlRunFailed",
            f"max by (scope) ({failed}{{{selector}}}) > 0",
            "1m",
            "warning",
            "The latest ETL run of scope {{ $labels.scope }} failed "
            "(promptsales etl status shows the error).",
        ),
        _alert(
            "PromptSalesEtlLagging",
            # Scopes that ran in the last day: a deleted campaign's scope stops alerting.
            f"(time() - max by (scope) ({last_success}{{{selector}}}) > {lag_limit}) "
            f"and on (scope) (time() - max by (scope) ({last_run}{{{selector}}}) < 86400)",
            "5m",
            "warning",
            "No successful ETL run of scope {{ $labels.scope }} for more than two "
            f"intervals ({lag_limit // 60} minutes).",
        ),
        _alert(
            "PromptSalesWarehouseUnhealthy",
            f"(count(cnpg_collector_up{{{selector}}} == 1) or vector(0)) < {instances}",
            "5m",
            "critical",
            f"Fewer than {instances} warehouse instances are up and exporting.",
        ),
        _alert(
            "PromptSalesWarehouseReplicationLag",
            f"max(cnpg_pg_replication_lag{{{selector}}}) > 300",
            "5m",
            "warning",
            "A warehouse replica is more than 5 minutes behind the primary.",
        ),
    ]


def rule_groups(spec: Monitoring) -> list[Manifest]:
    """The groups of the ``PrometheusRule`` (also what ``promtool`` reads in tests)."""
    groups: list[Manifest] = [{"name": "promptsales.platform", "rules": platform_alerts(spec)}]
    if spec.warehouse_instances is not None:
        groups.append(
            {
                "name": "promptsales.warehouse",
                "rules": warehouse_alerts(spec, spec.warehouse_instances),
            }
        )
    return groups


def prometheus_rule(spec: Monitoring) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": _meta("promptsales", spec.namespace, spec.rule_labels),
        "spec": {"groups": rule_groups(spec)},
    }


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard shipped in this package (``promptsales-dashboard.json``)."""
    text = package_files.files("workloads").joinpath(DASHBOARD_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def dashboard_for(namespace: str, data_namespace: str) -> dict[str, Any]:
    """The dashboard with its two namespace constants set to this installation's."""
    document = dashboard()
    values = {"namespace": namespace, "data_namespace": data_namespace}
    for variable in document["templating"]["list"]:
        if variable["name"] in values:
            variable["query"] = values[variable["name"]]
    return document


def dashboard_config_map(namespace: str, data_namespace: str) -> Manifest:
    """The dashboard where Grafana's sidecar picks it up (any namespace it watches)."""
    return config_map(
        DASHBOARD_CONFIGMAP,
        namespace,
        {**labels("monitoring", "pulumi"), DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1]},
        {DASHBOARD_FILE: json.dumps(dashboard_for(namespace, data_namespace), indent=1)},
    )


def monitoring_manifests(spec: Monitoring) -> list[Manifest]:
    """Every monitoring object, scrape targets first."""
    result = [operator_pod_monitor(spec), mcp_service_monitor(spec)]
    if spec.warehouse_instances is not None:
        result.append(warehouse_pod_monitor(spec))
    result += [prometheus_rule(spec), dashboard_config_map(spec.namespace, spec.data_namespace)]
    return result
