"""``promptsales up --kubeconfig``: the operator against a real cluster instead of the preview.

The offline preview shows what the operator *would* do; with a kubeconfig the person
chose explicitly (never picked up silently: ``up`` must not touch a cluster nobody named),
this installs the CRD, the platform namespace and CA Secret, applies the example
campaigns, runs the operator as a managed local process and reads back what it created.
Requests go through httpx with the operator's own credential loading
(:func:`promptsales_operator.kube.load_connection`), so ``up`` reaches the cluster exactly
as the operator will. Every step is idempotent: an existing CA Secret is never replaced
(certificates already issued in the cluster chain to it).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes.config import ConfigException, list_kube_config_contexts

import certs
from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.progress import StepFailedError
from promptsales_operator.kube import load_connection
from workloads.capacity import SCALED_WORKLOADS
from workloads.common import (
    CRD_KIND,
    CRD_PLURAL,
    CRD_VERSION,
    GROUP,
)
from workloads.names import certificate_secret_name, etl_cronjob_name

Obj = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = REPO_ROOT / "crds" / f"{CRD_PLURAL}.{GROUP}.yaml"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CA_SECRET = "promptsales-ca"  # noqa: S105 (a Secret name)
OPERATOR_PROCESS = "operator"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


class ClusterError(StepFailedError):
    """The cluster step cannot go on; names the kubeconfig, context and what failed."""


@dataclass
class Cluster:
    """An API server that answered, with the kubeconfig and context it came from."""

    kubeconfig: Path
    context: str
    server: str
    namespace: str
    http: httpx.Client

    def where(self) -> str:
        return f"kubeconfig {self.kubeconfig} (context {self.context}, server {self.server})"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; transport failures and 5xx become a ClusterError naming the call."""
        try:
            answer = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClusterError(f"{self.where()}: {method} {path} failed: {exc}") from None
        if answer.status_code >= 500 or answer.status_code in {401, 403}:
            raise ClusterError(
                f"{self.where()}: {method} {path} answered {answer.status_code} {_reason(answer)}"
            )
        return answer

    def close(self) -> None:
        self.http.close()


def _reason(answer: httpx.Response) -> str:
    """The API's own Status reason/message (never the request, which may hold keys)."""
    try:
        body = answer.json()
    except ValueError:
        return answer.reason_phrase
    if isinstance(body, dict):
        return f"{body.get('reason', '')}: {body.get('message', '')}".strip(": ")
    return answer.reason_phrase


def connect(kubeconfig: Path, namespace: str, timeout_s: float = 5.0) -> Cluster:
    """Check the API server answers ``/version`` with these credentials, before any change.

    Run first, so a wrong or unreachable kubeconfig stops ``up`` with a clear message and
    nothing has been created anywhere.
    """
    path = kubeconfig.expanduser().resolve()
    if not path.is_file():
        raise ClusterError(f"--kubeconfig {kubeconfig}: no such file")
    try:
        _, active = list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
        connection = load_connection(str(path))
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ClusterError(f"kubeconfig {path}: cannot be loaded: {exc}") from None
    context = str((active or {}).get("name", "?"))
    headers = {"Accept": "application/json"}
    if connection.token:
        headers["Authorization"] = f"Bearer {connection.token}"
    http = httpx.Client(
        base_url=connection.server,
        headers=headers,
        verify=connection.ssl_context(),
        timeout=timeout_s,
    )
    cluster = Cluster(path, context, connection.server, namespace, http)
    try:
        answer = cluster.request("GET", "/version")
        if answer.status_code != 200:
            raise ClusterError(
                f"{cluster.where()}: GET /version answered {answer.status_code} {_reason(answer)}"
            )
    except ClusterError as exc:
        http.close()
        raise ClusterError(f"the API server is not reachable: {exc}") from None
    return cluster


def apply(cluster: Cluster, collection: str, body: Obj) -> str:
    """Create, or merge-patch to the file's content: ``created``/``updated``/``unchanged``.

    A no-op patch leaves ``resourceVersion`` alone on an API server, which tells an
    update from a re-run that changed nothing.
    """
    name = body["metadata"]["name"]
    current = cluster.request("GET", f"{collection}/{name}")
    if current.status_code == 404:
        created = cluster.request("POST", collection, json=body)
        if created.status_code not in {200, 201}:
            raise ClusterError(
                f"{cluster.where()}: creating {name} answered {created.status_code} "
                f"{_reason(created)}"
            )
        return "created"
    before = current.json()["metadata"].get("resourceVersion")
    patch = {key: value for key, value in body.items() if key not in {"status", "kind"}}
    answer = cluster.request("PATCH", f"{collection}/{name}", json=patch, headers=MERGE_PATCH)
    if answer.status_code != 200:
        raise ClusterError(
            f"{cluster.where()}: updating {name} answered {answer.status_code} {_reason(answer)}"
        )
    return "unchanged" if answer.json()["metadata"].get("resourceVersion") == before else "updated"


