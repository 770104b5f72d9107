"""Alert rules and the dashboard: parsed and evaluated by Prometheus' own ``promtool``, and
reading only metrics this code exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from mcp_server.metrics import Metrics
from promptsales_operator.metrics import OperatorMetrics
from tests.support.promql import metric_names, run_promtool, write_rules
from workloads import monitoring, warehouse_cluster
from workloads.render import PlatformSpec, monitoring_spec

P, D = "promptsales", "promptsales-data"
SPEC = monitoring_spec(PlatformSpec(tier="production", monitoring={"enabled": True}))


def _exported(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
        else:
            names.add(family.name)
    return names


def exported_metrics() -> set[str]:
    """What the operator and the MCP server register, and the ETL query's columns."""
    names = _exported(Metrics().registry) | _exported(OperatorMetrics().registry)
    return names | {warehouse_cluster.etl_metric(c) for c in warehouse_cluster.ETL_METRIC_COLUMNS}


def dashboard_expressions() -> list[str]:
    document = monitoring.dashboard_for(P, D)
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def grafana_substitute(expr: str) -> str:
    return expr.replace("$data_namespace", D).replace("$namespace", P)


def all_alerts() -> list[dict[str, Any]]:
    return [rule for group in monitoring.rule_groups(SPEC) for rule in group["rules"]]


# --- names ---


def test_metric_name_extraction_sees_through_functions_matchers_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, tool) (rate(a_bucket{x="y", le=~"1"}[5m]))) '
        "/ on (tool) group_left b_total and c offset 5m > bool 3"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def test_the_dashboard_reads_only_metrics_the_code_exports() -> None:
    exported = exported_metrics()
    read = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert read
    assert read <= exported, read - exported


def test_the_dashboard_covers_each_component() -> None:
    read = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert any(name.startswith("promptsales_mcp_") for name in read)
    assert any(name.startswith("promptsales_operator_") for name in read)
    assert any(name.startswith("cnpg_promptsales_etl_") for name in read)


def test_alerts_read_only_exported_metrics_and_named_cloudnativepg_ones() -> None:
    allowed = exported_metrics() | monitoring.CLOUDNATIVEPG_METRICS
    for rule in all_alerts():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= allowed, (rule["alert"], names - allowed)


def test_the_issue_s_alerts_are_all_there() -> None:
    assert {rule["alert"] for rule in all_alerts()} == {
        "PromptSalesEtlRunFailed",
        "PromptSalesEtlLagging",
        "PromptSalesCertificateExpiringSoon",
        "PromptSalesCacheDown",
        "PromptSalesMcpLatencyHigh",
        "PromptSalesWarehouseUnhealthy",
        "PromptSalesWarehouseReplicationLag",
    }


def test_without_a_cloudnativepg_cluster_no_warehouse_alerts_are_rendered() -> None:
    spec = monitoring_spec(PlatformSpec(tier="single", monitoring={"enabled": True}))
    names = {rule["alert"] for group in monitoring.rule_groups(spec) for rule in group["rules"]}
    assert not any("Etl" in name or "Warehouse" in name for name in names)


# --- promtool ---


