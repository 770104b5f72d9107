"""What the operator knows of the cluster: watch-fed caches of everything a pass reads.

A converged platform must cost the API server nothing: controllers in this field
(controller-runtime's informers, CloudNativePG, cert-manager) read from caches that watch
streams keep current and send only writes. kopf's indexes are those caches here
(``handlers.py`` registers them): kopf lists and watches campaigns, the CronJobs and
Secrets the operator owns, the platform CA Secret and the shared workloads it scales (the
MCP server Deployment and the cache's data StatefulSet), and
it holds every handler back until all of them are listed, which is controller-runtime's
"wait for cache sync". Each index keeps a compact entry per object (:class:`Entry`), not
the object: the fields a pass compares, as JSON bytes, and for Secrets only the public
facts of the certificate (:func:`certificates.observe_secret`), never a private key but
the signing CA's.

A cache lags the operator's own writes by one watch event. So every write's answer is
remembered (:meth:`ClusterCache.remember`) and served in place of the cached entry until
the watch delivers that same resourceVersion (or something deletes the object); the event
that delivers it is the echo of our own write and triggers nothing
(:meth:`ClusterCache.observe`). This is client-go's "expectations" idea, keyed by
resourceVersion equality only (resourceVersions are opaque: never compared for order), with
a time limit in case a relist skips the remembered version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import kopf
import orjson

from promptsales_operator import certificates as certdecide
from promptsales_operator.campaign import SpecError, WindowState, parse_campaign, window_state
from workloads.capacity import CampaignDemand

Obj = dict[str, Any]
REMEMBER_SECONDS = 30.0

CAMPAIGNS = "campaigns"
CRONJOBS = "cronjobs"
SECRETS = "secrets"
# The scaled workloads' resources, each cached under its plural.
DEPLOYMENTS = "deployments"
STATEFULSETS = "statefulsets"
KINDS = (CAMPAIGNS, CRONJOBS, SECRETS, DEPLOYMENTS, STATEFULSETS)


def _meta(body: Mapping[str, Any], keep: tuple[str, ...]) -> Obj:
    meta = body.get("metadata") or {}
    return {key: meta[key] for key in keep if key in meta}


def _pack(obj: Any) -> bytes:
    """JSON, compressed: a CronJob's spec is about 4 KB as JSON and tens of KB as dicts;
    compressed about 1 KB, for some 30 microseconds per pass that reads it."""
    return zlib.compress(orjson.dumps(obj), 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One cached object: identity and version, plus the parts a pass reads, packed."""

    name: str
    uid: str
    resource_version: str
    raw: bytes

    def body(self) -> Obj:
        body: Obj = orjson.loads(zlib.decompress(self.raw)) if self.raw else {}
        return body


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignEntry(Entry):
    """A campaign, with what the capacity plan reads of every campaign kept unpacked."""

    generation: int
    observed_generation: int | None
    deleting: bool
    valid: bool  # False: the spec is invalid (its status says why); it counts no demand
    requests_per_second: float = 0.0
    peak_requests_per_second: float | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None

    def demand(self, now: dt.datetime) -> CampaignDemand:
        """The campaign's demand now (inactive outside its window)."""
        state = window_state(self.window_start, self.window_end, now)
        active = state is WindowState.ACTIVE
        return CampaignDemand(
            self.name, self.requests_per_second, self.peak_requests_per_second, active=active
        )


@dataclasses.dataclass(frozen=True, slots=True)
class SecretEntry(Entry):
    """A TLS Secret the operator owns: the public facts of its certificate and who owns it
    (``raw`` is kept only for the CA Secret, whose key signs)."""

    observed: certdecide.ObservedSecret
    owner_uids: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ScaledEntry(Entry):
    """A workload the operator scales (Deployment or StatefulSet): only its replicas."""

    replicas: int | None


