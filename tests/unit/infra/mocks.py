"""Pulumi mocks that answer like the engine would for this program's resource types.

The dynamic PKI resources are answered by running their real providers' ``create`` (so
the certificates in the captured Secrets are real and chain to the captured CA);
``RandomPassword`` gets a deterministic value; a read of an existing Secret (external
database mode) answers from ``existing_secrets``. Everything else echoes its inputs.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import pulumi

from infra.pki import RootCaProvider, ServerCertificateProvider

SECRET_SIG = "4dabf18193072939515e22adb298388d"
DYNAMIC = "pulumi-python:dynamic:Resource"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
CIVO_CLUSTER = "civo:index/kubernetesCluster:KubernetesCluster"


def unwrap(value: Any) -> Any:
    """Wire form → plain Python: secrets unwrapped, whole floats back to ints."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unwrap(value.get("value"))
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def mock_bytes(name: str, length: int) -> str:
    """The base64 value the mock gives a ``RandomBytes`` resource (deterministic)."""
    return base64.b64encode(hashlib.sha256(name.encode()).digest()[:length]).decode()


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


@dataclasses.dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]  # wire form, secrets still wrapped
    read_id: str | None

    @property
    def plain(self) -> dict[str, Any]:
        plain: dict[str, Any] = unwrap(self.inputs)
        return plain


class PlatformMocks(pulumi.runtime.Mocks):
    def __init__(self, existing_secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.registered: list[Registered] = []
        self.existing_secrets = existing_secrets or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs), args.resource_id))
        outputs = dict(args.inputs)
        if args.typ == DYNAMIC:
            props = {k: v for k, v in unwrap(args.inputs).items() if not k.startswith("__")}
            provider = ServerCertificateProvider() if "dns_names" in props else RootCaProvider()
            result = provider.create(props)
            return result.id, {**outputs, **(result.outs or {})}
        if args.typ == CIVO_CLUSTER:
            outputs["kubeconfig"] = f"apiVersion: v1\nkind: Config\n# {args.name}\n"
        if args.typ == RANDOM_BYTES:
            outputs["base64"] = mock_bytes(args.name, int(args.inputs["length"]))
        if args.typ == RANDOM_PASSWORD:
            outputs["result"] = f"Mock-{args.name}-Pw9"
        if args.typ == "kubernetes:core/v1:Secret" and args.resource_id:
            stored = self.existing_secrets[args.resource_id]
            outputs["data"] = {
                key: base64.b64encode(value.encode()).decode() for key, value in stored.items()
            }
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []

    # --- views for assertions ---

    def kubernetes(self) -> list[Registered]:
        """Declared (not read) Kubernetes objects."""
        return [r for r in self.registered if r.typ.startswith("kubernetes:") and not r.read_id]

    def manifests(self) -> list[dict[str, Any]]:
        return [r.plain for r in self.kubernetes()]

    def find(self, kind: str, name: str, namespace: str | None = None) -> Registered:
        for r in self.kubernetes():
            meta = r.plain.get("metadata", {})
            same = r.plain.get("kind") == kind and meta.get("name") == name
            if same and (namespace is None or meta.get("namespace") == namespace):
                return r
        raise AssertionError(f"no {kind} {namespace}/{name} declared")
