"""checkov's Kubernetes checks over the rendered platform, with a justified skip list.

checkov runs offline (``--skip-download``) from its own virtualenv (see checkov_env.py).
A failure is accepted only if it is in :data:`JUSTIFIED` for that resource.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.infra.checkov_env import checkov_executable
from workloads.etl_cronjob import EtlCronJobSpec, build_etl_cronjob
from workloads.render import PlatformSpec, platform_manifests, to_yaml

pytestmark = [pytest.mark.xdist_group("checkov"), pytest.mark.timeout(1500)]

ANY = "*"
# check id -> (resources it may fail on, why that is acceptable)
JUSTIFIED: dict[str, tuple[frozenset[str] | str, str]] = {
    "CKV_K8S_15": (
        ANY,
        "imagePullPolicy IfNotPresent with pinned version tags (or digests from config): "
        "Always would make every database restart depend on the registry being up.",
    ),
    "CKV_K8S_43": (
        ANY,
        "defaults pin version tags because upstream digests cannot be resolved offline here; "
        "promptsales:platform accepts repo@sha256 digests and infra/README.md says to use them.",
    ),
    "CKV_K8S_38": (
        frozenset({"Deployment.promptsales.promptsales-operator"}),
        "the operator is the one workload that talks to the API server, so it needs its token; "
        "every other pod sets automountServiceAccountToken: false.",
    ),
}


def _scan(tmp_path: Path, manifests: list[dict[str, Any]]) -> dict[str, Any]:
    target = tmp_path / "platform.yaml"
    target.write_text(to_yaml(manifests), encoding="utf-8")
    completed = subprocess.run(
        [
            str(checkov_executable()),
            "--file",
            str(target),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode in {0, 1}, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    result: dict[str, Any] = report[0] if isinstance(report, list) else report
    return result


def _unjustified(report: dict[str, Any]) -> list[str]:
    problems = []
    for failed in report["results"]["failed_checks"]:
        check, resource = failed["check_id"], failed["resource"]
        allowed = JUSTIFIED.get(check)
        if allowed is None or (allowed[0] != ANY and resource not in allowed[0]):
            problems.append(f"{check} {failed['check_name']} on {resource}")
    return sorted(set(problems))


@pytest.fixture(scope="module")
def platform_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cronjob = build_etl_cronjob(
        EtlCronJobSpec(
            campaign_name="spring-sale",
            campaign_uid="0b7f9f5e-1d1e-4a57-9a0b-7b1f7e4e2c11",
            campaign_id="C-42",
            namespace="promptsales",
        )
    )
    manifests = [*platform_manifests(PlatformSpec()), cronjob]
    return _scan(tmp_path_factory.mktemp("checkov"), manifests)


def test_rendered_platform_passes_checkov_except_justified_checks(
    platform_report: dict[str, Any],
) -> None:
    summary = platform_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 40
    assert summary["passed"] > 500
    assert _unjustified(platform_report) == []


def test_exposed_platform_with_an_external_database_passes_too(tmp_path: Path) -> None:
    spec = PlatformSpec.model_validate(
        {
            "mcp": {"service_type": "LoadBalancer", "external_hostnames": ["mcp.example.com"]},
            "network": {"agent_cidrs": ["203.0.113.0/24"]},
            "postgres": {"external_secret": "managed-pg", "external_cidrs": ["10.20.0.0/16"]},
        }
    )
    report = _scan(tmp_path, platform_manifests(spec))
    assert report["summary"]["parsing_errors"] == 0
    assert _unjustified(report) == []


def test_checkov_sees_a_real_violation(tmp_path: Path) -> None:
    """The scan is live: a privileged container fails a check outside the skip list."""
    manifests = platform_manifests(PlatformSpec())
    mcp = next(
        m
        for m in manifests
        if m["metadata"]["name"] == "promptsales-mcp" and m["kind"] == "Deployment"
    )
    mcp["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    problems = _unjustified(_scan(tmp_path, manifests))
    assert any(p.startswith("CKV_K8S_16 ") for p in problems), problems
