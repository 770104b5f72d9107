"""``promptsales up --kubeconfig``'s cluster step against the Kubernetes API emulator over HTTP.

The emulator serves CRDs (installing the CRD through the API registers the kind with
its schema and CEL admission); the operator runs as the real subprocess ``up`` starts.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

import certs
from harness.services import free_port
from promptsales_cli.local import cluster as cl
from promptsales_cli.local.down import down
from promptsales_cli.local.pki import LocalPki, ensure_pki
from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.settings import LocalSettings
from promptsales_cli.main import app
from promptsales_operator.campaign import WindowState, parse_campaign
from promptsales_operator.settings import OperatorSettings
from tests.support import crd
from tests.support.kube import KubeApi, running_kube_api, write_kubeconfig
from workloads.capacity import SCALED_WORKLOADS, CampaignDemand, plan_capacity
from workloads.common import CACHE_STATEFULSET, MCP_DEPLOYMENT
from workloads.names import certificate_secret_name, etl_cronjob_name

NS = "promptsales"
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
CAMPAIGNS = "promptsales.io/v1alpha1/promptsalescampaigns"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[KubeApi]:
    async with running_kube_api(tmp_path) as running:
        running.emulator.serve_crds(lambda c: functools.partial(crd.admit, crd=c))
        yield running


@pytest_asyncio.fixture
async def home(tmp_path: Path) -> AsyncIterator[Path]:
    directory = tmp_path / "state"
    yield directory
    ManagedProcess(cl.OPERATOR_PROCESS, directory).stop()  # never leave an operator behind


def _shared_deployments(api: KubeApi) -> None:
    """What ``pulumi up`` creates and the operator scales: the MCP server Deployment and
    the cache's data StatefulSet."""
    for workload in SCALED_WORKLOADS:
        api.emulator.create_object(
            f"apps/v1/{workload.plural}",
            {"metadata": {"name": workload.name, "namespace": NS}, "spec": {"replicas": 1}},
        )


async def _connect(api: KubeApi) -> cl.Cluster:
    return await asyncio.to_thread(cl.connect, api.kubeconfig, NS)


def _deploy_examples(
    cluster: cl.Cluster, home: Path, pki: LocalPki
) -> Callable[[], cl.ClusterReport]:
    """``cl.deploy`` of the examples with the local CA, ready to run on a worker thread."""
    return functools.partial(
        cl.deploy,
        cluster,
        home=home,
        ca_cert=pki.ca_cert,
        ca_key=pki.ca_key,
        examples_dir=EXAMPLES,
        timeout_s=90,
    )


async def test_install_is_idempotent_and_keeps_an_existing_ca_secret(
    api: KubeApi, tmp_path: Path
) -> None:
    pki = ensure_pki(tmp_path / "one")
    cluster = await _connect(api)
    try:
        assert await asyncio.to_thread(cl.install_crd, cluster) == "created"
        assert api.emulator.find(CRDS, None, "promptsalescampaigns.promptsales.io") is not None
        assert await asyncio.to_thread(cl.install_crd, cluster) == "unchanged"
        assert await asyncio.to_thread(cl.ensure_namespace, cluster) == "created"
        assert await asyncio.to_thread(cl.ensure_namespace, cluster) == "kept"

        assert await asyncio.to_thread(cl.ensure_ca_secret, cluster, pki.ca_cert, pki.ca_key) == (
            "created"
        )
        first = api.emulator.get_object("v1/secrets", NS, cl.CA_SECRET)
        assert first["type"] == "kubernetes.io/tls"
        assert set(first["data"]) == {"tls.crt", "tls.key", "ca.crt"}
        stored_ca = certs.load_certificate(base64.b64decode(first["data"]["tls.crt"]))
        assert stored_ca == certs.load_certificate(pki.ca_cert.read_text())

        other = ensure_pki(tmp_path / "two")  # a different local CA must not replace it
        assert await asyncio.to_thread(
            cl.ensure_ca_secret, cluster, other.ca_cert, other.ca_key
        ) == ("kept")
        again = api.emulator.get_object("v1/secrets", NS, cl.CA_SECRET)
        assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        assert again["data"] == first["data"]
    finally:
        cluster.close()


async def test_invalid_campaign_is_rejected_by_the_installed_crd(api: KubeApi) -> None:
    cluster = await _connect(api)
    try:
        await asyncio.to_thread(cl.install_crd, cluster)
        await asyncio.to_thread(cl.ensure_namespace, cluster)
        bad = cl.load_campaign_manifests(EXAMPLES, NS)[0]
        bad["spec"]["campaignId"] = "not a number"
        with pytest.raises(cl.ClusterError, match="422"):
            await asyncio.to_thread(cl.apply_campaigns, cluster, [bad])
        assert api.emulator.stored(CAMPAIGNS, NS) == []
    finally:
        cluster.close()


