"""A Kubernetes API for tests: kmock 0.8's emulator made faithful enough for kopf.

kmock (pinned exactly: this subclass leans on its request parsing, recording and
discovery internals) serves HTTP, records every request and answers API discovery. Its
object store is too simple for an operator (see shared/notes/kubernetes-api-in-tests.md),
so :class:`KubeEmulator` keeps its own store and implements what an API server guarantees
and kopf and the PromptSales operator rely on:

- create fills ``uid``, ``resourceVersion``, ``creationTimestamp``, ``namespace``,
  ``generation``, ``kind``/``apiVersion``; honours ``generateName``; 409 on duplicates;
  converts Secret ``stringData`` to ``data``; runs an admission hook (CRD defaults,
  schema and CEL rules) and answers 422 on rejection;
- one global, monotonically increasing ``resourceVersion``, bumped by every real change and
  left alone by a no-op patch; a write carrying a stale ``resourceVersion`` gets 409;
- merge-patch, JSON-patch (a failed ``test`` op is 422), PUT; ``generation`` bumps on spec
  changes; the ``status`` subresource is isolated both ways;
- list and watch with label and field selectors; watches resume from a
  ``resourceVersion`` (410 Gone when too old) and honour ``timeoutSeconds``;
- finalizers and ``deletionTimestamp``; owner-reference garbage collection (background
  cascade), which no other emulator here does;
- ``dryRun`` on writes; injectable faults; counters of requests by verb for the
  "zero writes when idle" checks and the benchmark.
- opt-in (:meth:`KubeEmulator.serve_crds`): CustomResourceDefinitions sent over HTTP are
  stored, their kind served with admission and the CRD marked ``Established``.

Tests drive it in-process through :meth:`KubeEmulator.create_object`, ``patch_object``,
``delete_object``, ``get_object`` (synchronous, same semantics, not counted as API traffic).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import pytest_asyncio
import yaml
from kmock._internal import rendering

Obj = dict[str, Any]
Admission = Callable[[Obj, Obj | None], Obj]

NAMESPACES_PATH = re.compile(r"^/api/v1/namespaces(?:/([^/]+))?(?:/(status|finalize))?/?$")
WRITE_VERBS = frozenset({"create", "patch", "update", "delete"})
HISTORY_LIMIT = 50_000


class ApiStatusError(Exception):
    """An API-server answer other than success; rendered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def body(self) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """What the emulator knows about one served resource."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False

    @property
    def key(self) -> str:
        return f"{self.group}/{self.version}/{self.plural}" if self.group else f"v1/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN_TYPES = (
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap"),
    ResourceType("", "v1", "events", "Event"),
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, status_subresource=True),
    ResourceType("events.k8s.io", "v1", "events", "Event"),
    ResourceType("batch", "v1", "cronjobs", "CronJob", status_subresource=True),
    ResourceType("batch", "v1", "jobs", "Job", status_subresource=True),
    ResourceType("apps", "v1", "deployments", "Deployment", status_subresource=True),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", status_subresource=True),
)

ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]

CRD_RESOURCE = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    status_subresource=True,
)


@dataclasses.dataclass
class Fault:
    """Answer matching requests with ``status`` instead of serving them, ``times`` times."""

    verb: str
    plural: str
    status: int = 500
    name: str | None = None
    subresource: str | None = None
    times: int = 1

    def matches(self, verb: str, plural: str, name: str | None, sub: str | None) -> bool:
        return (
            self.times > 0
            and self.verb == verb
            and self.plural == plural
            and (self.name is None or self.name == name)
            and (self.subresource is None or self.subresource == sub)
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def parse_label_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """Equality- and existence-based selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    clauses: list[tuple[str, str, str | None]] = []  # (operator, key, value)
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        if "!=" in part:
            key, value = (x.strip() for x in part.split("!=", 1))
            clauses.append(("!=", key, value))
        elif "=" in part:
            key, value = (x.strip() for x in part.replace("==", "=").split("=", 1))
            clauses.append(("=", key, value))
        elif part.startswith("!"):
            clauses.append(("!exists", part[1:].strip(), None))
        else:
            clauses.append(("exists", part, None))

    def check(labels: dict[str, str]) -> bool:
        for op, key, value in clauses:
            ok = {
                "!=": labels.get(key) != value,
                "=": labels.get(key) == value,
                "!exists": key not in labels,
                "exists": key in labels,
            }[op]
            if not ok:
                return False
        return True

    return check


