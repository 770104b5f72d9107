"""One reconcile pass over one campaign: compare desired with actual, write only differences.

Every trigger (kopf's create, update and resume handlers, the resync worker, the
campaign's own timer) calls :func:`reconcile_campaign`; it is idempotent, so a restart
mid-pass, a repeated event or a concurrent timer converge on the same objects (creates
that race end in 409 and the existing object is adopted). An API error in one concern does
not stop the others; the pass then reports it in the status (``Reconciling``) and the
caller retries with backoff.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Mapping
from typing import Any

import certs
from promptsales_operator import certificates as certdecide
from promptsales_operator import events
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
from promptsales_operator.requeue import RetryLater
from workloads import campaign_certificate as secret_builder
from workloads.capacity import CampaignDemand
from workloads.etl_cronjob import EtlCronJobSpec, build_etl_cronjob
from workloads.names import certificate_secret_name

log = logging.getLogger(__name__)

STATUS_KEYS = ("observedGeneration", "phase", "conditions", "etl", "certificate", "capacity")


@dataclasses.dataclass(frozen=True)
class PassResult:
    """What a pass concluded; ``retry`` names the reason when the caller must back off,
    ``due`` is when the campaign next needs a pass although nothing about it changes."""

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


async def ensure_cronjob(
    ctx: OperatorContext, body: Mapping[str, Any], campaign: Campaign, state: WindowState
) -> tuple[Condition, dict[str, Any] | None]:
    desired = desired_cronjob(campaign, state, ctx.settings.image)
    name = desired["metadata"]["name"]
    item_url = path("batch/v1", "cronjobs", campaign.namespace, name)
    try:
        actual = await ctx.client.get_or_none(item_url)
        if actual is None:
            try:
                actual = await ctx.client.create(
                    path("batch/v1", "cronjobs", campaign.namespace), desired
                )
                ctx.metrics.writes.labels("CronJob").inc()
                await events.normal(ctx, body, "CronJobCreated", f"created ETL CronJob {name}")
            except ApiError as exc:
                if exc.status != 409:
                    raise
                actual = await ctx.client.get(item_url)  # created by a pass that raced us
        meta = actual.get("metadata") or {}
        owned = any(r.get("uid") == campaign.uid for r in meta.get("ownerReferences") or [])
        if not (
            owned
            and is_subset(desired["metadata"]["labels"], meta.get("labels") or {})
            and is_subset(desired["spec"], actual.get("spec"))
        ):
            patch = {
                "metadata": {
                    "labels": desired["metadata"]["labels"],
                    "ownerReferences": desired["metadata"]["ownerReferences"],
                },
                "spec": desired["spec"],
            }
            actual = await ctx.client.patch(item_url, patch)
            ctx.metrics.writes.labels("CronJob").inc()
            await events.normal(
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
        ca = await ctx.platform_ca()
    except CAUnavailableError as exc:
        message = f"platform CA unavailable: {exc}"
        return (
            Condition(CERTIFICATE_READY, False, "CAUnavailable", message),
            None,
            Condition(STALLED, True, "CAUnavailable", message),
        )
    except ApiError as exc:
        return _api_failure(CERTIFICATE_READY, exc, "reading the platform CA"), None, None
    identity = certdecide.client_identity(campaign.name, campaign.campaign_id, campaign.role)
    wanted = certdecide.Wanted(identity, campaign.key_algorithm, campaign.renew_before)
    url = path("v1", "secrets", campaign.namespace, secret_name)
    try:
        secret = await ctx.client.get_or_none(url)
        decision = certdecide.decide(secret, ca, wanted, now)
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
            await _write_secret(ctx, url, secret, manifest)
            await events.normal(
                ctx,
                body,
                decision.reason,
                f"{decision.message}: issued certificate {format(leaf.serial_number, 'x')} "
                f"to {identity}, valid until {rfc3339(leaf.not_valid_after_utc)}",
            )
        elif decision.action is Action.REFRESH_BUNDLE:
            await ctx.client.patch(
                url,
                {
                    "metadata": {
                        "annotations": {secret_builder.BUNDLE_FINGERPRINT: ca.bundle_sha256}
                    },
                    "data": {"ca.crt": base64.b64encode(ca.bundle_pem.encode()).decode()},
                },
            )
            ctx.metrics.writes.labels("Secret").inc()
            await events.normal(ctx, body, decision.reason, f"updated ca.crt of {secret_name}")
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
    ctx: OperatorContext, url: str, existing: Mapping[str, Any] | None, manifest: dict[str, Any]
) -> None:
    if existing is None:
        try:
            await ctx.client.create(url.rsplit("/", 1)[0], manifest)
            ctx.metrics.writes.labels("Secret").inc()
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
    meta = manifest["metadata"]
    patch: dict[str, Any] = {
        "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
        "data": manifest["data"],
    }
    if "ownerReferences" in meta:
        patch["metadata"]["ownerReferences"] = meta["ownerReferences"]
    await ctx.client.patch(url, patch)
    ctx.metrics.writes.labels("Secret").inc()


# --- capacity -------------------------------------------------------------------------------


def capacity_condition(
    ctx: OperatorContext, campaign: Campaign, state: WindowState
) -> tuple[Condition, dict[str, Any]]:
    demand = CampaignDemand(
        campaign.name,
        campaign.requests_per_second,
        campaign.peak_requests_per_second,
        active=state is WindowState.ACTIVE,
    )
    ctx.note_demand(campaign.name, demand.effective)
    if ctx.capacity_error is not None:
        return Condition(CAPACITY_SCALED, False, "ScaleFailed", ctx.capacity_error), {
            "requestsPerSecond": demand.effective
        }
    if state is WindowState.ACTIVE:
        message = f"{demand.effective:g} req/s counted toward the shared MCP and cache capacity"
        reason = "DemandCounted"
    else:
        message = "outside the active window: no demand counted"
        reason = "NotActive"
    return Condition(CAPACITY_SCALED, True, reason, message), {
        "requestsPerSecond": demand.effective
    }


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
    await ctx.client.patch(ctx.campaigns_path(name, "status"), {"status": patch})
    ctx.metrics.writes.labels("PromptSalesCampaignStatus").inc()
    return True


async def reconcile_campaign(ctx: OperatorContext, body: Mapping[str, Any]) -> PassResult:
    """One pass; the campaign is re-read under its lock, so a pass never acts on a copy
    older than what a previous pass (kopf handler or resync) already wrote."""
    name = str(body["metadata"]["name"])
    async with ctx.locks[name]:
        fresh = await ctx.client.get_or_none(ctx.campaigns_path(name))
        if fresh is None or (fresh.get("metadata") or {}).get("deletionTimestamp"):
            ctx.requeue.cancel(name)
            return PassResult("Deleted", False)
        with ctx.metrics.duration.time():
            result = await _reconcile(ctx, fresh)
        # Under the lock, so the last pass to finish is the one whose due time stands.
        ctx.requeue.schedule(name, result.due, functools.partial(timed_pass, ctx, name))
    ctx.metrics.set_phase(name, result.phase)
    outcome = "stalled" if result.phase == "Stalled" else "retry" if result.retry else "ok"
    ctx.metrics.reconciles.labels(outcome).inc()
    return result


async def timed_pass(ctx: OperatorContext, name: str) -> None:
    """The pass a campaign's timer runs; it fails (and its timer retries it after
    ``RETRY_BACKOFF_SECONDS``) when and as kopf's handlers would retry theirs."""
    try:
        result = await reconcile_campaign(ctx, {"metadata": {"name": name}})
    except ApiError as exc:
        raise RetryLater(f"{exc.status} {exc.reason}") from exc
    if result.retry is not None:
        raise RetryLater(result.retry)


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


