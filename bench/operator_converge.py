"""How fast the operator converges N campaigns applied at once, and what it costs.

Run: ``python -m bench.operator_converge`` (default sizes 10, 100, 1000; about 3 minutes)
or ``python -m bench.operator_converge --sizes 10 100 --idle-seconds 20``.

For each size a fresh Kubernetes API emulator (tests/support/kube.py, in this process)
gets the platform CA, the shared Deployments and N campaigns at once; the operator runs as
a real ``python -m promptsales_operator run`` subprocess (the container's command; the
same command as ``promptsales operator run`` without the other components' imports). Measured:

- seconds until every campaign reports Ready (and its ETL CronJob and Secret exist), and
  until kopf has also recorded its handling of each one (its last-handled annotation);
- API requests per campaign until then (every verb the operator and kopf sent);
- write calls during an idle window after convergence (target 0). The window is shorter
  than a minute to keep the run short, and the operator's resync period is set to a third
  of it, so the window spans at least two full resync rounds over every campaign;
- the operator process's peak resident memory (VmHWM);
- certificate issuance's share of the operator's reconcile time (from its /metrics).

Reference measured in the same run: a "direct" loop that builds and creates the same
children (CronJob, certificate Secret, status) for each campaign with the same builders
and certificate code, sequentially and without kopf. ``ratio`` = operator time / direct
time, i.e. what the operator's watching, retries and bookkeeping cost on top of the work.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

import certs
from promptsales_operator import certificates as certdecide
from tests.support import crd
from tests.support.kube import KubeApi, running_kube_api
from tests.support.services import free_port
from workloads import campaign_certificate, etl_cronjob, names

NS = "promptsales"
CAMPAIGNS = "promptsales.io/v1alpha1/promptsalescampaigns"
RESULTS = Path(__file__).parent / "results" / "operator_converge.json"
TARGET_SECONDS_1000 = 60.0
HANDLED_ANNOTATION = "promptsales.io/last-handled-configuration"
PROGRESS_ANNOTATION = "promptsales.io/reconcile"


def _setup_platform(api: KubeApi) -> certs.CertificateAuthority:
    kube = api.emulator
    kube.register_crd(crd.load_crd(), crd.admit)
    kube.create_object("v1/namespaces", {"metadata": {"name": NS}})
    ca = certs.create_root_ca("Bench CA", validity=dt.timedelta(days=3650))
    data = certs.tls_secret_data(ca, certs.trust_bundle(ca))
    kube.create_object(
        "v1/secrets",
        {
            "type": "kubernetes.io/tls",
            "metadata": {"name": "promptsales-ca", "namespace": NS},
            "stringData": data,
        },
    )
    for name in ("promptsales-mcp", "promptsales-cache"):
        kube.create_object(
            "apps/v1/deployments",
            {"metadata": {"name": name, "namespace": NS}, "spec": {"replicas": 1}},
        )
    return ca


def _campaign(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "promptsales.io/v1alpha1",
        "kind": "PromptSalesCampaign",
        "metadata": {"name": f"campaign-{i:04d}", "namespace": NS},
        "spec": {
            "campaignId": str(i + 1),
            "displayName": f"Benchmark campaign {i}",
            "demand": {"requestsPerSecond": 1 + i % 7},
        },
    }


def _all_ready(api: KubeApi, n: int) -> bool:
    ready = 0
    for obj in api.emulator.peek(CAMPAIGNS, NS):
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Ready" and cond["status"] == "True":
                ready += 1
    return ready >= n


def _all_handled(api: KubeApi, n: int) -> bool:
    """kopf has recorded its handling of every campaign (last-handled annotation present)
    and has no handler retry pending (no progress annotation left)."""
    handled = 0
    for obj in api.emulator.peek(CAMPAIGNS, NS):
        annotations = obj["metadata"].get("annotations") or {}
        if HANDLED_ANNOTATION in annotations and PROGRESS_ANNOTATION not in annotations:
            handled += 1
    return handled >= n


def _peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _operator_run(n: int, idle_seconds: float, workdir: Path) -> dict[str, Any]:
    async with running_kube_api(workdir) as api:
        _setup_platform(api)
        kube = api.emulator
        port = free_port()
        env = {
            **os.environ,
            "PROMPTSALES_OPERATOR_KUBECONFIG": str(api.kubeconfig),
            "PROMPTSALES_OPERATOR_NAMESPACE": NS,
            "PROMPTSALES_OPERATOR_PROBE_PORT": str(port),
            "PROMPTSALES_OPERATOR_PROBE_HOST": "127.0.0.1",
            "PROMPTSALES_OPERATOR_RESYNC_SECONDS": str(max(idle_seconds / 3, 1.0)),
            "PROMPTSALES_OPERATOR_LOG_LEVEL": os.environ.get("BENCH_OPERATOR_LOG_LEVEL", "WARNING"),
        }
        log_path = workdir / f"operator-{n}.log"
        with log_path.open("w") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "promptsales_operator",
                "run",
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):  # wait for readiness (kopf connected, workers started)
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                            if r.status == 200:
                                break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # let the startup resync of an empty namespace pass
                kube.reset_counts()
                cpu_before = _cpu_seconds(proc.pid)
                emulator_cpu_before = time.process_time()
                started = time.perf_counter()
                for i in range(n):
                    kube.create_object(CAMPAIGNS, _campaign(i))
                while not _all_ready(api, n):
                    if proc.returncode is not None:
                        raise RuntimeError(f"operator exited; see {log_path}")
                    await asyncio.sleep(0.1)
                converge_seconds = time.perf_counter() - started
                cpu_seconds = _cpu_seconds(proc.pid) - cpu_before
                emulator_cpu = time.process_time() - emulator_cpu_before
                while not _all_handled(api, n):  # kopf's own bookkeeping may lag behind
                    if proc.returncode is not None:
                        raise RuntimeError(f"operator exited; see {log_path}")
                    await asyncio.sleep(0.1)
                handled_seconds = time.perf_counter() - started
                requests = kube.total_requests
                writes = kube.write_requests
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    metrics = await r.text()

                await asyncio.sleep(2.0)  # trailing capacity work of the burst
                kube.reset_counts()
                events_before = collections.Counter(
                    e["reason"] for e in kube.stored("v1/events", NS)
                )
                await asyncio.sleep(idle_seconds)
                idle_writes = kube.write_requests
                idle_write_kinds = collections.Counter(
                    f"{verb} {plural}{'/' + sub if sub else ''}"
                    for verb, plural, _, sub in kube.write_log
                )
                idle_event_reasons = (
                    collections.Counter(e["reason"] for e in kube.stored("v1/events", NS))
                    - events_before
                )
                idle_reads = kube.total_requests - idle_writes
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    metrics_after = await r.text()
            peak = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                async with asyncio.timeout(20):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        mcp = kube.get_object("apps/v1/deployments", NS, "promptsales-mcp")["spec"]["replicas"]
    issue = _metric_sum(metrics, "promptsales_operator_certificate_issue_seconds_sum")
    passes_idle = _metric_sum(metrics_after, "promptsales_operator_reconciles_total") - (
        _metric_sum(metrics, "promptsales_operator_reconciles_total")
    )
    return {
        "campaigns": n,
        "seconds_to_all_ready": round(converge_seconds, 2),
        "seconds_to_all_handled_by_kopf": round(handled_seconds, 2),
        "api_requests_per_campaign": round(requests / n, 1),
        "api_writes_per_campaign": round(writes / n, 1),
        "idle_window_seconds": idle_seconds,
        "idle_reconcile_passes": int(passes_idle),
        "idle_writes": idle_writes,
        "idle_write_kinds": dict(idle_write_kinds),
        "idle_event_reasons": dict(idle_event_reasons),
        "idle_reads": idle_reads,
        "operator_peak_rss_mb": round(peak, 1),
        "certificate_issue_seconds": round(issue, 3),
        "operator_cpu_seconds": round(cpu_seconds, 2),
        "emulator_cpu_seconds": round(emulator_cpu, 2),
        "certificate_share_of_operator_cpu": round(issue / cpu_seconds, 3) if cpu_seconds else None,
        "certificate_share_of_wall_time": round(issue / converge_seconds, 3),
        "mcp_replicas": mcp,
    }


async def _direct_run(n: int, workdir: Path) -> float:
    """Reference: the same children created in a plain loop, no operator."""
    async with running_kube_api(workdir) as api:
        ca = _setup_platform(api)
        pca = certdecide.PlatformCA(
            authority=ca,
            bundle=(ca.certificate,),
            bundle_pem=certs.to_pem(ca.certificate),
            bundle_sha256="-",
            issuer_fingerprint=certs.fingerprint(ca.certificate),
        )
        kube = api.emulator
        started = time.perf_counter()
        async with aiohttp.ClientSession(api.url) as http:
            for i in range(n):
                body = kube.create_object(CAMPAIGNS, _campaign(i))
                name, uid = body["metadata"]["name"], body["metadata"]["uid"]
                cronjob = etl_cronjob.build_etl_cronjob(
                    etl_cronjob.EtlCronJobSpec(name, uid, f"ads-{i}", NS)
                )
                issued = certs.issue_client_certificate(
                    ca, campaign_name=name, campaign_id=f"ads-{i}", role="marketing"
                )
                secret = campaign_certificate.build_tls_secret(
                    name=names.certificate_secret_name(name),
                    namespace=NS,
                    component="certificate",
                    pem_data=certs.tls_secret_data(issued, pca.bundle),
                    annotations=certdecide.annotations_for(
                        issued.certificate, pca, name, dt.timedelta(days=30)
                    ),
                    campaign=name,
                    owner_uid=uid,
                )
                await http.post(f"/apis/batch/v1/namespaces/{NS}/cronjobs", json=cronjob)
                await http.post(f"/api/v1/namespaces/{NS}/secrets", json=secret)
                await http.patch(
                    f"/apis/promptsales.io/v1alpha1/namespaces/{NS}/promptsalescampaigns/{name}/status",
                    json={"status": {"phase": "Active"}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
        return time.perf_counter() - started


async def main(
    sizes: list[int], idle_seconds: float, keep_logs: str | None = None
) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        if keep_logs is not None:
            tmp = keep_logs
        for n in sizes:
            workdir = Path(tmp) / str(n)
            workdir.mkdir(parents=True, exist_ok=True)
            row = await _operator_run(n, idle_seconds, workdir)
            direct = await _direct_run(n, workdir)
            row["direct_reference_seconds"] = round(direct, 2)
            row["ratio_operator_to_direct"] = round(row["seconds_to_all_ready"] / direct, 2)
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'N':>5} {'ready s':>8} {'direct s':>8} {'ratio':>6} {'req/c':>6} "
        f"{'idle writes':>11} {'peak MB':>8} {'cert share':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['campaigns']:>5} {r['seconds_to_all_ready']:>8} "
            f"{r['direct_reference_seconds']:>8} {r['ratio_operator_to_direct']:>6} "
            f"{r['api_requests_per_campaign']:>6} {r['idle_writes']:>11} "
            f"{r['operator_peak_rss_mb']:>8} {r['certificate_share_of_operator_cpu']!s:>10}"
        )
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--keep-logs", help="directory for the operator logs (kept)")
    args = parser.parse_args()
    rows = asyncio.run(main(args.sizes, args.idle_seconds, args.keep_logs))
    print(_table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "operator_converge",
                "reference": "direct sequential creation of the same children, same run",
                "target_seconds_at_1000": TARGET_SECONDS_1000,
                "cert_manager_published": "500 certificates from 10 issuers in 417 s",
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    cli()
