"""How fast the operator converges N campaigns on a real API server, and what it costs.

Run (a control plane from ``scripts/kube-control-plane.sh``; see the README)::

    scripts/kube-control-plane.sh start        # prints the admin kubeconfig
    python -m bench.operator_converge --kubeconfig /tmp/promptsales-kube/admin.kubeconfig \\
        --audit-log /tmp/promptsales-kube/audit.log --sizes 10 100 1000 10000

It installs the CRD (server-side apply) first. For each size N, two runs against the same
API server, each in a namespace of its own:

- **operator**: the operator runs as ``python -m promptsales_operator run`` (the
  container's command) with its own ServiceAccount and the rendered Role; a creator
  creates the N campaigns (16 requests in flight, ``BENCH_CONCURRENCY``; the operator gets
  as many API connections); measured until every campaign is Ready:
  seconds, the operator's requests by verb per campaign (from the API server's audit log),
  its CPU and peak memory; then an idle minute: the operator's reads and writes (target 0)
  and its resident memory.
- **reference**: a plain loop that does *the same writes* (create the campaign, its
  CronJob and its certificate Secret with the same builders and certificate code, patch
  its status, post the same three Events), with the same 16 requests in flight, reading
  nothing, as a separate process like the operator. ``ratio`` = operator seconds /
  reference seconds: what watching, caching, queueing and checking cost on top of the
  work itself.

Results go to ``bench/results/operator_converge.json``.
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
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import certs
from promptsales_operator import certificates as certdecide
from promptsales_operator.kube import ApiError, KubeClient, load_connection, path
from workloads import campaign_certificate, etl_cronjob, names
from workloads import operator as operator_workload
from workloads.capacity import SCALED_WORKLOADS
from workloads.crd import CRD_NAME, campaign_crd

RESULTS = Path(__file__).parent / "results" / "operator_converge.json"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
GROUP_VERSION = "promptsales.io/v1alpha1"
PLURAL = "promptsalescampaigns"


# --- the cluster side -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def campaign(namespace: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "PromptSalesCampaign",
        "metadata": {"name": f"campaign-{i:05d}", "namespace": namespace},
        "spec": {
            "campaignId": str(i + 1),
            "displayName": f"Benchmark campaign {i}",
            "etl": {"schedule": "0 0 1 1 *"},  # fires in no measured window
            "demand": {"requestsPerSecond": 1 + i % 7},
        },
    }


async def _gather_limited(count: int, work: Any) -> None:
    """Run ``work(i)`` for i in range(count) with CONCURRENCY in flight."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with limit:
            await work(i)

    await asyncio.gather(*(one(i) for i in range(count)))


async def prepare_namespace(
    client: KubeClient, namespace: str, ca: certs.CertificateAuthority
) -> None:
    """Namespace, the operator's ServiceAccount and Role, the CA Secret, the two Deployments
    the operator scales (their pods stay Pending without a kubelet)."""
    await client.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    for manifest in operator_workload.operator_manifests(namespace)[:3]:  # SA, Role, binding
        api = manifest["apiVersion"]
        plural = {
            "ServiceAccount": "serviceaccounts",
            "Role": "roles",
            "RoleBinding": "rolebindings",
        }[manifest["kind"]]
        await client.create(path(api, plural, namespace), manifest)
    data = certs.tls_secret_data(ca, certs.trust_bundle(ca))
    await client.create(
        path("v1", "secrets", namespace),
        {
            "metadata": {"name": "promptsales-ca", "namespace": namespace},
            "type": "kubernetes.io/tls",
            "stringData": data,
        },
    )
    for workload in SCALED_WORKLOADS:  # the MCP Deployment, the cache's data StatefulSet
        name = workload.name
        labels = {"app.kubernetes.io/name": name}
        stable = {"serviceName": name} if workload.kind == "StatefulSet" else {}
        await client.create(
            path("apps/v1", workload.plural, namespace),
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    **stable,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]
                        },
                    },
                },
            },
        )


async def service_account_kubeconfig(
    client: KubeClient, namespace: str, admin_kubeconfig: Path, out: Path
) -> Path:
    answer = await client.create(
        path("v1", "serviceaccounts", namespace, operator_workload.NAME, "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        },
    )
    admin = yaml.safe_load(await asyncio.to_thread(admin_kubeconfig.read_text))
    text = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
            "users": [{"name": "op", "user": {"token": answer["status"]["token"]}}],
            "contexts": [
                {
                    "name": "op",
                    "context": {"cluster": "c", "user": "op", "namespace": namespace},
                }
            ],
            "current-context": "op",
        }
    )
    await asyncio.to_thread(out.write_text, text)
    return out