async def _reconcile(ctx: OperatorContext, body: Mapping[str, Any]) -> PassResult:
    now = ctx.clock.now()
    generation = int((body.get("metadata") or {}).get("generation", 1))
    current: Mapping[str, Any] = body.get("status") or {}
    try:
        campaign = parse_campaign(body)
    except SpecError as exc:
        invalid = Condition(STALLED, True, "InvalidSpec", str(exc))
        conditions = summarize({}, stalled=invalid)
        stalled_status: dict[str, Any] = {
            "observedGeneration": generation,
            "phase": "Stalled",
            "conditions": merge_conditions(
                current.get("conditions"),
                conditions,
                now=rfc3339(now),
                generation=generation,
            ),
        }
        written = await write_status(ctx, body, current, stalled_status)
        if written:
            await events.warning(ctx, body, "InvalidSpec", str(exc))
        ctx.metrics.errors.labels("InvalidSpec").inc()
        return PassResult("Stalled", written, permanent=str(exc))

    state = campaign.window_state(now)
    etl_condition, etl_status = await ensure_cronjob(ctx, body, campaign, state)
    cert_condition, cert_status, stalled = await ensure_certificate(ctx, body, campaign, now)
    capacity, capacity_status = capacity_condition(ctx, campaign, state)
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
    due = next_due(campaign, now, cert_status)
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
    elif failing:
        retry = "; ".join(f"{c.type}: {c.message}" for c in failing)
        for cond in failing:
            ctx.metrics.errors.labels(cond.reason).inc()
    return PassResult(phase, written, retry=retry, due=due)
