"""``rotate-ca`` on a cluster: the operator moves every leaf, and no connection fails.

The operator runs in-loop against the Kubernetes API emulator; ``rotate-ca``'s driver
works on the ``promptsales-ca`` Secret over HTTP with a kubeconfig, as a person runs it.
TLS traffic flows the whole time between each campaign's client certificate and the MCP
server's serving certificate, both read from their Secrets the way pods get them: a
kubelet-like copy into files (every ``SERVER_LAG`` seconds for the MCP pod, every
``CLIENT_LAG`` for the agents, so a moved server meets unmoved clients). The server
trusts ``promptsales-ca``'s
``ca.crt`` (what the MCP Deployment mounts) and reloads like the MCP server; each client
trusts its own Secret's ``ca.crt``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import time
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509

import certs
from promptsales_cli.ca_rollover.cli import new_ca_factory
from promptsales_cli.ca_rollover.driver import RotateOptions, rotate
from promptsales_cli.ca_rollover.kubernetes import (
    BUNDLE_PUBLISHED_AT,
    INCOMING_KEY,
    LEAVES_MOVED_AT,
    OUTGOING_CERT,
    SecretCaTarget,
)
from promptsales_cli.local import cluster as cl
from promptsales_operator.clock import ManualClock
from tests.integration.operator.conftest import (
    CAMPAIGNS,
    DEPLOYMENTS,
    NS,
    SECRETS,
    STATEFULSETS,
    Platform,
    StartOperator,
    ca_secret,
    campaign,
    deployment,
    is_ready,
    wait_campaign,
    wait_for,
)
from tests.support import crd
from tests.support.kube import KubeApi, KubeEmulator, kube_api  # noqa: F401 (fixture)
from tests.support.tls_traffic import Client, FileSync, Server, Traffic, running
from workloads.common import CACHE_STATEFULSET, MCP_DEPLOYMENT

SERVER_LAG = 0.3
CLIENT_LAG = 1.2
# Longer than any pod's lag: the contract the rollover's propagation delay stands for.
PROPAGATION = dt.timedelta(seconds=2.5)
MCP_SECRET = "promptsales-mcp-tls"
CLIENTS = ("spring", "summer")


@pytest.fixture
def clock() -> ManualClock:
    """The operator's clock at wall time: OpenSSL checks validity against the wall clock."""
    return ManualClock(dt.datetime.now(dt.UTC))


