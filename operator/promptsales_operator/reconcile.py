"""One reconcile pass over one campaign: compare desired with cached actual, write differences.

Every trigger only queues the campaign (``workqueue.py``); a worker runs
:func:`reconcile_campaign`, which reads the campaign and its children from the watch-fed
caches (``caches.py``) and sends only writes, so a converged campaign costs no API request
at all. The pass is idempotent: a restart mid-pass, a repeated event or a lagging cache
converge on the same objects (a create that finds the object already there, 409, reads it
once and adopts it). An API error in one concern does not stop the others; the pass then
reports it in the status (``Reconciling``) and the queue retries with backoff.

The status is written once the campaign's demand is reflected in the shared Deployments'
replicas (the capacity worker applies plans a moment apart and re-queues the campaigns it
covered), so Ready means every child is in place, capacity included, and a new campaign's
status is written once, not once before and once after its capacity.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import certs
from promptsales_operator import caches, events
from promptsales_operator import certificates as certdecide
from promptsales_operator.campaign import Campaign, SpecError, WindowState, parse_campaign
from promptsales_operator.certificates import Action, CAUnavailableError
from promptsales_operator.clock import parse_rfc3339, rfc3339
from promptsales_operator.conditions import (
    CAPACITY_SCALED,
    CERTIFICATE_READY,
    ETL_SCHEDULED,
    STALLED,
    Condition,
    merge_conditions,
    summarize,
)
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, path
from workloads import campaign_certificate as secret_builder
from workloads.capacity import CampaignDemand
from workloads.etl_cronjob import SPEC_HASH_ANNOTATION, EtlCronJobSpec, build_etl_cronjob
from workloads.names import certificate_secret_name

log = logging.getLogger(__name__)

STATUS_KEYS = ("observedGeneration", "phase", "conditions", "etl", "certificate", "capacity")


@dataclasses.dataclass(frozen=True)
class PassResult:
    """What a pass concluded; ``retry`` names the reason when the caller must back off,
    ``permanent`` when retrying cannot help (the spec must change), ``due`` is when the
    campaign next needs a pass although nothing about it changes."""

    phase: str
    status_written: bool
    retry: str | None = None
    permanent: str | None = None
    due: dt.datetime | None = None


def is_subset(wanted: Any, actual: Any) -> bool:
    """Whether everything we want is present in what the API holds (server defaults allowed)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and is_subset(value, actual[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual)


def _api_failure(concern: str, exc: ApiError, what: str) -> Condition:
    return Condition(concern, False, "ApiError", f"{what}: {exc.status} {exc.reason}")


def _owned_by(meta: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])


# --- ETL CronJob --------------------------------------------------------------------------


def desired_cronjob(campaign: Campaign, state: WindowState, image: str) -> dict[str, Any]:
    """The CronJob a campaign should have now: suspended outside its window or by spec."""
    return build_etl_cronjob(
        EtlCronJobSpec(
            campaign_name=campaign.name,
            campaign_uid=campaign.uid,
            campaign_id=campaign.campaign_id,
            namespace=campaign.namespace,
            schedule=campaign.schedule,
            suspend=campaign.etl_suspend or state is not WindowState.ACTIVE,
            sources=campaign.sources,
            active_deadline_seconds=campaign.active_deadline_seconds,
            image=image,
        )
    )


