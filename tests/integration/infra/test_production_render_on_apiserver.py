"""The production render on a real kube-apiserver with the third-party CRDs installed.

``tests/support/third_party_crds.py`` re-implements admission in Python; here the API
server itself judges: the shared CRDs (CloudNativePG, MongoDB, Prometheus Operator) are
installed, and ``promptsales render --tier production --monitoring`` is applied with a
server-side dry run and kubectl's strict field validation, in namespaces of its own that
are deleted afterwards. It runs where ``scripts/test.sh`` starts a control plane
(``PROMPTSALES_TEST_KUBECONFIG``), like the cluster suite, and does not touch that suite's
namespaces or its CRD.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support import cluster as kc
from tests.support import third_party_crds as admission
from workloads.render import PlatformSpec, platform_manifests, to_yaml

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        kc.configured() is None,
        reason=f"needs a real API server ({kc.KUBECONFIG_ENV}; scripts/test.sh starts one "
        "when the control-plane binaries are on the machine)",
    ),
]

VALUES: dict[str, Any] = {
    "tier": "production",
    "monitoring": {"enabled": True, "rule_labels": {"release": "kube-prometheus-stack"}},
    "postgres": {
        "cluster": {
            "backup": {
                "destination_path": "s3://promptsales-backups/warehouse",
                "credentials_secret": "warehouse-s3",
                "endpoint_url": "https://minio.example.com:9000",
            }
        }
    },
    "mongodb": {"members": 5, "search": {"enabled": True}},
}


@pytest.fixture(scope="module")
def cluster() -> kc.Cluster:
    """The API server with the shared CRDs installed (idempotent: several test processes
    may run this at once)."""
    kubeconfig = kc.configured()
    assert kubeconfig is not None
    connected = kc.Cluster.connect(kubeconfig)
    for path in sorted(admission.shared_crds_dir().glob("*/*.yaml")):
        connected.kubectl("apply", "--server-side", "-f", str(path))
    connected.kubectl("wait", "--for=condition=Established", "--timeout=60s", *_crd_names())
    return connected


@pytest.fixture
def spec(cluster: kc.Cluster) -> Iterator[PlatformSpec]:
    """The production platform in two namespaces of this test's own, deleted afterwards."""
    name = f"ps-tier-{uuid.uuid4().hex[:8]}"
    spec = PlatformSpec.model_validate(
        {**VALUES, "namespace": name, "data_namespace": f"{name}-data"}
    )
    namespaces = [m for m in platform_manifests(spec) if m["kind"] == "Namespace"]
    applied = cluster.server_side_apply(to_yaml(namespaces))
    assert applied.returncode == 0, applied.stderr
    try:
        yield spec
    finally:
        for namespace in (spec.namespace, spec.data_namespace):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _crd_names() -> list[str]:
    return [f"crd/{crd['metadata']['name']}" for crd in admission.load_crds().values()]


def _dry_run(cluster: kc.Cluster, manifests: list[dict[str, Any]]) -> tuple[int, str]:
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=to_yaml(manifests),
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def test_the_production_render_is_accepted_whole(cluster: kc.Cluster, spec: PlatformSpec) -> None:
    manifests = [
        m
        for m in platform_manifests(spec)
        if m["kind"] not in {"Namespace", "CustomResourceDefinition"}
    ]
    assert any(admission.is_third_party(m) for m in manifests)
    code, output = _dry_run(cluster, manifests)
    assert code == 0, output
    assert "Warning" not in output, output  # e.g. an unknown or duplicate field


def test_the_server_refuses_what_the_python_admission_refuses(
    cluster: kc.Cluster, spec: PlatformSpec
) -> None:
    """The two judges agree on a CEL violation (so the offline checks are not looser)."""
    warehouse = copy.deepcopy(next(m for m in platform_manifests(spec) if m["kind"] == "Cluster"))
    warehouse["spec"]["imageName"] = "ghcr.io/cloudnative-pg/postgresql:17.5"
    assert admission.admission_violations(warehouse) == []
    warehouse["spec"]["imageCatalogRef"] = {
        "apiGroup": "postgresql.cnpg.io",
        "kind": "ImageCatalog",
        "name": "catalog",
        "major": 17,
    }
    assert admission.admission_violations(warehouse)
    code, output = _dry_run(cluster, [warehouse])
    assert code != 0
    assert "mutually exclusive" in output


def test_an_unknown_field_is_refused_by_the_server_as_by_the_python_admission(
    cluster: kc.Cluster, spec: PlatformSpec
) -> None:
    monitor = copy.deepcopy(
        next(m for m in platform_manifests(spec) if m["kind"] == "ServiceMonitor")
    )
    monitor["spec"]["endpoints"][0]["tlsConfg"] = {}
    assert admission.admission_violations(monitor)
    code, output = _dry_run(cluster, [monitor])
    assert code != 0, yaml.safe_dump(monitor)
    assert "tlsConfg" in output