async def test_deploy_runs_the_operator_until_every_campaign_is_ready(
    api: KubeApi, home: Path
) -> None:
    pki = ensure_pki(home)
    _shared_deployments(api)
    manifests = cl.load_campaign_manifests(EXAMPLES, NS)
    names = [m["metadata"]["name"] for m in manifests]
    assert len(names) >= 2
    cluster = await _connect(api)
    try:
        deploy = _deploy_examples(cluster, home, pki)
        report = await asyncio.to_thread(deploy)
        assert report.crd == "created"
        assert report.ca_secret == "created"
        assert report.applied == dict.fromkeys(names, "created")
        assert report.operator.startswith("started")
        assert [c.outcome.state for c in report.campaigns] == ["Ready"] * len(names)
        ca = certs.load_certificate(pki.ca_cert.read_text())
        for item, name in zip(report.campaigns, names, strict=True):
            cronjob = api.emulator.get_object("batch/v1/cronjobs", NS, etl_cronjob_name(name))
            assert item.cronjob == cronjob["metadata"]["name"]
            assert item.schedule == cronjob["spec"]["schedule"]
            secret = api.emulator.get_object("v1/secrets", NS, certificate_secret_name(name))
            leaf = certs.load_certificate(base64.b64decode(secret["data"]["tls.crt"]))
            assert certs.issued_by(leaf, ca)  # signed by the CA `up` installed
            assert item.certificate_subject == leaf.subject.rfc4514_string()
            assert item.secret_keys == ("ca.crt", "tls.crt", "tls.key")
        # What the operator's formula asks for these campaigns, not merely what the API
        # held when `up` looked: Ready includes the capacity, so `up` prints the scaled
        # replicas (it once printed 1 while the operator set 2 a moment later).
        now = dt.datetime.now(dt.UTC)
        plan = plan_capacity(
            [
                CampaignDemand(
                    c.name,
                    c.requests_per_second,
                    c.peak_requests_per_second,
                    active=c.window_state(now) is WindowState.ACTIVE,
                )
                for c in map(parse_campaign, manifests)
            ],
            OperatorSettings().capacity_policy(),
        )
        assert plan.mcp_replicas > 1  # the examples' demand does scale the MCP server
        assert report.replicas == {
            MCP_DEPLOYMENT: plan.mcp_replicas,
            CACHE_STATEFULSET: plan.cache_replicas,
        }
        text = cl.render(report)
        assert "PRIVATE KEY" not in text
        assert all(name in text for name in names)

        pid = ManagedProcess(cl.OPERATOR_PROCESS, home).pid()
        assert pid is not None
        again = await asyncio.to_thread(deploy)  # a re-run changes nothing that exists
        assert again.crd == "unchanged"
        assert again.ca_secret == "kept"
        assert again.applied == dict.fromkeys(names, "unchanged")
        assert again.operator == f"already running (pid {pid})"
    finally:
        cluster.close()

    stopped = await asyncio.to_thread(down, LocalSettings(home=home), delete_data=False)
    assert f"stopped {cl.OPERATOR_PROCESS}" in stopped
    assert ManagedProcess(cl.OPERATOR_PROCESS, home).pid() is None
    assert api.emulator.stored(CAMPAIGNS, NS)  # down leaves the cluster's objects alone


async def test_without_shared_deployments_the_wait_says_why_capacity_is_not_ready(
    api: KubeApi, home: Path
) -> None:
    pki = ensure_pki(home)
    cluster = await _connect(api)
    try:
        report = await asyncio.to_thread(_deploy_examples(cluster, home, pki))
    finally:
        cluster.close()
    states = {c.outcome.state for c in report.campaigns}
    assert states == {"Ready except capacity"}
    assert all(c.cronjob and c.secret for c in report.campaigns)
    assert report.replicas == {MCP_DEPLOYMENT: None, CACHE_STATEFULSET: None}
    assert "absent (pulumi up creates it)" in cl.render(report)


async def test_campaigns_stalled_by_a_broken_ca_secret_are_reported_with_the_reason(
    api: KubeApi, home: Path
) -> None:
    pki = ensure_pki(home)
    _shared_deployments(api)
    api.emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
    broken = {"tls.crt": "bm90IGEgY2VydA==", "tls.key": "bm8=", "ca.crt": "bm8="}
    api.emulator.create_object(
        "v1/secrets",
        {"metadata": {"name": cl.CA_SECRET, "namespace": NS}, "type": "Opaque", "data": broken},
    )
    cluster = await _connect(api)
    try:
        report = await asyncio.to_thread(_deploy_examples(cluster, home, pki))
    finally:
        cluster.close()
    assert report.ca_secret == "kept"  # an existing CA Secret is never replaced
    assert api.emulator.get_object("v1/secrets", NS, cl.CA_SECRET)["data"] == broken
    assert {(c.outcome.state, c.outcome.reason) for c in report.campaigns} == {
        ("Stalled", "CAUnavailable")
    }
    assert all(c.secret is None for c in report.campaigns)
    assert "Stalled (CAUnavailable: " in cl.render(report)


def _unreachable_kubeconfig(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "dead.yaml", f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_unreachable_kubeconfig, r"not reachable: kubeconfig .*dead\.yaml \(context kmock"),
        (lambda tmp: tmp / "absent.yaml", r"absent\.yaml: no such file"),
        (
            lambda tmp: (
                (tmp / "broken.yaml").write_text("current-context: x\n") and tmp / "broken.yaml"
            ),
            r"broken\.yaml: cannot be loaded",
        ),
    ],
)
def test_a_bad_kubeconfig_stops_before_any_change(tmp_path: Path, make: Any, message: str) -> None:
    kubeconfig = make(tmp_path)
    home = tmp_path / "state"
    with pytest.raises(cl.ClusterError, match=message):
        cl.connect(kubeconfig, NS, timeout_s=2)
    assert not home.exists()  # no operator started, nothing written


def test_up_with_an_unreachable_kubeconfig_fails_first_and_changes_nothing(
    tmp_path: Path,
) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    home = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        ["up"],
        env={"PROMPTSALES_LOCAL_KUBECONFIG": str(kubeconfig), "PROMPTSALES_LOCAL_HOME": str(home)},
    )
    assert result.exit_code == 1
    assert "the API server is not reachable" in result.output
    assert str(kubeconfig.resolve()) in result.output
    assert "context kmock" in result.output
    assert not home.exists()  # failed before the state directory, databases or processes


def test_offline_summary_hints_at_a_kubeconfig_without_using_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    hint = cl.kubeconfig_hint()
    assert hint is not None
    assert f"--kubeconfig {kubeconfig}" in hint
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cl.kubeconfig_hint() is None