async def _create_or_adopt(
    ctx: OperatorContext, kind: str, collection: str, name: str, manifest: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create ``manifest``; if it exists already (a lagging cache, a restart mid-pass), read
    it once instead. Returns the object and whether we created it."""
    try:
        return await ctx.client.create(collection, manifest), True
    except ApiError as exc:
        if exc.status != 409:
            raise
    log.info("%s %s existed already; adopting what the API holds", kind, name)
    return await ctx.client.get(f"{collection}/{name}"), False


async def ensure_cronjob(
    ctx: OperatorContext, body: Mapping[str, Any], campaign: Campaign, state: WindowState
) -> tuple[Condition, dict[str, Any] | None]:
    desired = desired_cronjob(campaign, state, ctx.settings.image)
    name = desired["metadata"]["name"]
    collection = path("batch/v1", "cronjobs", campaign.namespace)
    try:
        cached = ctx.cache.get(caches.CRONJOBS, name)
        actual = cached.body() if cached is not None else None
        if actual is None:
            actual, created = await _create_or_adopt(ctx, "CronJob", collection, name, desired)
            ctx.cache.remember(caches.CRONJOBS, name, caches.cronjob_entry(actual))
            if created:
                ctx.metrics.writes.labels("CronJob").inc()
                await events.normal(ctx, body, "CronJobCreated", f"created ETL CronJob {name}")
        meta = actual.get("metadata") or {}
        if not (
            _owned_by(meta, campaign.uid)
            and is_subset(desired["metadata"]["labels"], meta.get("labels") or {})
            and is_subset(desired["metadata"]["annotations"], meta.get("annotations") or {})
            and is_subset(desired["spec"], actual.get("spec"))
        ):
            ours = (meta.get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
            updated = ours != desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
            patch = {
                "metadata": {
                    "labels": desired["metadata"]["labels"],
                    "annotations": desired["metadata"]["annotations"],
                    "ownerReferences": desired["metadata"]["ownerReferences"],
                },
                "spec": desired["spec"],
            }
            actual = await ctx.client.patch(f"{collection}/{name}", patch)
            ctx.cache.remember(caches.CRONJOBS, name, caches.cronjob_entry(actual))
            ctx.metrics.writes.labels("CronJob").inc()
            if updated:  # the campaign (or its window) asked for a different CronJob
                await events.normal(
                    ctx, body, "CronJobUpdated", f"updated ETL CronJob {name} to the campaign"
                )
            else:  # someone changed what the operator had written
                await events.warning(
                    ctx, body, "CronJobRepaired", f"put ETL CronJob {name} back to its spec"
                )
    except ApiError as exc:
        return _api_failure(ETL_SCHEDULED, exc, f"CronJob {name}"), None
    spec = desired["spec"]
    cron_status = actual.get("status") or {}
    etl_status: dict[str, Any] = {
        "cronJobName": name,
        "schedule": spec["schedule"],
        "suspended": spec["suspend"],
    }
    for key in ("lastScheduleTime", "lastSuccessfulTime"):
        if cron_status.get(key):
            etl_status[key] = cron_status[key]
    reason, message = {
        WindowState.BEFORE: ("WaitingForWindow", "suspended until the window starts"),
        WindowState.AFTER: ("WindowEnded", "suspended: the campaign window has ended"),
        WindowState.ACTIVE: ("Scheduled", f"runs at '{spec['schedule']}'"),
    }[state]
    if campaign.etl_suspend and state is WindowState.ACTIVE:
        reason, message = "SuspendedBySpec", "suspended by spec.etl.suspend"
    return Condition(ETL_SCHEDULED, True, reason, f"CronJob {name} {message}"), etl_status


# --- certificate ----------------------------------------------------------------------------


async def ensure_certificate(
    ctx: OperatorContext, body: Mapping[str, Any], campaign: Campaign, now: dt.datetime
) -> tuple[Condition, dict[str, Any] | None, Condition | None]:
    """Returns (CertificateReady, status.certificate, a Stalled condition or None)."""
    secret_name = certificate_secret_name(campaign.name)
    try:
        ca = ctx.platform_ca()
    except CAUnavailableError as exc:
        message = f"platform CA unavailable: {exc}"
        return (
            Condition(CERTIFICATE_READY, False, "CAUnavailable", message),
            None,
            Condition(STALLED, True, "CAUnavailable", message),
        )
    identity = certdecide.client_identity(campaign.name, campaign.campaign_id, campaign.role)
    wanted = certdecide.Wanted(identity, campaign.key_algorithm, campaign.renew_before)
    collection = path("v1", "secrets", campaign.namespace)
    url = f"{collection}/{secret_name}"
    try:
        cached = ctx.cache.secret(secret_name)
        decision = certdecide.decide(cached.observed if cached else None, ca, wanted, now)
        leaf = decision.current
        if decision.action is Action.ISSUE:
            try:
                with ctx.metrics.issue_seconds.time():
                    issued = certs.issue_client_certificate(
                        ca.authority,
                        campaign_name=campaign.name,
                        campaign_id=campaign.campaign_id,
                        role=campaign.role,
                        validity=campaign.validity,
                        key_algorithm=certs.KeyAlgorithm(campaign.key_algorithm),
                        now=now,
                    )
            except (certs.CertificateError, ValueError) as exc:
                message = f"cannot issue: {exc}"
                return (
                    Condition(CERTIFICATE_READY, False, "IssueFailed", message),
                    None,
                    Condition(STALLED, True, "IssueFailed", message),
                )
            leaf = issued.certificate
            manifest = secret_builder.build_tls_secret(
                name=secret_name,
                namespace=campaign.namespace,
                component="certificate",
                pem_data=certs.tls_secret_data(issued, ca.bundle),
                annotations=certdecide.annotations_for(leaf, ca, identity, campaign.renew_before),
                campaign=campaign.name,
                owner_uid=campaign.uid,
            )
            observed = certdecide.ObservedSecret(
                leaf, campaign.key_algorithm, ca.bundle_sha256, identity
            )
            await _write_secret(
                ctx, collection, secret_name, cached is not None, manifest, observed
            )
            await events.normal(
                ctx,
                body,
                decision.reason,
                f"{decision.message}: issued certificate {format(leaf.serial_number, 'x')} "
                f"to {identity}, valid until {rfc3339(leaf.not_valid_after_utc)}",
            )
        else:
            patch: dict[str, Any] = {}
            if decision.action is Action.REFRESH_BUNDLE:
                patch = {
                    "metadata": {
                        "annotations": {secret_builder.BUNDLE_FINGERPRINT: ca.bundle_sha256}
                    },
                    "data": {"ca.crt": base64.b64encode(ca.bundle_pem.encode()).decode()},
                }
            assert cached is not None  # decide() issues when there is no Secret
            if campaign.uid not in cached.owner_uids:  # left by an earlier campaign object
                built = secret_builder.owner_references(campaign.name, campaign.uid)
                patch.setdefault("metadata", {})["ownerReferences"] = built
            if patch:
                answer = await ctx.client.patch(url, patch)
                ctx.cache.remember(
                    caches.SECRETS, secret_name, caches.secret_entry(answer, keep_data=False)
                )
                ctx.metrics.writes.labels("Secret").inc()
                if decision.action is Action.REFRESH_BUNDLE:
                    await events.normal(
                        ctx, body, decision.reason, f"updated ca.crt of {secret_name}"
                    )
    except ApiError as exc:
        return _api_failure(CERTIFICATE_READY, exc, f"Secret {secret_name}"), None, None
    assert leaf is not None
    renewal = certs.certificate_renewal_time(leaf, renew_before=campaign.renew_before)
    ctx.metrics.set_expiry(secret_name, leaf.not_valid_after_utc, now)
    status = {
        "secretName": secret_name,
        "serialNumber": format(leaf.serial_number, "x"),
        "notAfter": rfc3339(leaf.not_valid_after_utc),
        "renewalTime": rfc3339(renewal),
        "issuer": leaf.issuer.rfc4514_string(),
    }
    message = f"{secret_name} valid until {status['notAfter']}, renews at {status['renewalTime']}"
    return Condition(CERTIFICATE_READY, True, "Issued", message), status, None


async def _write_secret(
    ctx: OperatorContext,
    collection: str,
    name: str,
    exists: bool,
    manifest: dict[str, Any],
    observed: certdecide.ObservedSecret,
) -> None:
    """Create the Secret, or replace its data, labels and annotations."""
    answer: dict[str, Any] | None = None
    if not exists:
        try:
            answer = await ctx.client.create(collection, manifest)
        except ApiError as exc:
            if exc.status != 409:
                raise
    if answer is None:
        meta = manifest["metadata"]
        patch: dict[str, Any] = {
            "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
            "data": manifest["data"],
        }
        if "ownerReferences" in meta:
            patch["metadata"]["ownerReferences"] = meta["ownerReferences"]
        answer = await ctx.client.patch(f"{collection}/{name}", patch)
    entry = caches.secret_entry(answer, keep_data=False, observed=observed)
    ctx.cache.remember(caches.SECRETS, name, entry)
    ctx.metrics.writes.labels("Secret").inc()


# --- capacity -------------------------------------------------------------------------------


def capacity_condition(
    ctx: OperatorContext, campaign: Campaign, state: WindowState
) -> tuple[Condition | None, dict[str, Any]]:
    """CapacityScaled, or None while the campaign's current demand is not yet applied (the
    capacity worker is woken and re-queues the campaign once it is)."""
    demand = CampaignDemand(
        campaign.name,
        campaign.requests_per_second,
        campaign.peak_requests_per_second,
        active=state is WindowState.ACTIVE,
    ).effective
    status = {"requestsPerSecond": demand}
    capacity = ctx.capacity
    if capacity.error is not None:
        return Condition(CAPACITY_SCALED, False, "ScaleFailed", capacity.error), status
    if capacity.applied.get(campaign.name) != demand:
        capacity.changed.set()
        return None, status
    if state is WindowState.ACTIVE:
        message = f"{demand:g} req/s counted toward the shared capacity ({capacity.summary})"
        return Condition(CAPACITY_SCALED, True, "DemandCounted", message), status
    message = f"outside the active window: no demand counted ({capacity.summary})"
    return Condition(CAPACITY_SCALED, True, "NotActive", message), status


# --- the pass -------------------------------------------------------------------------------


def _phase(state: WindowState, campaign: Campaign, stalled: bool, failing: bool) -> str:
    if stalled:
        return "Stalled"
    if failing:
        return "Provisioning"
    if state is WindowState.BEFORE:
        return "Scheduled"
    if state is WindowState.AFTER:
        return "Completed"
    return "Suspended" if campaign.etl_suspend else "Active"


async def write_status(
    ctx: OperatorContext, body: Mapping[str, Any], current: Mapping[str, Any], new: dict[str, Any]
) -> bool:
    """Patch /status only when something differs from ``current``; True if it wrote."""
    if all(current.get(key) == new.get(key) for key in STATUS_KEYS):
        return False
    patch = {key: new.get(key) for key in STATUS_KEYS}
    name = str(body["metadata"]["name"])
    answer = await ctx.client.patch(ctx.campaigns_path(name, "status"), {"status": patch})
    ctx.cache.remember(caches.CAMPAIGNS, name, caches.campaign_entry(answer))
    ctx.metrics.writes.labels("PromptSalesCampaignStatus").inc()
    return True


async def reconcile_campaign(ctx: OperatorContext, name: str) -> PassResult:
    """One pass over the cached campaign ``name`` (the work queue guarantees no other pass
    of the same campaign runs meanwhile)."""
    entry = ctx.cache.campaign(name)
    if entry is None or entry.deleting:
        ctx.due.cancel(name)
        return PassResult("Deleted", False)
    with ctx.metrics.duration.time():
        result = await _reconcile(ctx, entry.body())
    ctx.due.schedule(name, result.due)
    ctx.metrics.set_phase(name, result.phase)
    outcome = "stalled" if result.phase == "Stalled" else "retry" if result.retry else "ok"
    ctx.metrics.reconciles.labels(outcome).inc()
    return result


def next_due(
    campaign: Campaign, now: dt.datetime, cert_status: Mapping[str, Any] | None
) -> dt.datetime | None:
    """The earliest of the next window start or end and the certificate's renewal time.

    The renewal time is the one published in the status; X.509 times and the spec's
    durations are whole seconds, so its RFC 3339 spelling loses nothing.
    """
    moments = [campaign.next_window_change(now)]
    if cert_status is not None:
        moments.append(parse_rfc3339(str(cert_status["renewalTime"])))
    return min((m for m in moments if m is not None), default=None)


async def _invalid_spec(
    ctx: OperatorContext, body: Mapping[str, Any], exc: SpecError, now: dt.datetime
) -> PassResult:
    generation = int((body.get("metadata") or {}).get("generation", 1))
    current: Mapping[str, Any] = body.get("status") or {}
    invalid = Condition(STALLED, True, "InvalidSpec", str(exc))
    stalled_status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": "Stalled",
        "conditions": merge_conditions(
            current.get("conditions"),
            summarize({}, stalled=invalid),
            now=rfc3339(now),
            generation=generation,
        ),
    }
    written = await write_status(ctx, body, current, stalled_status)
    if written:
        await events.warning(ctx, body, "InvalidSpec", str(exc))
    ctx.metrics.errors.labels("InvalidSpec").inc()
    return PassResult("Stalled", written, permanent=str(exc))


async def _reconcile(ctx: OperatorContext, body: Mapping[str, Any]) -> PassResult:
    now = ctx.clock.now()
    generation = int((body.get("metadata") or {}).get("generation", 1))
    current: Mapping[str, Any] = body.get("status") or {}
    try:
        campaign = parse_campaign(body)
    except SpecError as exc:
        return await _invalid_spec(ctx, body, exc, now)

    state = campaign.window_state(now)
    etl_condition, etl_status = await ensure_cronjob(ctx, body, campaign, state)
    cert_condition, cert_status, stalled = await ensure_certificate(ctx, body, campaign, now)
    capacity, capacity_status = capacity_condition(ctx, campaign, state)
    due = next_due(campaign, now, cert_status)
    failing = [c for c in (etl_condition, cert_condition) if not c.status]
    if capacity is None and stalled is None and not failing:
        # Everything else is in place; the status is written once the capacity worker has
        # applied this campaign's demand and queued it again.
        return PassResult("Provisioning", False, due=due)
    if capacity is None:
        capacity = Condition(
            CAPACITY_SCALED, False, "Pending", "waiting for the capacity plan to be applied"
        )
    concerns = {c.type: c for c in (etl_condition, cert_condition, capacity)}
    failing = [c for c in concerns.values() if not c.status]
    phase = _phase(state, campaign, stalled is not None, bool(failing))
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "conditions": merge_conditions(
            current.get("conditions"),
            summarize(concerns, stalled=stalled),
            now=rfc3339(now),
            generation=generation,
        ),
        "etl": etl_status,
        "certificate": cert_status,
        "capacity": capacity_status,
    }
    try:
        written = await write_status(ctx, body, current, status)
    except ApiError as exc:
        ctx.metrics.errors.labels("StatusWriteFailed").inc()
        failed = f"status write failed: {exc.status} {exc.reason}"
        return PassResult(phase, False, retry=failed, due=due)
    previous_phase = current.get("phase")
    if written and previous_phase != phase:
        await events.normal(
            ctx, body, "PhaseChanged", f"phase {previous_phase or 'none'} -> {phase}"
        )
    retry = None
    if stalled is not None:
        retry = stalled.message
        ctx.metrics.errors.labels(stalled.reason).inc()
        if written:
            await events.warning(ctx, body, stalled.reason, stalled.message)
    else:
        # A pending capacity is not a failure: the capacity worker queues the campaign.
        errors = [c for c in failing if c.reason != "Pending"]
        if errors:
            retry = "; ".join(f"{c.type}: {c.message}" for c in errors)
            for cond in errors:
                ctx.metrics.errors.labels(cond.reason).inc()
    return PassResult(phase, written, retry=retry, due=due)
