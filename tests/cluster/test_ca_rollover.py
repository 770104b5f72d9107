"""``promptsales certs rotate-ca --kubeconfig`` on a real API server, with traffic throughout.

Its own installation (module-scoped fixtures, conftest.py): the operator runs as its
ServiceAccount; the rollover runs as the person's admin kubeconfig, as a process. TLS
traffic flows between each campaign's client certificate and the MCP serving certificate,
read from their Secrets into files the way the kubelet mounts them (the MCP pod catching
up faster than the agents), through the MCP server's reloading TLS context.
"""

from __future__ import annotations

import base64
import functools
import subprocess
import sys
import time
from pathlib import Path

import yaml
from cryptography import x509

import certs
from promptsales_cli.ca_rollover.kubernetes import (
    BUNDLE_PUBLISHED_AT,
    INCOMING_KEY,
    LEAVES_MOVED_AT,
    OUTGOING_CERT,
)
from tests.support import cluster as kc
from tests.support.tls_traffic import Client, FileSync, Server, Traffic, running
from workloads.common import MCP_DEPLOYMENT
from workloads.names import certificate_secret_name

SERVER_LAG = 0.3
CLIENT_LAG = 1.2
PROPAGATION_SECONDS = 3.0  # longer than any pod's lag
MCP_SECRET = "promptsales-mcp-tls"
CAMPAIGNS = {"rollover-a": "501", "rollover-b": "502"}


def _files(cluster: kc.Cluster, name: str, keys: tuple[str, ...]) -> dict[str, bytes]:
    secret = cluster.read("secret", name)
    assert secret is not None, name
    return {key: base64.b64decode(secret["data"][key]) for key in keys}


def _certificates(cluster: kc.Cluster, name: str, key: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(_files(cluster, name, (key,))[key])


def test_rotate_ca_moves_every_leaf_and_no_connection_fails(
    installed: kc.Cluster, operator: kc.OperatorProcess, tmp_path: Path
) -> None:
    cluster = installed
    old = _certificates(cluster, "promptsales-ca", "tls.crt")[0]
    manifests = [
        {
            "apiVersion": "promptsales.io/v1alpha1",
            "kind": "PromptSalesCampaign",
            "metadata": {"name": name, "namespace": kc.NS},
            "spec": {"campaignId": campaign_id, "displayName": f"Suite {name}"},
        }
        for name, campaign_id in CAMPAIGNS.items()
    ]
    applied = cluster.server_side_apply(yaml.safe_dump_all(manifests))
    assert applied.returncode == 0, applied.stderr
    kc.wait_until(
        lambda: all(kc.is_ready(cluster.campaign(name)) for name in CAMPAIGNS),
        "campaigns Ready",
        60,
    )
    kc.wait_until(lambda: cluster.read("secret", MCP_SECRET), "MCP serving certificate", 60)
    secrets = [MCP_SECRET, *(certificate_secret_name(name) for name in CAMPAIGNS)]

    mcp_dir = tmp_path / "mcp"
    syncs = [
        FileSync(
            mcp_dir,
            functools.partial(_files, cluster, MCP_SECRET, ("tls.crt", "tls.key")),
            SERVER_LAG,
        ),
        FileSync(
            mcp_dir / "ca",
            functools.partial(_files, cluster, "promptsales-ca", ("ca.crt",)),
            SERVER_LAG,
        ),
    ]
    clients = []
    for name in CAMPAIGNS:
        directory = tmp_path / name
        keys = ("tls.crt", "tls.key", "ca.crt")
        syncs.append(
            FileSync(
                directory,
                functools.partial(_files, cluster, certificate_secret_name(name), keys),
                CLIENT_LAG,
            )
        )
        clients.append(
            Client(
                name,
                directory / "ca.crt",
                directory / "tls.crt",
                directory / "tls.key",
                server_hostname=f"{MCP_DEPLOYMENT}.{kc.NS}.svc",
            )
        )
    server = Server(mcp_dir / "tls.crt", mcp_dir / "tls.key", mcp_dir / "ca" / "ca.crt")
    traffic = Traffic(server, clients)

    with running(server.serve, *(sync.run for sync in syncs), traffic.run):
        traffic.wait_for_attempts(6)
        rotated = subprocess.run(
            [sys.executable, "-m", "promptsales_cli", "certs", "rotate-ca",
             "--kubeconfig", str(cluster.kubeconfig), "--namespace", kc.NS, "--wait",
             "--propagation-seconds", str(PROPAGATION_SECONDS), "--timeout-minutes", "4"],
            capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        new = _certificates(cluster, "promptsales-ca", "tls.crt")[0]
        kc.wait_until(
            lambda: all(_certificates(cluster, name, "ca.crt") == [new] for name in secrets),
            "every ca.crt holds the new CA alone",
            60,
        )
        time.sleep(2 * CLIENT_LAG)  # every pod has the final files
        traffic.wait_for_attempts(2 * len(clients))

    assert "complete: the new CA" in rotated.stdout, rotated.stdout
    assert new != old
    cas = {"old": old, "new": new}
    failures = [
        (a.client, a.server_issuer(cas), a.client_issuer(cas), a.error[:100])
        for a in traffic.attempts
        if not a.ok
    ]
    assert not failures, (rotated.stdout, failures[:5])
    pairs = {(a.server_issuer(cas), a.client_issuer(cas)) for a in traffic.attempts}
    timeline: list[tuple[object, ...]] = []
    for a in traffic.attempts:
        point = (a.client, a.server_issuer(cas), a.client_issuer(cas))
        if not timeline or timeline[-1][1:] != point:
            timeline.append((round(a.at, 2), *point))
    # Before, after, and a moved end meeting an unmoved one (either way round).
    assert {("old", "old"), ("new", "new")} <= pairs, (pairs, timeline)
    assert {("new", "old"), ("old", "new")} & pairs, (pairs, timeline)
    for name in secrets:
        assert certs.issued_by(_certificates(cluster, name, "tls.crt")[0], new), name
    stored = cluster.read("secret", "promptsales-ca")
    assert stored is not None
    assert not {INCOMING_KEY, OUTGOING_CERT} & set(stored["data"])
    assert not {BUNDLE_PUBLISHED_AT, LEAVES_MOVED_AT} & set(
        stored["metadata"].get("annotations") or {}
    )
    assert operator.alive(), operator.log()[-2000:]