def campaign_entry(body: Mapping[str, Any]) -> CampaignEntry:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    trimmed = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": _meta(body, ("name", "namespace", "uid", "generation", "resourceVersion")),
        "spec": body.get("spec"),
        "status": status,
    }
    observed = status.get("observedGeneration")
    common: dict[str, Any] = {
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
        "resource_version": str(meta.get("resourceVersion", "")),
        "raw": _pack(trimmed),
        "generation": int(meta.get("generation") or 1),
        "observed_generation": int(observed) if observed is not None else None,
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    try:
        campaign = parse_campaign(body)
    except SpecError:
        return CampaignEntry(**common, valid=False)
    return CampaignEntry(
        **common,
        valid=True,
        requests_per_second=campaign.requests_per_second,
        peak_requests_per_second=campaign.peak_requests_per_second,
        window_start=campaign.window_start,
        window_end=campaign.window_end,
    )


def cronjob_entry(body: Mapping[str, Any]) -> Entry:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    trimmed = {
        "metadata": _meta(
            body, ("name", "namespace", "uid", "resourceVersion", "labels", "annotations")
        )
        | {"ownerReferences": meta.get("ownerReferences") or []},
        "spec": body.get("spec"),
        "status": {
            key: status[key] for key in ("lastScheduleTime", "lastSuccessfulTime") if key in status
        },
    }
    return Entry(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        raw=_pack(trimmed),
    )


def secret_entry(
    body: Mapping[str, Any],
    *,
    keep_data: bool,
    observed: certdecide.ObservedSecret | None = None,
) -> SecretEntry:
    """``keep_data`` only for the platform CA, whose key the operator signs with;
    ``observed`` when the certificate's facts are known already (the operator just issued
    it), which spares parsing the PEM it wrote."""
    meta = body.get("metadata") or {}
    raw = b""
    if keep_data:
        raw = _pack({"metadata": _meta(body, ("name", "namespace")), "data": body.get("data")})
        observed = certdecide.ObservedSecret(None, None, None)
    elif observed is None:
        observed = certdecide.observe_secret(body)
    return SecretEntry(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        raw=raw,
        observed=observed,
        owner_uids=tuple(str(r.get("uid")) for r in meta.get("ownerReferences") or []),
    )


def scaled_entry(body: Mapping[str, Any]) -> ScaledEntry:
    meta = body.get("metadata") or {}
    replicas = (body.get("spec") or {}).get("replicas")
    return ScaledEntry(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        raw=b"",
        replicas=int(replicas) if replicas is not None else None,
    )


def not_older(version: str, than: str) -> bool:
    """Whether resourceVersion ``version`` is ``than`` or a later one.

    Kubernetes calls resourceVersions opaque, but every etcd-backed API server issues
    integers that grow, and client-go's MutationCache compares them as such; a version of
    any other form is only ever equal or not.
    """
    if version == than:
        return True
    if version.isdigit() and than.isdigit():
        return int(version) >= int(than)
    return False


@dataclasses.dataclass
class _Remembered:
    entry: Entry | None  # None: we deleted it
    until: float


class ClusterCache:
    """Reads of the cached kinds, served from kopf's indexes plus our own recent writes.

    The indexes are handed over by kopf once it runs (:meth:`attach`); before that nothing
    reads (the workers wait for :attr:`synced`).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._indexes: dict[str, Mapping[str, kopf.Store[Any]]] = {}
        self._remembered: dict[tuple[str, str], _Remembered] = {}
        self._clock = clock

    def attach(self, kind: str, index: Mapping[str, kopf.Store[Any]]) -> None:
        self._indexes[kind] = index

    def _indexed(self, kind: str, name: str) -> Entry | None:
        index = self._indexes.get(kind)
        if index is None:
            return None
        store = index.get(name)
        return next(iter(store), None) if store else None

    def get(self, kind: str, name: str) -> Entry | None:
        """Our remembered write while the index holds an older version, else the index.

        The watch may deliver our write before its answer is handled, so the index can
        already hold that version (or a later one) when we remember it; as client-go's
        MutationCache does, the index wins from then on.
        """
        remembered = self._remembered.get((kind, name))
        indexed = self._indexed(kind, name)
        if remembered is None:
            return indexed
        ours = remembered.entry
        caught_up = (
            ours is not None
            and indexed is not None
            and not_older(indexed.resource_version, ours.resource_version)
        )
        if remembered.until > self._clock() and not caught_up:
            return ours
        del self._remembered[(kind, name)]
        return indexed

    def campaign(self, name: str) -> CampaignEntry | None:
        entry = self.get(CAMPAIGNS, name)
        return entry if isinstance(entry, CampaignEntry) else None

    def secret(self, name: str) -> SecretEntry | None:
        entry = self.get(SECRETS, name)
        return entry if isinstance(entry, SecretEntry) else None

    def scaled(self, kind: str, name: str) -> ScaledEntry | None:
        """A scaled workload by cache kind (:data:`DEPLOYMENTS` or :data:`STATEFULSETS`)."""
        entry = self.get(kind, name)
        return entry if isinstance(entry, ScaledEntry) else None

    def campaigns(self) -> Iterator[CampaignEntry]:
        """Every cached campaign (our own newer writes preferred)."""
        index = self._indexes.get(CAMPAIGNS) or {}
        for name in list(index):
            entry = self.campaign(name)
            if entry is not None:
                yield entry

    def remember(self, kind: str, name: str, entry: Entry | None) -> None:
        """Serve ``entry`` (our write's answer; None after a delete) until the watch
        delivers the same version."""
        self._remembered[(kind, name)] = _Remembered(entry, self._clock() + REMEMBER_SECONDS)

    def echo(self, kind: str, name: str, resource_version: str) -> Entry | None:
        """Our own remembered entry when the watch delivers exactly its version (an index
        handler then keeps it instead of building the same entry again)."""
        remembered = self._remembered.get((kind, name))
        entry = remembered.entry if remembered is not None else None
        return entry if entry is not None and entry.resource_version == resource_version else None

    def observe(self, kind: str, name: str, resource_version: str | None) -> bool:
        """The watch delivered ``name`` at ``resource_version`` (None: deleted).

        Returns True when that is the echo of our own last write (nothing to react to).
        """
        remembered = self._remembered.get((kind, name))
        if remembered is None:
            return False
        if resource_version is None:
            del self._remembered[(kind, name)]
            return remembered.entry is None
        ours = remembered.entry
        if ours is not None and not_older(resource_version, ours.resource_version):
            del self._remembered[(kind, name)]  # the watch has caught up with our write
            return resource_version == ours.resource_version
        return False

    def sizes(self) -> dict[str, int]:
        return {kind: len(self._indexes.get(kind) or {}) for kind in KINDS}
