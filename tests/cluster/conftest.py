"""The real-cluster suite: the platform on a real kube-apiserver and controller-manager.

It runs when ``PROMPTSALES_TEST_KUBECONFIG`` names an admin kubeconfig (``scripts/test.sh``
starts a control plane with ``scripts/kube-control-plane.sh`` when the binaries are on
this machine and says so in one line); without it nothing here is collected, and the
emulator-based suite is what runs. All of it runs in one process (``-n 0``), in file order,
against one installation (a module-scoped fixture), as a platform engineer's session
would: install, use, break things, watch the operator put them back.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

import certs
from tests.support import cluster as kc
from tests.support import third_party_crds as admission
from workloads.crd import CRD_FILE
from workloads.render import PlatformSpec, platform_manifests, to_yaml

if kc.configured() is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test here reports the operator's last log lines and each campaign's phase:
    a CI run keeps nothing else, and a timeout alone does not say where the operator was."""
    report = yield
    if report.when != "call" or not report.failed:
        return report
    operator = getattr(item, "funcargs", {}).get("operator")
    if isinstance(operator, kc.OperatorProcess):
        tail = operator.log().splitlines()[-80:]
        report.sections.append(("operator log (last 80 lines)", "\n".join(tail)))
    installed = getattr(item, "funcargs", {}).get("installed")
    if isinstance(installed, kc.Cluster):
        phases: dict[str, int] = {}
        for obj in installed.campaigns():
            status = obj.get("status") or {}
            key = f"{status.get('phase', 'no status')} ready={kc.is_ready(obj)}"
            phases[key] = phases.get(key, 0) + 1
        report.sections.append(("campaigns by phase", repr(phases)))
    return report


def render_text() -> str:
    return to_yaml(platform_manifests(PlatformSpec()))


def ca_secret_manifest(ca: certs.CertificateAuthority) -> dict[str, object]:
    data = certs.tls_secret_data(ca, certs.trust_bundle(ca))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "promptsales-ca", "namespace": kc.NS},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@pytest.fixture(scope="session")
def cluster() -> kc.Cluster:
    path = kc.configured()
    assert path is not None
    return kc.Cluster.connect(path)


@pytest.fixture(scope="session")
def audit() -> kc.AuditLog:
    path = os.environ.get(kc.AUDIT_LOG_ENV)
    assert path, f"{kc.AUDIT_LOG_ENV} must name the API server's audit log"
    return kc.AuditLog(Path(path))


@pytest.fixture(scope="module")
def installed(cluster: kc.Cluster) -> kc.Cluster:
    """As the README's install path: the database operators' CRDs (what their charts
    install; here the copies in tests/data, as no operator pod can run without a kubelet),
    the CRD from crds/ (server-side apply), then `promptsales render` in its default,
    production tier (server-side apply, strict field validation), then the CA Secret."""
    with kc.fresh_namespaces(cluster):
        pass
    for path in sorted(admission.shared_crds_dir().glob("*/*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    names = [f"crd/{crd['metadata']['name']}" for crd in admission.load_crds().values()]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    crd = cluster.server_side_apply(CRD_FILE.read_text())
    assert crd.returncode == 0, crd.stderr
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/promptsalescampaigns.promptsales.io",
    )
    rendered = cluster.server_side_apply(render_text())
    assert rendered.returncode == 0, rendered.stderr
    ca = certs.create_root_ca("PromptSales Cluster Suite CA", validity=dt.timedelta(days=365))
    cluster.core.create_namespaced_secret(kc.NS, ca_secret_manifest(ca))  # type: ignore[arg-type]
    return cluster


@pytest.fixture(scope="module")
def operator(
    installed: kc.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[kc.OperatorProcess]:
    """The operator as its own ServiceAccount (the rendered Role is all it may do)."""
    home = tmp_path_factory.mktemp("operator")
    kubeconfig = installed.service_account_kubeconfig(home / "operator.kubeconfig")
    process = kc.OperatorProcess(
        kubeconfig,
        home / "operator.log",
        {"PROMPTSALES_OPERATOR_NAMESPACE": kc.NS, "PROMPTSALES_OPERATOR_PROBE_PORT": "0"},
    )
    process.start()
    yield process
    process.stop()