@pytest_asyncio.fixture
async def platform(kube_api: KubeApi, clock: ManualClock) -> Platform:  # noqa: F811
    """The shared platform fixture with a CA valid now (the shared one is made for START)."""
    emulator = kube_api.emulator
    emulator.register_crd(crd.load_crd(), crd.admit)
    ca = certs.create_root_ca(
        "PromptSales Test CA", validity=dt.timedelta(days=3650), now=clock.now()
    )
    emulator.create_object(
        "v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    )
    emulator.create_object(SECRETS, ca_secret(ca))
    emulator.create_object(DEPLOYMENTS, deployment(MCP_DEPLOYMENT))
    emulator.create_object(STATEFULSETS, deployment(CACHE_STATEFULSET, kind="StatefulSet"))
    return Platform(kube_api, ca)


def _files(kube: KubeEmulator, name: str, keys: tuple[str, ...]) -> dict[str, bytes]:
    data = kube.get_object(SECRETS, NS, name).get("data") or {}
    return {key: base64.b64decode(data[key]) for key in keys}


def _leaf(kube: KubeEmulator, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(_files(kube, name, ("tls.crt",))["tls.crt"])[0]


async def _campaigns_and_traffic(
    platform: Platform, start_operator: StartOperator, tmp_path: Path
) -> tuple[Server, list[FileSync], Traffic]:
    """Two Ready campaigns, the MCP serving certificate, and the pods' view of them."""
    kube = platform.kube
    await start_operator()
    for index, name in enumerate(CLIENTS):
        kube.create_object(CAMPAIGNS, campaign(name, str(100 + index)))
    for name in CLIENTS:
        await wait_campaign(kube, name, is_ready, "Ready")
    await wait_for(lambda: kube.find(SECRETS, NS, MCP_SECRET), "MCP serving certificate")

    # Pods: the MCP server mounts its serving Secret and promptsales-ca's ca.crt; each
    # agent mounts its campaign's Secret. The kubelet copies them after a lag.
    mcp_dir = tmp_path / "mcp"
    syncs = [
        FileSync(
            mcp_dir, functools.partial(_files, kube, MCP_SECRET, ("tls.crt", "tls.key")), SERVER_LAG
        ),
        FileSync(
            mcp_dir / "ca",
            functools.partial(_files, kube, "promptsales-ca", ("ca.crt",)),
            SERVER_LAG,
        ),
    ]
    clients = []
    for name in CLIENTS:
        directory = tmp_path / name
        secret = f"{name}-client-tls"
        syncs.append(
            FileSync(
                directory,
                functools.partial(_files, kube, secret, ("tls.crt", "tls.key", "ca.crt")),
                CLIENT_LAG,
            )
        )
        clients.append(
            Client(
                name,
                directory / "ca.crt",
                directory / "tls.crt",
                directory / "tls.key",
                server_hostname=f"{MCP_DEPLOYMENT}.{NS}.svc",
            )
        )
    server = Server(mcp_dir / "tls.crt", mcp_dir / "tls.key", mcp_dir / "ca" / "ca.crt")
    return server, syncs, Traffic(server, clients)


def _bundles_hold_only(kube: KubeEmulator, ca: x509.Certificate) -> bool:
    names = ("promptsales-ca", MCP_SECRET, *(f"{n}-client-tls" for n in CLIENTS))
    return all(
        x509.load_pem_x509_certificates(_files(kube, name, ("ca.crt",))["ca.crt"]) == [ca]
        for name in names
    )


async def _final_files_everywhere(server: Server, syncs: list[FileSync]) -> None:
    """Every pod has the final files and the server has checked its own since: from here
    on every connection must work (waited for, not slept: a loaded machine lags more)."""
    await wait_for(lambda: all(sync.caught_up() for sync in syncs), "every pod's final files")
    checks = server.reload_checks
    await wait_for(lambda: server.reload_checks >= checks + 1, "the server's reload check")


def _failures(traffic: Traffic, cas: dict[str, x509.Certificate]) -> list[tuple[str, ...]]:
    return [
        (f"{a.at:.2f}", a.client, a.server_issuer(cas), a.client_issuer(cas), a.error[:90])
        for a in traffic.attempts
        if not a.ok
    ]


async def test_rotate_ca_moves_every_leaf_while_every_connection_works(
    platform: Platform, start_operator: StartOperator, tmp_path: Path
) -> None:
    kube = platform.kube
    old = platform.ca.certificate
    server, syncs, traffic = await _campaigns_and_traffic(platform, start_operator, tmp_path)
    cluster = await asyncio.to_thread(cl.connect, platform.api.kubeconfig, NS)
    target = SecretCaTarget(cluster)
    lines: list[str] = []
    try:
        with running(server.serve, *(sync.run for sync in syncs), traffic.run):
            await asyncio.to_thread(traffic.wait_for_attempts, 6)
            step = await asyncio.to_thread(
                rotate,
                target,
                RotateOptions(
                    propagation_delay=PROPAGATION,
                    wait=True,
                    timeout=dt.timedelta(minutes=2),
                    poll=dt.timedelta(seconds=0.2),
                ),
                new_ca_factory(None, dt.timedelta(days=3650), None),
                echo=lambda line: lines.append(f"{time.monotonic():.2f} {line}"),
            )
            # The operator refreshes every ca.crt to the new CA only; traffic goes on.
            new = step.store.signing.certificate
            await wait_for(lambda: _bundles_hold_only(kube, new), "bundles of the new CA alone")
            await _final_files_everywhere(server, syncs)
            await asyncio.to_thread(traffic.wait_for_attempts, 2 * len(CLIENTS))
    finally:
        cluster.close()

    assert step.done, lines
    assert new != old
    # The lines every rollover prints, in order. Whether the driver also printed a
    # "waiting for ..." line depends on whether the operator had already acted when it
    # looked (on a loaded machine the operator's event loop can win that race), so the
    # waits are proven by the traffic below, not by the log.
    said = [
        next((i for i, line in enumerate(lines) if words in line), -1)
        for words in ("started a CA rollover", "the new CA signs from now on", "complete:")
    ]
    assert -1 not in said, lines
    assert said == sorted(said), lines

    cas = {"old": old, "new": new}
    assert not _failures(traffic, cas), (lines, _failures(traffic, cas)[:5])
    pairs = {(a.server_issuer(cas), a.client_issuer(cas)) for a in traffic.attempts}
    # Before, after, and a moved end meeting an unmoved one (either way round), all working.
    assert pairs >= {("old", "old"), ("new", "new")}, pairs
    assert {("new", "old"), ("old", "new")} & pairs, pairs

    for name in (MCP_SECRET, *(f"{n}-client-tls" for n in CLIENTS)):
        assert certs.issued_by(_leaf(kube, name), new), name
    stored = kube.get_object(SECRETS, NS, "promptsales-ca")
    assert not {INCOMING_KEY, OUTGOING_CERT} & set(stored["data"])
    annotations = stored["metadata"].get("annotations") or {}
    assert not {BUNDLE_PUBLISHED_AT, LEAVES_MOVED_AT} & set(annotations)
    bundle = x509.load_pem_x509_certificates(base64.b64decode(stored["data"]["ca.crt"]))
    assert bundle == [new]
    old_key_pem = certs.private_key_to_pem(platform.ca.private_key).encode()
    assert all(base64.b64decode(v) != old_key_pem for v in stored["data"].values())


async def test_replacing_the_ca_in_place_breaks_connections(
    platform: Platform, start_operator: StartOperator, tmp_path: Path
) -> None:
    """The failure the rollover prevents, seen by the same harness: a CA Secret replaced
    in place (new CA alone) makes peers that have not caught up refuse each other."""
    kube = platform.kube
    server, syncs, traffic = await _campaigns_and_traffic(platform, start_operator, tmp_path)
    new = certs.create_root_ca("PromptSales Test CA", validity=dt.timedelta(days=3650))
    with running(server.serve, *(sync.run for sync in syncs), traffic.run):
        await asyncio.to_thread(traffic.wait_for_attempts, 6)
        kube.delete_object(SECRETS, NS, "promptsales-ca")
        kube.create_object(SECRETS, ca_secret(new))
        await wait_for(lambda: _bundles_hold_only(kube, new.certificate), "new CA everywhere")
        await _final_files_everywhere(server, syncs)
        settled = len(traffic.attempts)
        await asyncio.to_thread(traffic.wait_for_attempts, 2 * len(CLIENTS))
    failures = _failures(traffic, {"old": platform.ca.certificate, "new": new.certificate})
    assert failures
    assert all("CERTIFICATE_VERIFY_FAILED" in f[-1] or "alert" in f[-1] for f in failures), failures
    # Once every pod has the final files, everything converges on the new CA.
    assert all(a.ok for a in traffic.attempts[settled:]), _failures(traffic, {})[-3:]
