"""A real Kubernetes API server for the cluster suite (``tests/cluster``).

The suite runs against the cluster named by ``PROMPTSALES_TEST_KUBECONFIG`` (an admin
kubeconfig; ``scripts/kube-control-plane.sh`` starts etcd, kube-apiserver and
kube-controller-manager on loopback and writes one). ``PROMPTSALES_TEST_KUBE_AUDIT_LOG``
names the API server's audit log, from which the suite counts the operator's requests.

Talks to the cluster the way its users do: ``kubectl`` (server-side apply, ``get psc``)
and the ``kubernetes`` client for reads and edits. The operator runs as its own
ServiceAccount, with a token from the TokenRequest API, as a real subprocess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

KUBECONFIG_ENV = "PROMPTSALES_TEST_KUBECONFIG"
AUDIT_LOG_ENV = "PROMPTSALES_TEST_KUBE_AUDIT_LOG"
REPO_ROOT = Path(__file__).resolve().parents[2]
NS = "promptsales"
DATA_NS = "promptsales-data"
OPERATOR_SA = "promptsales-operator"
OPERATOR_USER = f"system:serviceaccount:{NS}:{OPERATOR_SA}"
GROUP, VERSION, PLURAL = "promptsales.io", "v1alpha1", "promptsalescampaigns"

Obj = dict[str, Any]


def configured() -> Path | None:
    value = os.environ.get(KUBECONFIG_ENV)
    return Path(value) if value else None


@dataclasses.dataclass
class Cluster:
    """An admin connection to the real API server, and kubectl pointed at it."""

    kubeconfig: Path
    api: k8s.ApiClient

    @classmethod
    def connect(cls, kubeconfig: Path) -> Cluster:
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        return cls(kubeconfig, api)

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @property
    def batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self.api)

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; ``check`` fails with kubectl's own words."""
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl is needed on PATH for the cluster suite"
        done = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def server_side_apply(
        self, text: str, *, strict: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ["apply", "--server-side", "--field-manager=promptsales-test", "-f", "-"]
        if strict:
            args.append("--validate=strict")
        return self.kubectl(*args, stdin=text, check=False)

    # --- campaigns ---

    def campaign(self, name: str) -> Obj | None:
        try:
            obj = cast(
                Obj, self.custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def campaigns(self) -> list[Obj]:
        listed = cast(Obj, self.custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL))
        items: list[Obj] = listed["items"]
        return items

    def patch_campaign(self, name: str, body: Obj) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, body)

    def delete_campaign(self, name: str) -> None:
        with contextlib.suppress(ApiException):
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)

    # --- built-in kinds as plain dicts (the client's models, serialized) ---

    def _api(self, kind: str) -> tuple[Any, str]:
        return {
            "cronjob": (self.batch, "cron_job"),
            "job": (self.batch, "job"),
            "secret": (self.core, "secret"),
            "pod": (self.core, "pod"),
            "deployment": (self.apps, "deployment"),
            "statefulset": (self.apps, "stateful_set"),
            "service": (self.core, "service"),
        }[kind]

    def _plain(self, model: Any) -> Obj:
        plain: Obj = self.api.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
        return plain

    def read(self, kind: str, name: str) -> Obj | None:
        api, suffix = self._api(kind)
        try:
            return self._plain(getattr(api, f"read_namespaced_{suffix}")(name, NS))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, selector: str | None = None) -> list[Obj]:
        api, suffix = self._api(kind)
        listed = getattr(api, f"list_namespaced_{suffix}")(NS, label_selector=selector or "")
        return [self._plain(item) for item in listed.items]

    def patch(self, kind: str, name: str, body: Obj) -> Obj:
        api, suffix = self._api(kind)
        return self._plain(getattr(api, f"patch_namespaced_{suffix}")(name, NS, body))

    def delete(self, kind: str, name: str) -> None:
        api, suffix = self._api(kind)
        getattr(api, f"delete_namespaced_{suffix}")(name, NS)

    def namespace_labels(self, name: str) -> dict[str, str]:
        labels: dict[str, str] = self._plain(self.core.read_namespace(name))["metadata"].get(
            "labels", {}
        )
        return labels

    # --- the operator's identity ---

    def service_account_kubeconfig(self, path: Path, *, hours: int = 2) -> Path:
        """A kubeconfig for the operator's ServiceAccount, token from the TokenRequest API."""
        request = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=hours * 3600)
        )
        answer = self.core.create_namespaced_service_account_token(OPERATOR_SA, NS, request)
        assert answer.status is not None
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]["cluster"]
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "cluster", "cluster": cluster}],
                    "users": [{"name": OPERATOR_SA, "user": {"token": answer.status.token}}],
                    "contexts": [
                        {
                            "name": "operator",
                            "context": {
                                "cluster": "cluster",
                                "user": OPERATOR_SA,
                                "namespace": NS,
                            },
                        }
                    ],
                    "current-context": "operator",
                }
            )
        )
        path.chmod(0o600)
        return path


@dataclasses.dataclass
class OperatorProcess:
    """``python -m promptsales_operator run`` (the container's command) as a subprocess."""

    kubeconfig: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env, "PROMPTSALES_OPERATOR_KUBECONFIG": str(self.kubeconfig)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "promptsales_operator", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a node loss or OOM kill gives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``predicate`` every 50 ms until truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def condition(obj: Obj | None, kind: str) -> Obj:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def is_ready(obj: Obj | None) -> bool:
    return condition(obj, "Ready").get("status") == "True"


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    user: str
    verb: str
    resource: str
    subresource: str
    name: str


class AuditLog:
    """The API server's audit log (Metadata level, one JSON object per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """A position to read from: what is logged after now."""
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, position: int, user: str = OPERATOR_USER) -> list[AuditEntry]:
        entries = []
        with self.path.open("rb") as handle:
            handle.seek(position)
            for raw in handle:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if event.get("stage") != "ResponseComplete":
                    continue
                if (event.get("user") or {}).get("username") != user:
                    continue
                ref = event.get("objectRef") or {}
                entries.append(
                    AuditEntry(
                        user=user,
                        verb=str(event.get("verb")),
                        resource=str(ref.get("resource", event.get("requestURI", ""))),
                        subresource=str(ref.get("subresource", "")),
                        name=str(ref.get("name", "")),
                    )
                )
        return entries


def requests_by_verb(entries: list[AuditEntry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.verb] = counts.get(entry.verb, 0) + 1
    return counts


def wait_namespace_gone(cluster: Cluster, name: str, timeout: float = 120.0) -> None:
    def gone() -> bool:
        try:
            cluster.core.read_namespace(name)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_until(gone, f"namespace {name} deleted", timeout)


@contextlib.contextmanager
def fresh_namespaces(cluster: Cluster) -> Iterator[None]:
    """Start from no platform namespaces (a previous run's objects would skew counts)."""
    for name in (NS, DATA_NS):
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespace(name)
    for name in (NS, DATA_NS):
        wait_namespace_gone(cluster, name)
    yield
