"""Credentials reach pods as mounted files, never as environment variables or manifest text.

Environment variables leak into ``kubectl describe``, crash dumps and child processes;
a Secret volume does not. This checks what ``promptsales render`` emits (everything Pulumi
applies) and the per-campaign ETL CronJob the operator creates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.services import free_port
from promptsales.logs import redact_text
from tests.integration.secrets_hygiene.secrets import (
    STATIC_SECRETS,
    leaks,
    run_cli,
    secret_environment,
)
from workloads import etl_cronjob

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    kind, spec = manifest.get("kind"), manifest.get("spec") or {}
    if kind in POD_KINDS:
        return dict(spec["template"]["spec"])
    if kind == "CronJob":
        return dict(spec["jobTemplate"]["spec"]["template"]["spec"])
    return None


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _problems(manifest: dict[str, Any]) -> list[str]:
    pod = _pod_spec(manifest)
    if pod is None:
        return []
    where = f"{manifest['kind']}/{manifest['metadata']['name']}"
    secret_volumes = {
        v["name"]
        for v in pod.get("volumes") or []
        if "secret" in v
        or any("secret" in s for s in (v.get("projected") or {}).get("sources", []))
    }
    found = []
    for container in _containers(pod):
        at = f"{where} container {container['name']}"
        for env in container.get("env") or []:
            if "secretKeyRef" in (env.get("valueFrom") or {}):
                found.append(f"{at}: env {env['name']} comes from a Secret")
            value = str(env.get("value", ""))
            if redact_text(value) != value:
                found.append(f"{at}: env {env['name']} holds a credential literally")
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                found.append(f"{at}: envFrom a Secret")
        for mount in container.get("volumeMounts") or []:
            if mount["name"] in secret_volumes and not mount.get("readOnly"):
                found.append(f"{at}: Secret volume {mount['name']} is mounted writable")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, Any]]]:
    workdir: Path = tmp_path_factory.mktemp("render")
    run = run_cli("render", env=secret_environment(free_port(), workdir), cwd=workdir)
    run.assert_registered()
    assert run.returncode == 0, run.output
    documents = [d for d in yaml.safe_load_all(run.stdout) if d]
    return run.output, documents


def test_rendered_output_holds_no_secret(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    text, documents = rendered
    assert not leaks(text, STATIC_SECRETS)
    assert "PRIVATE KEY" not in text
    assert not [d for d in documents if d.get("kind") == "Secret"]


def test_rendered_workloads_take_credentials_as_files(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, documents = rendered
    pods = [d for d in documents if _pod_spec(d) is not None]
    assert len(pods) >= 3, "the platform renders several workloads"
    problems = [p for d in documents for p in _problems(d)]
    assert not problems, "\n".join(problems)


def test_campaign_etl_cronjob_takes_credentials_as_files() -> None:
    manifest = etl_cronjob.build_etl_cronjob(
        etl_cronjob.EtlCronJobSpec(
            campaign_name="spring-launch",
            campaign_uid="0b4f3c9e-1111-4c3a-9d7e-0a1b2c3d4e5f",
            campaign_id="42",
            namespace="promptsales",
        )
    )
    assert _pod_spec(manifest) is not None
    assert not _problems(manifest)


def test_the_check_catches_an_environment_credential() -> None:
    """The rule itself can fail: a Secret-sourced env var and a DSN literal are reported."""
    manifest = {
        "kind": "Deployment",
        "metadata": {"name": "bad"},
        "spec": {"template": {"spec": {"containers": [{
            "name": "app",
            "env": [
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "DSN", "value": "postgresql://u:hunter2@db/x"},
            ],
        }]}}},
    }  # fmt: skip
    assert len(_problems(manifest)) == 2