def install_crd(cluster: Cluster, crd_file: Path = CRD_FILE, timeout_s: float = 30.0) -> str:
    """Apply the CRD and wait until it is Established: campaigns posted earlier get 404."""
    crd = yaml.safe_load(crd_file.read_text())
    outcome = apply(cluster, CRD_PATH, crd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = cluster.request("GET", f"{CRD_PATH}/{crd['metadata']['name']}").json()
        if _condition(status, "Established").get("status") == "True":
            return outcome
        time.sleep(0.2)
    raise ClusterError(f"{cluster.where()}: the CRD was not Established in {timeout_s:g}s")


def ensure_namespace(cluster: Cluster) -> str:
    """The platform namespace, where the operator watches campaigns."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}}
    if cluster.request("GET", f"/api/v1/namespaces/{cluster.namespace}").status_code == 200:
        return "kept"
    return apply(cluster, "/api/v1/namespaces", body)


def ca_secret_manifest(namespace: str, ca_cert: Path, ca_key: Path) -> Obj:
    """``promptsales-ca`` from the local CA files, in the layout the operator reads.

    ``ca.crt`` is the local trust bundle (both CAs while a local rollover runs); the
    certificate ``ca.key`` belongs to is the signing CA.
    """
    bundle = certs.load_certificates(ca_cert.read_text(), field=str(ca_cert))
    authority = certs.authority_for_key(
        bundle, certs.load_private_key(ca_key.read_text(), field=str(ca_key)), field=str(ca_cert)
    )
    data = certs.tls_secret_data(authority, certs.trust_bundle(authority, *bundle))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": CA_SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "promptsales"},
        },
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def ensure_ca_secret(cluster: Cluster, ca_cert: Path, ca_key: Path) -> str:
    """Create the CA Secret once; an existing one is kept, never replaced.

    Certificates the operator already issued chain to the CA in the cluster; replacing it
    would silently invalidate them (a rollover is ``certs``' job, with both CAs trusted).
    """
    collection = f"/api/v1/namespaces/{cluster.namespace}/secrets"
    if cluster.request("GET", f"{collection}/{CA_SECRET}").status_code == 200:
        return "kept"
    answer = cluster.request(
        "POST", collection, json=ca_secret_manifest(cluster.namespace, ca_cert, ca_key)
    )
    if answer.status_code not in {200, 201}:  # the body is not echoed: it holds the key
        raise ClusterError(f"{cluster.where()}: creating Secret {CA_SECRET}: {_reason(answer)}")
    return "created"


def load_campaign_manifests(examples_dir: Path, namespace: str) -> list[Obj]:
    """The example campaigns as manifests (``examples/invalid`` is not globbed)."""
    manifests: list[Obj] = []
    for path in sorted(examples_dir.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == CRD_KIND:
                document["metadata"]["namespace"] = namespace
                manifests.append(document)
    return manifests


def campaigns_path(namespace: str) -> str:
    return f"/apis/{GROUP}/{CRD_VERSION}/namespaces/{namespace}/{CRD_PLURAL}"


def apply_campaigns(cluster: Cluster, manifests: list[Obj]) -> dict[str, str]:
    """Apply each campaign (schema and CEL rules rejections surface as 422 errors)."""
    collection = campaigns_path(cluster.namespace)
    return {m["metadata"]["name"]: apply(cluster, collection, m) for m in manifests}


def operator_command(cluster: Cluster) -> list[str]:
    """The operator container's command (``python -m promptsales_operator run``)."""
    return [
        sys.executable, "-m", "promptsales_operator", "run",
        "--kubeconfig", str(cluster.kubeconfig), "--namespace", cluster.namespace,
        "--probe-port", "0",
    ]  # fmt: skip


def start_operator(cluster: Cluster, home: Path) -> tuple[ManagedProcess, str]:
    """Start the operator, or keep the one a previous ``up`` started for this cluster.

    One running against another kubeconfig or namespace is restarted: two operators on
    one namespace would fight, and one on a forgotten cluster would keep writing there.
    """
    process = ManagedProcess(OPERATOR_PROCESS, home)
    command = operator_command(cluster)
    pid = process.pid()
    if pid is not None:
        running = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if running[: len(command)] == [part.encode() for part in command]:
            return process, "already running"
        process.stop()
    process.start(command, env={"PROMPTSALES_OPERATOR_LOG_LEVEL": "INFO"})
    return process, "started"


def _condition(obj: Obj, kind: str) -> Obj:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _workload_path(cluster: Cluster, plural: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{cluster.namespace}/{plural}/{name}"


def missing_workloads(cluster: Cluster) -> list[str]:
    """Shared workloads absent from the namespace (``pulumi up`` creates them): the MCP
    server Deployment and the cache's data StatefulSet.

    Without them the operator cannot scale capacity and no campaign can be Ready, so the
    wait then settles for the ETL CronJob and certificate and says why.
    """
    return [
        w.name
        for w in SCALED_WORKLOADS
        if cluster.request("GET", _workload_path(cluster, w.plural, w.name)).status_code == 404
    ]


@dataclass(frozen=True)
class CampaignOutcome:
    """Where one campaign ended: Ready, Stalled (with the reason), or still converging."""

    name: str
    state: str
    reason: str = ""
    message: str = ""


def _outcome(obj: Obj, absent: list[str]) -> CampaignOutcome | None:
    """Ready or Stalled settle a campaign. With shared workloads absent, Ready cannot
    hold (the operator's capacity worker fails, on its own debounced schedule), so the
    ETL CronJob and certificate settle it and the absence is named instead."""
    name = obj["metadata"]["name"]
    stalled = _condition(obj, "Stalled")
    if stalled.get("status") == "True":
        return CampaignOutcome(
            name, "Stalled", stalled.get("reason", ""), stalled.get("message", "")
        )
    if absent:
        if all(
            _condition(obj, kind).get("status") == "True"
            for kind in ("EtlScheduled", "CertificateReady")
        ):
            message = f"{', '.join(absent)} not in the namespace; replicas not applied"
            return CampaignOutcome(name, "Ready except capacity", "SharedWorkloadsAbsent", message)
        return None
    if _condition(obj, "Ready").get("status") == "True":
        return CampaignOutcome(name, "Ready")
    return None


def wait_for_campaigns(
    cluster: Cluster,
    names: list[str],
    process: ManagedProcess,
    *,
    absent: list[str] | None = None,
    timeout_s: float = 120.0,
) -> list[CampaignOutcome]:
    """Poll campaign status until each is Ready or Stalled; a dead operator or the
    deadline fails with the operator's log, since that is where the cause is."""
    deadline = time.monotonic() + timeout_s
    settled: dict[str, CampaignOutcome] = {}
    objs: dict[str, Obj] = {}
    while time.monotonic() < deadline:
        answer = cluster.request("GET", campaigns_path(cluster.namespace))
        objs = {o["metadata"]["name"]: o for o in answer.json().get("items", [])}
        settled = {
            name: outcome
            for name in names
            if name in objs and (outcome := _outcome(objs[name], absent or [])) is not None
        }
        if len(settled) == len(names):
            return [settled[name] for name in names]
        if process.pid() is None:
            raise ClusterError(f"the operator exited; its log:\n{process.log_tail(30)}")
        time.sleep(0.5)
    pending = [
        f"{name}: phase {(objs.get(name, {}).get('status') or {}).get('phase', 'none')}, "
        f"Reconciling {_condition(objs.get(name, {}), 'Reconciling').get('message', '')}"
        for name in names
        if name not in settled
    ]
    raise ClusterError(
        f"campaigns not Ready after {timeout_s:g}s:\n  "
        + "\n  ".join(pending)
        + f"\noperator log ({process.log_file}):\n{process.log_tail(20)}"
    )


@dataclass(frozen=True)
class CreatedObjects:
    """What the operator made for one campaign, read back from the API."""

    outcome: CampaignOutcome
    cronjob: str | None
    schedule: str | None
    suspend: bool | None
    secret: str | None
    secret_keys: tuple[str, ...] = ()
    certificate_subject: str | None = None
    certificate_not_after: dt.datetime | None = None


@dataclass(frozen=True)
class ClusterReport:
    """The cluster step's real outcome, for the printout and the tests."""

    where: str
    namespace: str
    crd: str
    ca_secret: str
    applied: dict[str, str]
    operator: str
    operator_log: Path
    campaigns: list[CreatedObjects]
    replicas: dict[str, int | None] = field(default_factory=dict)


def read_back(cluster: Cluster, outcomes: list[CampaignOutcome]) -> list[CreatedObjects]:
    """Each campaign's CronJob and certificate Secret as stored (Secret keys listed, the
    certificate's subject and expiry decoded; key material never leaves this function)."""
    ns = cluster.namespace
    created: list[CreatedObjects] = []
    for outcome in outcomes:
        cron_name, secret_name = (
            etl_cronjob_name(outcome.name),
            certificate_secret_name(outcome.name),
        )
        cron = cluster.request("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{cron_name}")
        secret = cluster.request("GET", f"/api/v1/namespaces/{ns}/secrets/{secret_name}")
        spec = cron.json().get("spec", {}) if cron.status_code == 200 else {}
        subject = not_after = None
        keys: tuple[str, ...] = ()
        if secret.status_code == 200:
            data = secret.json().get("data") or {}
            keys = tuple(sorted(data))
            if "tls.crt" in data:
                leaf = certs.load_certificate(base64.b64decode(data["tls.crt"]), field="tls.crt")
                subject, not_after = leaf.subject.rfc4514_string(), leaf.not_valid_after_utc
        created.append(
            CreatedObjects(
                outcome=outcome,
                cronjob=cron_name if cron.status_code == 200 else None,
                schedule=spec.get("schedule"),
                suspend=spec.get("suspend", False) if spec else None,
                secret=secret_name if secret.status_code == 200 else None,
                secret_keys=keys,
                certificate_subject=subject,
                certificate_not_after=not_after,
            )
        )
    return created


def read_replicas(cluster: Cluster) -> dict[str, int | None]:
    """``spec.replicas`` of the shared workloads the operator scales (None: absent)."""
    replicas: dict[str, int | None] = {}
    for w in SCALED_WORKLOADS:
        answer = cluster.request("GET", _workload_path(cluster, w.plural, w.name))
        replicas[w.name] = (
            int(answer.json().get("spec", {}).get("replicas", 1))
            if answer.status_code == 200
            else None
        )
    return replicas


def deploy(
    cluster: Cluster,
    *,
    home: Path,
    ca_cert: Path,
    ca_key: Path,
    examples_dir: Path,
    timeout_s: float = 120.0,
) -> ClusterReport:
    """CRD, namespace, CA Secret, campaigns, operator, then wait and read back."""
    crd = install_crd(cluster)
    ensure_namespace(cluster)
    ca = ensure_ca_secret(cluster, ca_cert, ca_key)
    manifests = load_campaign_manifests(examples_dir, cluster.namespace)
    applied = apply_campaigns(cluster, manifests)
    process, operator = start_operator(cluster, home)
    absent = missing_workloads(cluster)
    outcomes = wait_for_campaigns(
        cluster, list(applied), process, absent=absent, timeout_s=timeout_s
    )
    return ClusterReport(
        where=cluster.where(),
        namespace=cluster.namespace,
        crd=crd,
        ca_secret=ca,
        applied=applied,
        operator=f"{operator} (pid {process.pid()})",
        operator_log=process.log_file,
        campaigns=read_back(cluster, outcomes),
        replicas=read_replicas(cluster),
    )


def render(report: ClusterReport) -> str:
    """What the operator created, as read back from the API server."""
    lines = [
        f"Operator on the cluster ({report.where}), namespace {report.namespace}:",
        f"  CRD {CRD_PLURAL}.{GROUP} {report.crd}; Secret {CA_SECRET} {report.ca_secret}; "
        f"operator {report.operator}, log {report.operator_log}",
    ]
    for item in report.campaigns:
        out = item.outcome
        state = out.state + (f" ({out.reason}: {out.message})" if out.reason else "")
        lines.append(f"  PromptSalesCampaign {out.name} ({report.applied.get(out.name)}): {state}")
        if item.cronjob:
            lines.append(
                f"    CronJob {item.cronjob}: schedule '{item.schedule}', suspend={item.suspend}"
            )
        if item.secret:
            expiry = f"{item.certificate_not_after:%Y-%m-%d}" if item.certificate_not_after else "?"
            lines.append(
                f"    Secret {item.secret} ({', '.join(item.secret_keys)}): "
                f"{item.certificate_subject}, notAfter {expiry}"
            )
    capacity = ", ".join(
        f"{name} replicas {count}" if count is not None else f"{name} absent (pulumi up creates it)"
        for name, count in report.replicas.items()
    )
    lines.append(f"  Capacity: {capacity}")
    return "\n".join(lines)


def kubeconfig_hint() -> str | None:
    """A pointer to cluster mode when a kubeconfig is lying around, since ``up`` never
    uses one unasked (the default one may well be a production cluster)."""
    for candidate in (os.environ.get("KUBECONFIG", ""), "~/.kube/config"):
        first = candidate.split(os.pathsep)[0]
        if first and Path(first).expanduser().is_file():
            return (
                f"A kubeconfig exists at {first}: `promptsales up --kubeconfig {first}` installs "
                "the CRD and runs the operator on that cluster instead of this preview."
            )
    return None