# --- measurements -------------------------------------------------------------------------


def _proc_status(pid: int, field: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Audit:
    """The API server's audit log: requests by verb of one user since a mark."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def verbs_since(self, position: int, user: str) -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        with self.path.open("rb") as handle:
            handle.seek(position)
            for raw in handle:
                if user.encode() not in raw:
                    continue
                with contextlib.suppress(ValueError):
                    event = json.loads(raw)
                    if event.get("stage") == "ResponseComplete" and (
                        (event.get("user") or {}).get("username") == user
                    ):
                        counts[str(event.get("verb"))] += 1
        return counts


async def _count_ready(client: KubeClient, namespace: str) -> int:
    """Ready campaigns, listed in pages of 500 (a single list of ten thousand is itself a
    load on the API server the measurement should not add)."""
    ready = 0
    token = ""
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        page = await client.list_page(path(GROUP_VERSION, PLURAL, namespace), params)
        for obj in page.get("items", []):
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") == "True":
                    ready += 1
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return ready


async def operator_run(
    client: KubeClient, admin: Path, audit: Audit, n: int, idle_seconds: float, workdir: Path
) -> dict[str, Any]:
    namespace = f"bench-op-{n}-{int(time.time())}"
    ca = certs.create_root_ca("Bench CA", validity=dt.timedelta(days=3650))
    await prepare_namespace(client, namespace, ca)
    kubeconfig = await service_account_kubeconfig(
        client, namespace, admin, workdir / "op.kubeconfig"
    )
    user = f"system:serviceaccount:{namespace}:{operator_workload.NAME}"
    port = _free_port()
    env = {
        **os.environ,
        "PROMPTSALES_OPERATOR_KUBECONFIG": str(kubeconfig),
        "PROMPTSALES_OPERATOR_NAMESPACE": namespace,
        "PROMPTSALES_OPERATOR_PROBE_PORT": str(port),
        "PROMPTSALES_OPERATOR_PROBE_HOST": "127.0.0.1",
        "PROMPTSALES_OPERATOR_LOG_LEVEL": os.environ.get("BENCH_OPERATOR_LOG_LEVEL", "WARNING"),
        # The same number of requests in flight as the reference and the creator.
        "PROMPTSALES_OPERATOR_API_CONNECTIONS": str(CONCURRENCY),
    }
    log_path = workdir / f"operator-{n}.log"
    # BENCH_OPERATOR_PREFIX wraps the command, e.g. "py-spy record -o op.svg --" to profile.
    prefix = os.environ.get("BENCH_OPERATOR_PREFIX", "").split()
    log = await asyncio.to_thread(log_path.open, "w")
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "promptsales_operator",
        "run",
        env=env,
        stdout=log,
        stderr=log,
    )
    log.close()
    try:
        await _wait_http(f"http://127.0.0.1:{port}/readyz", proc, log_path)
        await asyncio.sleep(1.0)  # the initial listing of an empty namespace passes
        mark = audit.mark()
        cpu_before = _cpu_seconds(proc.pid)
        started = time.perf_counter()

        async def create(i: int) -> None:
            await client.create(path(GROUP_VERSION, PLURAL, namespace), campaign(namespace, i))

        await _gather_limited(n, create)
        created_seconds = time.perf_counter() - started
        while await _count_ready(client, namespace) < n:
            if proc.returncode is not None:
                raise RuntimeError(f"operator exited; see {log_path}")
            await asyncio.sleep(max(0.25, n / 2000))  # polling costs the server too
        ready_seconds = time.perf_counter() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
        converge = audit.verbs_since(mark, user)
        peak_mb = _proc_status(proc.pid, "VmHWM")

        await asyncio.sleep(5.0)  # trailing capacity work of the burst
        idle_mark = audit.mark()
        await asyncio.sleep(idle_seconds)
        idle = audit.verbs_since(idle_mark, user)
        idle_rss = _proc_status(proc.pid, "VmRSS")
        idle_peak = _proc_status(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        try:
            async with asyncio.timeout(20):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
    reads = sum(converge[v] for v in ("get", "list"))
    writes = sum(converge[v] for v in ("create", "patch", "update", "delete"))
    return {
        "namespace": namespace,
        "seconds_to_create_all": round(created_seconds, 2),
        "seconds_to_all_ready": round(ready_seconds, 2),
        "ready_after_last_create_seconds": round(ready_seconds - created_seconds, 2),
        "operator_requests_by_verb": dict(converge),
        "operator_reads_per_campaign": round(reads / n, 2),
        "operator_writes_per_campaign": round(writes / n, 2),
        "operator_cpu_seconds": round(cpu, 2),
        "operator_peak_rss_mb_converging": round(peak_mb, 1),
        "idle_window_seconds": idle_seconds,
        "idle_requests_by_verb": dict(idle),
        "idle_reads_per_minute": round(
            sum(idle[v] for v in ("get", "list")) * 60 / idle_seconds, 1
        ),
        "idle_writes_per_minute": round(
            sum(idle[v] for v in ("create", "patch", "update", "delete")) * 60 / idle_seconds, 1
        ),
        "operator_rss_mb_idle": round(idle_rss, 1),
        "operator_peak_rss_mb": round(idle_peak, 1),
    }


async def _wait_http(url: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                raise RuntimeError(f"operator exited; see {log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"operator not ready; see {log}")


# --- the reference: the same writes, same concurrency, no operator ----------------------


async def reference_writes(kubeconfig: Path, namespace: str, n: int) -> float:
    """Create each campaign and write what the operator writes for it; nothing is read."""
    connection = load_connection(str(kubeconfig))
    async with KubeClient(connection, limit=CONCURRENCY) as client:
        secret = await client.get(path("v1", "secrets", namespace, "promptsales-ca"))
        ca = certdecide.load_platform_ca(secret, "promptsales-ca")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Warmed as the operator is when the campaigns arrive: its connections open and its
        # certificate code run once, outside the timer.
        ca_url = path("v1", "secrets", namespace, "promptsales-ca")
        await asyncio.gather(*(client.get(ca_url) for _ in range(CONCURRENCY)))
        certs.issue_client_certificate(
            ca.authority, campaign_name="warm-up", campaign_id="1", role="marketing"
        )

        async def one(i: int) -> None:
            body = await client.create(
                path(GROUP_VERSION, PLURAL, namespace), campaign(namespace, i)
            )
            name, uid = body["metadata"]["name"], body["metadata"]["uid"]
            cronjob = etl_cronjob.build_etl_cronjob(
                etl_cronjob.EtlCronJobSpec(name, uid, str(i + 1), namespace, schedule="0 0 1 1 *")
            )
            issued = certs.issue_client_certificate(
                ca.authority, campaign_name=name, campaign_id=str(i + 1), role="marketing"
            )
            identity = certdecide.client_identity(name, str(i + 1), "marketing")
            tls = campaign_certificate.build_tls_secret(
                name=names.certificate_secret_name(name),
                namespace=namespace,
                component="certificate",
                pem_data=certs.tls_secret_data(issued, ca.bundle),
                annotations=certdecide.annotations_for(
                    issued.certificate, ca, identity, dt.timedelta(days=30)
                ),
                campaign=name,
                owner_uid=uid,
            )
            await client.create(path("batch/v1", "cronjobs", namespace), cronjob)
            await client.create(path("v1", "secrets", namespace), tls)
            await client.patch(
                path(GROUP_VERSION, PLURAL, namespace, name, "status"),
                {"status": {"phase": "Active", "observedGeneration": 1}},
            )
            for reason in ("CronJobCreated", "CertificateIssued", "PhaseChanged"):
                await client.create(
                    path("v1", "events", namespace),
                    {
                        "metadata": {"generateName": f"{name}.", "namespace": namespace},
                        "involvedObject": {
                            "apiVersion": GROUP_VERSION,
                            "kind": "PromptSalesCampaign",
                            "name": name,
                            "namespace": namespace,
                            "uid": uid,
                        },
                        "type": "Normal",
                        "reason": reason,
                        "message": reason,
                        "firstTimestamp": now,
                        "lastTimestamp": now,
                        "count": 1,
                        "source": {"component": "bench-reference"},
                    },
                )

        started = time.perf_counter()
        await _gather_limited(n, one)
        return time.perf_counter() - started


async def reference_run(client: KubeClient, admin: Path, n: int) -> dict[str, Any]:
    namespace = f"bench-ref-{n}-{int(time.time())}"
    ca = certs.create_root_ca("Bench CA", validity=dt.timedelta(days=3650))
    await prepare_namespace(client, namespace, ca)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.operator_converge", "--reference-only",
        "--kubeconfig", str(admin), "--namespace", namespace, "--sizes", str(n),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the reference run failed (exit {child.returncode})")
    seconds = float(out.decode().strip().splitlines()[-1])
    return {"reference_namespace": namespace, "reference_seconds": round(seconds, 2)}


async def cleanup(client: KubeClient, namespaces: list[str]) -> None:
    for namespace in namespaces:
        with contextlib.suppress(ApiError):
            await client.delete(f"/api/v1/namespaces/{namespace}")


async def install_crd(client: KubeClient) -> None:
    """The CRD as `kubectl apply --server-side` would leave it, then wait until it serves."""
    url = path("apiextensions.k8s.io/v1", "customresourcedefinitions", None, CRD_NAME)
    await client.patch(
        f"{url}?fieldManager=promptsales-bench&force=true",
        campaign_crd(),
        content_type="application/apply-patch+yaml",
    )
    for _ in range(600):
        crd = await client.get(url)
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"CRD {CRD_NAME} not Established after 60 s")
    # The first object of a new CRD costs the server its storage set-up; neither timed run
    # should pay it.
    collection = path(GROUP_VERSION, PLURAL, "default")
    warm = await client.create(collection, campaign("default", 0))
    await client.delete(f"{collection}/{warm['metadata']['name']}")


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    admin = Path(args.kubeconfig)
    audit = Audit(Path(args.audit_log))
    rows = []
    connection = load_connection(str(admin))
    async with KubeClient(connection, limit=CONCURRENCY, read_timeout=300) as client:
        await install_crd(client)
        with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
            for n in args.sizes:
                workdir = Path(args.keep_logs or tmp) / str(n)
                workdir.mkdir(parents=True, exist_ok=True)
                row: dict[str, Any] = {"campaigns": n}
                row |= await reference_run(client, admin, n)
                row |= await operator_run(client, admin, audit, n, args.idle_seconds, workdir)
                row["ratio_operator_to_reference"] = round(
                    row["seconds_to_all_ready"] / row["reference_seconds"], 2
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not args.keep_namespaces:
                    await cleanup(client, [row["namespace"], row["reference_namespace"]])
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'N':>6} {'ready s':>8} {'ref s':>7} {'ratio':>6} {'reads/c':>7} {'writes/c':>8} "
        f"{'idle r/min':>10} {'idle w/min':>10} {'peak MB':>8} {'idle MB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['campaigns']:>6} {r['seconds_to_all_ready']:>8} {r['reference_seconds']:>7} "
            f"{r['ratio_operator_to_reference']:>6} {r['operator_reads_per_campaign']:>7} "
            f"{r['operator_writes_per_campaign']:>8} {r['idle_reads_per_minute']:>10} "
            f"{r['idle_writes_per_minute']:>10} {r['operator_peak_rss_mb']:>8} "
            f"{r['operator_rss_mb_idle']:>8}"
        )
    return "\n".join(lines)


def _server_version(kubeconfig: Path) -> str:
    async def ask() -> str:
        async with KubeClient(load_connection(str(kubeconfig))) as client:
            return str((await client.get("/version")).get("gitVersion"))

    return asyncio.run(ask())


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("PROMPTSALES_TEST_KUBECONFIG"))
    parser.add_argument("--audit-log", default=os.environ.get("PROMPTSALES_TEST_KUBE_AUDIT_LOG"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--keep-logs", help="directory for the operator logs (kept)")
    parser.add_argument("--keep-namespaces", action="store_true")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.kubeconfig:
        parser.error(
            "needs a real API server: --kubeconfig (an admin kubeconfig, e.g. from "
            "`scripts/kube-control-plane.sh start`) and --audit-log"
        )
    if args.reference_only:
        print(asyncio.run(reference_writes(Path(args.kubeconfig), args.namespace, args.sizes[0])))
        return
    if not args.audit_log:
        parser.error("--audit-log: the API server's audit log (counts the operator's requests)")
    rows = asyncio.run(main(args))
    print(_table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "operator_converge",
                "api_server": _server_version(Path(args.kubeconfig)),
                "reference": (
                    "the same writes (campaign, CronJob, Secret, status, three Events) with "
                    f"{CONCURRENCY} requests in flight, nothing read, in a process of its own"
                ),
                "targets": {
                    "idle_reads_per_minute": 0,
                    "idle_writes_per_minute": 0,
                    "rss_mb_at_1000": 150,
                    "rss_mb_at_10000": 250,
                },
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    cli()
