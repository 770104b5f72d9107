"""Fixtures for running the operator in-loop against the Kubernetes API emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

import certs
from promptsales_operator.clock import ManualClock
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import Connection
from promptsales_operator.runner import Operator
from promptsales_operator.settings import OperatorSettings
from tests.support import crd
from tests.support.kube import KubeApi, KubeEmulator, kube_api  # noqa: F401 (fixture)
from workloads.common import CACHE_STATEFULSET, MCP_DEPLOYMENT

NS = "promptsales"
CAMPAIGNS = "promptsales.io/v1alpha1/promptsalescampaigns"
CRONJOBS = "batch/v1/cronjobs"
SECRETS = "v1/secrets"
DEPLOYMENTS = "apps/v1/deployments"
STATEFULSETS = "apps/v1/statefulsets"
EVENTS = "v1/events"
START = dt.datetime(2026, 12, 10, tzinfo=dt.UTC)


def ca_secret(
    ca: certs.CertificateAuthority, *bundle: certs.CertificateAuthority
) -> dict[str, Any]:
    data = certs.tls_secret_data(ca, certs.trust_bundle(*(bundle or (ca,))))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "promptsales-ca", "namespace": NS},
        "stringData": data,
    }


def deployment(name: str, replicas: int = 1, kind: str = "Deployment") -> dict[str, Any]:
    """A shared workload as ``pulumi up`` leaves it (pods never matter here)."""
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


def campaign(name: str, campaign_id: str = "100", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"campaignId": campaign_id, "displayName": f"Campaign {name}", **spec},
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@dataclasses.dataclass
class Platform:
    """The emulator with the CRD, the platform CA and the shared Deployments in place."""

    api: KubeApi
    ca: certs.CertificateAuthority

    @property
    def kube(self) -> KubeEmulator:
        return self.api.emulator


@pytest_asyncio.fixture
async def platform(kube_api: KubeApi) -> Platform:  # noqa: F811 (fixture injection)
    emulator = kube_api.emulator
    emulator.register_crd(crd.load_crd(), crd.admit)
    ca = certs.create_root_ca(
        "PromptSales Test CA", validity=dt.timedelta(days=3650), now=START - dt.timedelta(days=1)
    )
    emulator.create_object(
        "v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    )
    emulator.create_object(SECRETS, ca_secret(ca))
    emulator.create_object(DEPLOYMENTS, deployment(MCP_DEPLOYMENT))
    emulator.create_object(STATEFULSETS, deployment(CACHE_STATEFULSET, kind="StatefulSet"))
    return Platform(kube_api, ca)


def fast_settings(**overrides: Any) -> OperatorSettings:
    values: dict[str, Any] = {
        "namespace": NS,
        "probe_port": 0,
        "resync_seconds": 0.3,
        "capacity_debounce_seconds": 0.05,
        "retry_backoff_seconds": 0.2,
        "mcp_rps_per_replica": 10,
        "mcp_max_replicas": 8,
        "cache_rps_per_replica": 50,
        "capacity_headroom": 0.0,
    }
    values.update(overrides)
    return OperatorSettings(**values)


@dataclasses.dataclass
class RunningOperator:
    """An operator on its own thread and event loop, as kopf's KopfRunner runs it.

    kopf treats every task of its loop as its own at shutdown (it waits for and cancels
    "hung" tasks), so the emulator and the test must live in a different loop.
    """

    operator: Operator
    thread: threading.Thread
    stop_flag: threading.Event
    errors: list[BaseException]

    async def stop(self) -> None:
        self.stop_flag.set()
        await asyncio.to_thread(self.thread.join, 30)
        if self.errors:
            raise self.errors[0]

    @property
    def ctx(self) -> OperatorContext:
        assert self.operator.ctx is not None
        return self.operator.ctx


StartOperator = Callable[..., Awaitable[RunningOperator]]


@pytest_asyncio.fixture
async def start_operator(platform: Platform, clock: ManualClock) -> AsyncIterator[StartOperator]:
    running: list[RunningOperator] = []

    async def start(**overrides: Any) -> RunningOperator:
        operator = Operator(
            fast_settings(**overrides), clock=clock, connection=Connection(platform.api.url)
        )
        stop_flag = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(operator.run(stop_flag))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=main, name="operator", daemon=True)
        handle = RunningOperator(operator, thread, stop_flag, errors)
        running.append(handle)
        thread.start()
        await wait_for(
            lambda: operator.probes.ready.is_set() or not thread.is_alive(), "operator ready"
        )
        if errors:
            raise errors[0]
        return handle

    yield start
    for handle in running:
        if handle.thread.is_alive():
            await handle.stop()


async def wait_for(
    predicate: Callable[[], Any], what: str, limit: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll until ``predicate()`` is truthy; fail naming ``what`` otherwise."""
    try:
        async with asyncio.timeout(limit):
            while True:
                result = predicate()
                if result:
                    return result
                await asyncio.sleep(interval)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return None


def is_ready(obj: dict[str, Any] | None) -> bool:
    cond = condition(obj, "Ready")
    return bool(cond and cond["status"] == "True")


async def wait_campaign(
    kube: KubeEmulator, name: str, predicate: Callable[[dict[str, Any]], Any], what: str
) -> dict[str, Any]:
    """Wait until the stored campaign satisfies ``predicate``; returns it."""

    def check() -> dict[str, Any] | None:
        obj = kube.find(CAMPAIGNS, NS, name)
        return obj if obj is not None and predicate(obj) else None

    result: dict[str, Any] = await wait_for(check, f"{name}: {what}")
    return result


def phase(obj: dict[str, Any]) -> str | None:
    return (obj.get("status") or {}).get("phase")


def events_for(kube: KubeEmulator, name: str) -> list[dict[str, Any]]:
    return [e for e in kube.stored(EVENTS, NS) if e.get("involvedObject", {}).get("name") == name]