def parse_field_selector(text: str | None) -> Callable[[Obj], bool]:
    """``metadata.name=x`` and ``metadata.namespace=y`` (what controllers use)."""
    wanted: list[tuple[str, str, bool]] = []
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        negate = "!=" in part
        field, value = part.replace("!=", "=").replace("==", "=").split("=", 1)
        wanted.append((field.strip(), value.strip(), negate))

    def check(obj: Obj) -> bool:
        for field, value, negate in wanted:
            node: Any = obj
            for step in field.split("."):
                node = node.get(step) if isinstance(node, dict) else None
            if (str(node) == value) == negate:
                return False
        return True

    return check


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with an API-server-like store; see the module docstring."""

    types: dict[str, ResourceType] = attrs.field(factory=dict)
    admission: dict[str, Admission] = attrs.field(factory=dict)
    faults: list[Fault] = attrs.field(factory=list)
    counts: collections.Counter[tuple[str, str]] = attrs.field(factory=collections.Counter)
    write_log: list[tuple[str, str, str | None, str | None]] = attrs.field(factory=list)
    keep_requests: bool = False
    crd_admission: Callable[[Obj], Admission | None] | None = None
    _store: dict[tuple[str, str | None, str], Obj] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=1000, init=False)
    _history: collections.deque[tuple[int, str, Obj]] = attrs.field(
        factory=lambda: collections.deque(maxlen=HISTORY_LIMIT), init=False
    )
    _watchers: dict[str, set[asyncio.Queue[tuple[int, Obj] | None]]] = attrs.field(
        factory=lambda: collections.defaultdict(set), init=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for rtype in BUILTIN_TYPES:
            self.register(rtype)

    # --- registration -----------------------------------------------------------------

    def register(self, rtype: ResourceType, admission: Admission | None = None) -> None:
        """Serve a resource (built-in or custom) with every verb, and discover it."""
        self.types[rtype.key] = rtype
        self.resources[rtype.key] = kmock.ResourceInfo(
            kind=rtype.kind,
            singular=rtype.kind.lower(),
            namespaced=rtype.namespaced,
            verbs=ALL_VERBS,
            subresources=["status"] if rtype.status_subresource else [],
        )
        if admission is not None:
            self.admission[rtype.key] = admission

    def register_crd(self, crd: Obj, admission: Admission | None = None) -> ResourceType:
        """Serve the storage version of a CustomResourceDefinition manifest."""
        spec = crd["spec"]
        version = next(v for v in spec["versions"] if v.get("storage"))
        rtype = ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=spec["names"]["plural"],
            kind=spec["names"]["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in version.get("subresources", {}),
        )
        self.register(rtype, admission)
        info = self.resources[rtype.key]
        info.shortnames.update(spec["names"].get("shortNames", []))
        return rtype

    def serve_crds(self, admission_for: Callable[[Obj], Admission | None] | None = None) -> None:
        """Serve CustomResourceDefinitions over HTTP, so a client can install a CRD itself.

        As on an API server, storing a CRD serves its kind and marks it ``Established``;
        ``admission_for(crd)`` gives the admission hook for that kind (e.g. schema + CEL).
        Opt-in: kopf would otherwise discover and watch CRDs in every other test.
        """
        from tests.support.crd import admit_definition

        self.register(CRD_RESOURCE, admit_definition)  # refuses what kube-apiserver refuses
        self.crd_admission = admission_for

    def _crd_stored(self, crd: Obj) -> None:
        admission = self.crd_admission(crd) if self.crd_admission is not None else None
        self.register_crd(crd, admission)
        names = crd["spec"]["names"]
        crd["status"] = {
            "acceptedNames": {"kind": names["kind"], "plural": names["plural"]},
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ],
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
        }

    def inject_fault(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    # --- counters -----------------------------------------------------------------------

    @property
    def total_requests(self) -> int:
        return sum(self.counts.values())

    @property
    def write_requests(self) -> int:
        return sum(n for (verb, _), n in self.counts.items() if verb in WRITE_VERBS)

    def reset_counts(self) -> None:
        self.counts.clear()
        self.write_log.clear()

    # --- discovery fix: core group reports "v1", not "/v1" ------------------------------

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and payload.get("groupVersion") == "/v1":
            payload["groupVersion"] = "v1"
        return payload

    # --- HTTP entry ----------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock's path parser cannot read /api/v1/namespaces[/name] (it takes "namespaces"
        # as the namespace marker); kopf lists and watches namespaces, so parse it here.
        match = NAMESPACES_PATH.match(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        body = await raw_request.read()
        request = rendering.Request(
            method=raw_request.method,
            url=raw_request.url,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            body=body,
            data=json.loads(body) if body else None,
            resource=kmock.resource("", "v1", "namespaces"),
            name=match.group(1),
            subresource=match.group(2),
            raw_request=raw_request,
        )
        try:
            return await self._handle(request)
        except ApiStatusError as exc:
            return self._json(exc.body(), exc.code)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        resource = request.resource
        if resource is None or not resource.plural:
            return await super()._handle(request)  # discovery: kmock's scaffold answers
        if not self.keep_requests:  # bounded memory under benchmark load
            for index in range(len(self._requests) - 1, -1, -1):
                if self._requests[index] is request:
                    del self._requests[index]
                    break
        rtype = self.types.get(
            f"{resource.group}/{resource.version}/{resource.plural}"
            if resource.group
            else f"v1/{resource.plural}"
        )
        if rtype is None:
            return self._json(ApiStatusError(404, "NotFound", "resource not served").body(), 404)
        try:
            return await self._serve(request, rtype)
        except ApiStatusError as exc:
            return self._json(exc.body(), exc.code)

    @staticmethod
    def _json(body: Any, status: int = 200) -> aiohttp.web.StreamResponse:
        return aiohttp.web.json_response(body, status=status)

    async def _serve(
        self, request: rendering.Request, rtype: ResourceType
    ) -> aiohttp.web.StreamResponse:
        method = str(request.method.value).upper()
        params = request.params
        ns, name, sub = request.namespace, request.name, request.subresource
        if method == "GET" and params.get("watch") in {"true", "1"}:
            verb = "watch"
        elif method == "GET":
            verb = "get" if name else "list"
        else:
            verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
                method, "unknown"
            )
        self.counts[verb, rtype.plural] += 1
        if verb in WRITE_VERBS:
            self.write_log.append((verb, rtype.plural, name, sub))
        for fault in self.faults:
            if fault.matches(verb, rtype.plural, name, sub):
                fault.times -= 1
                raise ApiStatusError(fault.status, "InjectedFault", f"injected {fault.status}")
        dry_run = "dryRun" in params
        if verb == "watch":
            return await self._serve_watch_stream(request, rtype)
        if verb == "list":
            return self._json(self.list_objects(rtype.key, ns, params))
        if verb == "get":
            return self._json(self.get_object(rtype.key, ns, self._need(name)))
        if verb == "create":
            return self._json(self.create_object(rtype.key, request.data, ns, dry_run=dry_run), 201)
        if verb == "patch":
            ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
            return self._json(
                self.patch_object(
                    rtype.key, ns, self._need(name), request.data, ctype, sub, dry_run
                )
            )
        if verb == "update":
            return self._json(
                self.replace_object(rtype.key, ns, self._need(name), request.data, sub)
            )
        if verb == "delete":
            return self._json(self.delete_object(rtype.key, ns, self._need(name), dry_run=dry_run))
        raise ApiStatusError(405, "MethodNotAllowed", f"{method} is not supported")

    @staticmethod
    def _need(name: str | None) -> str:
        if not name:
            raise ApiStatusError(405, "MethodNotAllowed", "collection operation not supported")
        return name

    # --- store operations (also the in-process API for tests) ----------------------------

    def _type(self, key: str) -> ResourceType:
        try:
            return self.types[key]
        except KeyError:
            raise ApiStatusError(404, "NotFound", f"resource {key} is not served") from None

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _publish(self, rtype: ResourceType, event_type: str, obj: Obj) -> None:
        if rtype.key == CRD_RESOURCE.key and event_type != "DELETED":
            self._crd_stored(obj)  # in place, before the event and the answer are copied
        rv = int(obj["metadata"]["resourceVersion"])
        event = {"type": event_type, "object": copy.deepcopy(obj)}
        self._history.append((rv, rtype.key, event))
        for queue in list(self._watchers[rtype.key]):
            queue.put_nowait((rv, event))

    def get_object(self, key: str, namespace: str | None, name: str) -> Obj:
        rtype = self._type(key)
        obj = self._store.get((key, namespace if rtype.namespaced else None, name))
        if obj is None:
            raise ApiStatusError(404, "NotFound", f'{rtype.plural} "{name}" not found')
        return copy.deepcopy(obj)

    def find(self, key: str, namespace: str | None, name: str) -> Obj | None:
        """Like :meth:`get` but None when absent (for assertions)."""
        with contextlib.suppress(ApiStatusError):
            return self.get_object(key, namespace, name)
        return None

    def peek(self, key: str, namespace: str | None = None) -> Iterator[Obj]:
        """The stored objects themselves, uncopied: read-only, for cheap polling."""
        for (k, ns, _), obj in self._store.items():
            if k == key and (namespace is None or ns == namespace):
                yield obj

    def stored(self, key: str, namespace: str | None = None) -> list[Obj]:
        """Copies of the stored objects of one resource, in (namespace, name) order."""
        matching = [
            item
            for item in self._store.items()
            if item[0][0] == key and (namespace is None or item[0][1] == namespace)
        ]
        return [copy.deepcopy(obj) for _, obj in sorted(matching, key=_store_order)]

    def list_objects(self, key: str, namespace: str | None, params: Any = None) -> Obj:
        rtype = self._type(key)
        params = params or {}
        labels_ok = parse_label_selector(params.get("labelSelector"))
        fields_ok = parse_field_selector(params.get("fieldSelector"))
        items = [
            obj
            for obj in self.stored(key, namespace)
            if labels_ok(obj["metadata"].get("labels") or {}) and fields_ok(obj)
        ]
        return {
            "apiVersion": rtype.api_version,
            "kind": f"{rtype.kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def create_object(
        self, key: str, body: Obj, namespace: str | None = None, *, dry_run: bool = False
    ) -> Obj:
        rtype = self._type(key)
        if not isinstance(body, dict):
            raise ApiStatusError(400, "BadRequest", "body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        ns = (namespace or meta.get("namespace")) if rtype.namespaced else None
        if rtype.namespaced and not ns:
            raise ApiStatusError(400, "BadRequest", "a namespace is required")
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiStatusError(400, "BadRequest", "namespace of body and URL differ")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiStatusError(422, "Invalid", "metadata.name or generateName is required")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if (key, ns, meta["name"]) in self._store:
            raise ApiStatusError(
                409, "AlreadyExists", f'{rtype.plural} "{meta["name"]}" already exists'
            )
        obj = self._admit(rtype, obj, None)
        meta = obj["metadata"]
        if ns is not None:
            meta["namespace"] = ns
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        for drop in ("resourceVersion", "deletionTimestamp", "selfLink"):
            meta.pop(drop, None)
        if rtype.status_subresource:
            obj.pop("status", None)
        self._normalize(rtype, obj)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self._store[key, ns, meta["name"]] = obj
        self._publish(rtype, "ADDED", obj)
        return copy.deepcopy(obj)

    def _admit(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        hook = self.admission.get(rtype.key)
        if hook is None:
            return obj
        try:
            return hook(obj, old)
        except ValueError as exc:  # admission errors are ValueErrors (see tests.support.crd)
            raise ApiStatusError(422, "Invalid", str(exc)) from None

    @staticmethod
    def _normalize(rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind == "Secret" and "stringData" in obj:
            data = obj.setdefault("data", {}) or {}
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

    def patch_object(
        self,
        key: str,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str = "application/merge-patch+json",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        rtype = self._type(key)
        old = self.get_object(key, namespace, name)
        if content_type == "application/json-patch+json":
            try:
                new = jsonpatch.apply_patch(old, body)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiStatusError(422, "Invalid", f"the test operation failed: {exc}") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiStatusError(422, "Invalid", f"invalid JSON patch: {exc}") from None
        elif content_type == "application/strategic-merge-patch+json":
            # A real API server refuses it for custom resources, and for built-in kinds it
            # merges lists by their patchMergeKey, which this emulator does not implement:
            # refused here so no test trusts merge semantics the server would not give.
            raise ApiStatusError(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not emulated (custom resources refuse it); "
                "use application/merge-patch+json or a real API server",
            )
        elif content_type in {"application/merge-patch+json", "application/json"}:
            if not isinstance(body, dict):
                raise ApiStatusError(400, "BadRequest", "merge patch must be an object")
            new = merge_patch(old, body)
        else:
            raise ApiStatusError(415, "UnsupportedMediaType", f"{content_type} not supported")
        return self._update(rtype, old, new, subresource, dry_run)

    def replace_object(
        self, key: str, namespace: str | None, name: str, body: Obj, subresource: str | None = None
    ) -> Obj:
        rtype = self._type(key)
        old = self.get_object(key, namespace, name)
        return self._update(rtype, old, copy.deepcopy(body), subresource, False)

    def _update(
        self, rtype: ResourceType, old: Obj, new: Obj, subresource: str | None, dry_run: bool
    ) -> Obj:
        old_meta, meta = old["metadata"], new.setdefault("metadata", {})
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
            raise ApiStatusError(
                409,
                "Conflict",
                "the object has been modified; please apply your changes to the latest version",
            )
        if rtype.status_subresource:
            if subresource == "status":
                merged = copy.deepcopy(old)
                merged["status"] = new.get("status")
                if merged["status"] is None:
                    merged.pop("status")
                new, meta = merged, merged["metadata"]
            else:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        for fixed in ("uid", "creationTimestamp", "name", "namespace", "generation"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
        if old_meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = old_meta["deletionTimestamp"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if subresource != "status":
            new = self._admit(rtype, new, old)
            meta = new["metadata"]
        self._normalize(rtype, new)
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        spec_changed = {k: v for k, v in new.items() if k not in {"metadata", "status"}} != {
            k: v for k, v in old.items() if k not in {"metadata", "status"}
        }
        if spec_changed:
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if dry_run:
            return new
        meta["resourceVersion"] = self._bump()
        ns = meta.get("namespace") if rtype.namespaced else None
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._store.pop((rtype.key, ns, meta["name"]), None)
            self._publish(rtype, "DELETED", new)
            self._collect_garbage(meta["uid"])
            return copy.deepcopy(new)
        self._store[rtype.key, ns, meta["name"]] = new
        self._publish(rtype, "MODIFIED", new)
        return copy.deepcopy(new)

    def delete_object(
        self, key: str, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> Obj:
        rtype = self._type(key)
        obj = self.get_object(key, namespace, name)
        if dry_run:
            return obj
        meta = obj["metadata"]
        ns = meta.get("namespace") if rtype.namespaced else None
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = _now()
                meta["resourceVersion"] = self._bump()
                self._store[key, ns, name] = obj
                self._publish(rtype, "MODIFIED", obj)
            return copy.deepcopy(obj)
        self._store.pop((key, ns, name))
        meta["resourceVersion"] = self._bump()
        self._publish(rtype, "DELETED", obj)
        self._collect_garbage(meta["uid"])
        return obj

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascading deletion: children whose ownerReferences name the owner."""
        for (key, ns, name), obj in list(self._store.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                with contextlib.suppress(ApiStatusError):
                    self.delete_object(key, ns, name)

    # --- watch -----------------------------------------------------------------------------

    def _events_since(self, key: str, since: int) -> Iterator[tuple[int, Obj]]:
        for rv, k, event in self._history:
            if k == key and rv > since:
                yield rv, event

    async def _serve_watch_stream(
        self, request: rendering.Request, rtype: ResourceType
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        raw = request._raw_request
        assert raw is not None
        labels_ok = parse_label_selector(params.get("labelSelector"))
        fields_ok = parse_field_selector(params.get("fieldSelector"))
        namespace = request.namespace
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        since_text = params.get("resourceVersion")
        queue: asyncio.Queue[tuple[int, Obj] | None] = asyncio.Queue()
        initial: list[tuple[int, Obj]] = []
        if since_text and since_text != "0":
            since = int(since_text)
            oldest = self._history[0][0] if self._history else self._rv
            if since < oldest - 1 and len(self._history) == self._history.maxlen:
                gone = ApiStatusError(410, "Expired", f"too old resource version: {since}")
                initial = [(0, {"type": "ERROR", "object": gone.body()})]
            else:
                initial = list(self._events_since(rtype.key, since))
        else:
            initial = [
                (int(obj["metadata"]["resourceVersion"]), {"type": "ADDED", "object": obj})
                for obj in self.stored(rtype.key, namespace)
            ]
        self._watchers[rtype.key].add(queue)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)

        def wanted(event: Obj) -> bool:
            if event["type"] == "ERROR":
                return True
            obj = event["object"]
            meta = obj.get("metadata", {})
            return bool(
                (namespace is None or meta.get("namespace") == namespace)
                and labels_ok(meta.get("labels") or {})
                and fields_ok(obj)
            )

        async def events() -> AsyncIterator[Obj]:
            for _, event in initial:
                yield event
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item[1]

        try:
            async with asyncio.timeout(timeout):
                async for event in events():
                    if wanted(event):
                        await response.write(json.dumps(event).encode() + b"\n")
                    if event["type"] == "ERROR":
                        break
        except (TimeoutError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers[rtype.key].discard(queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    def close_watches(self) -> None:
        """End every open watch stream (clients then re-list or re-watch)."""
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)


def _store_order(item: tuple[tuple[str, str | None, str], Obj]) -> tuple[str, str]:
    (_, namespace, name), _ = item
    return namespace or "", name


def write_kubeconfig(path: Path, server_url: str, namespace: str = "default") -> Path:
    """A kubeconfig pointing at the emulator (plain HTTP, a dummy token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server_url}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [
            {
                "name": "kmock",
                "context": {"cluster": "kmock", "user": "tester", "namespace": namespace},
            }
        ],
        "current-context": "kmock",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclasses.dataclass
class KubeApi:
    """A running emulator: its handler, its URL and a kubeconfig file for clients."""

    emulator: KubeEmulator
    url: str
    kubeconfig: Path


@contextlib.asynccontextmanager
async def running_kube_api(tmp_dir: Path, namespace: str = "default") -> AsyncIterator[KubeApi]:
    """Start an emulator on a free loopback port for the duration of the block."""
    emulator = KubeEmulator()
    async with emulator, kmock.Server(emulator) as server:
        url = str(server.url).rstrip("/")
        kubeconfig = write_kubeconfig(tmp_dir / "kubeconfig.yaml", url, namespace)
        try:
            yield KubeApi(emulator=emulator, url=url, kubeconfig=kubeconfig)
        finally:
            emulator.close_watches()


@pytest_asyncio.fixture
async def kube_api(tmp_path: Path) -> AsyncIterator[KubeApi]:
    """A fresh emulator per test (built-in kinds served; register CRDs as needed)."""
    async with running_kube_api(tmp_path) as api:
        yield api