def test_promtool_accepts_the_rules_and_the_dashboard_queries(tmp_path: Path) -> None:
    write_rules(tmp_path / "alerts.yaml", monitoring.rule_groups(SPEC))
    recordings = [
        {"record": f"promptsales:dashboard_{i}", "expr": grafana_substitute(expr)}
        for i, expr in enumerate(dashboard_expressions())
    ]
    write_rules(tmp_path / "dashboard.yaml", [{"name": "dashboard", "rules": recordings}])
    result = run_promtool("check", "rules", "alerts.yaml", "dashboard.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The check above can fail: a mangled rule is refused."""
    broken = [{"name": "g", "rules": [{"alert": "A", "expr": "sum by (le (rate(x[5m]))"}]}]
    write_rules(tmp_path / "broken.yaml", broken)
    result = run_promtool("check", "rules", "broken.yaml", cwd=tmp_path)
    assert result.returncode != 0


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    rendered = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{name}{{{rendered}}}", "values": values}


def _alert(name: str, at: str, expected: list[dict[str, str]]) -> dict[str, Any]:
    rule = next(r for r in all_alerts() if r["alert"] == name)
    alerts = []
    for labels in expected:
        summary = rule["annotations"]["summary"]
        for key, value in labels.items():
            summary = summary.replace(f"{{{{ $labels.{key} }}}}", value)
        alerts.append(
            {
                "exp_labels": {**rule["labels"], **labels},
                "exp_annotations": {"summary": summary},
            }
        )
    return {"eval_time": at, "alertname": name, "exp_alerts": alerts}


WAREHOUSE = {"namespace": D}
ETL_FAILED = warehouse_cluster.etl_metric("last_run_failed")
ETL_SUCCESS = warehouse_cluster.etl_metric("last_success_timestamp_seconds")
ETL_RUN = warehouse_cluster.etl_metric("last_run_timestamp_seconds")


def _pod(i: int) -> dict[str, str]:
    return {**WAREHOUSE, "pod": f"promptsales-warehouse-{i}"}


UNIT_TESTS: list[dict[str, Any]] = [
    {
        "name": "ETL: a failed latest run alerts for its scope only",
        "interval": "1m",
        "input_series": [
            _series(ETL_FAILED, "1x10", scope="campaign-7", **_pod(1)),
            _series(ETL_FAILED, "0x10", scope="campaign-8", **_pod(1)),
        ],
        "alert_rule_test": [
            _alert("PromptSalesEtlRunFailed", "5m", [{"scope": "campaign-7"}]),
        ],
    },
    {
        # promtool's clock starts at 0: a scope running every minute (last run = now) whose
        # last success stays at 0 lags from minute 22 (two 11-minute intervals).
        "name": "ETL: no success for two intervals alerts; a current scope does not",
        "interval": "1m",
        "input_series": [
            _series(ETL_SUCCESS, "0x40", scope="campaign-7", **_pod(1)),
            _series(ETL_RUN, "0+60x40", scope="campaign-7", **_pod(1)),
            _series(ETL_SUCCESS, "0+60x40", scope="campaign-8", **_pod(1)),
            _series(ETL_RUN, "0+60x40", scope="campaign-8", **_pod(1)),
        ],
        "alert_rule_test": [
            _alert("PromptSalesEtlLagging", "20m", []),
            _alert("PromptSalesEtlLagging", "30m", [{"scope": "campaign-7"}]),
        ],
    },
    {
        "name": "Warehouse: fewer instances up than configured",
        "interval": "1m",
        "input_series": [
            _series("cnpg_collector_up", "1x20", **_pod(1)),
            _series("cnpg_collector_up", "1x20", **_pod(2)),
            _series("cnpg_collector_up", "1x5 0x15", **_pod(3)),
        ],
        "alert_rule_test": [
            _alert("PromptSalesWarehouseUnhealthy", "4m", []),
            _alert("PromptSalesWarehouseUnhealthy", "15m", [{}]),
        ],
    },
    {
        "name": "Warehouse: a replica minutes behind",
        "interval": "1m",
        "input_series": [
            _series("cnpg_pg_replication_lag", "0x20", **_pod(1)),
            _series("cnpg_pg_replication_lag", "600x20", **_pod(2)),
        ],
        "alert_rule_test": [_alert("PromptSalesWarehouseReplicationLag", "10m", [{}])],
    },
    {
        "name": "Cache: errors for five minutes",
        "interval": "1m",
        "input_series": [
            _series("promptsales_mcp_cache_errors_total", "0+10x20", namespace=P, pod="mcp-1"),
        ],
        "alert_rule_test": [_alert("PromptSalesCacheDown", "15m", [{}])],
    },
    {
        "name": "Cache: healthy",
        "interval": "1m",
        "input_series": [
            _series("promptsales_mcp_cache_errors_total", "5x20", namespace=P, pod="mcp-1"),
        ],
        "alert_rule_test": [_alert("PromptSalesCacheDown", "15m", [])],
    },
    {
        "name": "MCP: p95 over the objective for ten minutes",
        "interval": "1m",
        "input_series": [
            _series("promptsales_mcp_tool_latency_seconds_bucket", "0x30", le="0.25", namespace=P),
            _series(
                "promptsales_mcp_tool_latency_seconds_bucket", "0+100x30", le="0.5", namespace=P
            ),
            _series(
                "promptsales_mcp_tool_latency_seconds_bucket", "0+100x30", le="+Inf", namespace=P
            ),
        ],
        "alert_rule_test": [_alert("PromptSalesMcpLatencyHigh", "25m", [{}])],
    },
    {
        "name": "MCP: p95 within the objective",
        "interval": "1m",
        "input_series": [
            _series(
                "promptsales_mcp_tool_latency_seconds_bucket", "0+100x30", le="0.1", namespace=P
            ),
            _series(
                "promptsales_mcp_tool_latency_seconds_bucket", "0+100x30", le="+Inf", namespace=P
            ),
        ],
        "alert_rule_test": [_alert("PromptSalesMcpLatencyHigh", "25m", [])],
    },
    {
        "name": "Certificates: one an hour from expiry alerts, one a month away does not",
        "interval": "1m",
        "input_series": [
            _series(
                "promptsales_operator_certificate_expiry_seconds",
                "3600x20",
                namespace=P,
                secret="summer-client-tls",
            ),
            _series(
                "promptsales_operator_certificate_expiry_seconds",
                "2592000x20",
                namespace=P,
                secret="promptsales-mcp-tls",
            ),
        ],
        "alert_rule_test": [
            _alert("PromptSalesCertificateExpiringSoon", "15m", [{"secret": "summer-client-tls"}])
        ],
    },
]


def _promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> tuple[int, str]:
    write_rules(tmp_path / "alerts.yaml", monitoring.rule_groups(SPEC))
    document = {"rule_files": ["alerts.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = run_promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


def test_promtool_unit_tests_of_every_alert(tmp_path: Path) -> None:
    code, output = _promtool_test(tmp_path, UNIT_TESTS)
    assert code == 0, output


@pytest.mark.parametrize("case", [0, 2, 4], ids=["etl-failed", "warehouse-down", "cache-down"])
def test_promtool_unit_tests_fail_when_an_alert_is_expected_but_silent(
    tmp_path: Path, case: int
) -> None:
    """The evaluation bites: claiming the healthy opposite of a firing case fails."""
    test = dict(UNIT_TESTS[case])
    test["alert_rule_test"] = [
        {**check, "exp_alerts": []} for check in test["alert_rule_test"] if check["exp_alerts"]
    ]
    code, _ = _promtool_test(tmp_path, [test])
    assert code != 0
