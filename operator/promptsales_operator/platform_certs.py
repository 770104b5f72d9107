"""The platform's own serving certificates (the MCP server's), issued and renewed from the CA.

The operator is the one owner of the MCP server's serving certificate (Pulumi and the
render never create it): its names, lifetime and key algorithm are the operator's settings,
which the platform configuration sets. Nothing about a campaign drives it, so a worker
converges it at start, when the watch shows its Secret or the CA Secret changed (deleted,
edited, a CA rollover), and at its renewal time, with the same decision as campaign
certificates: missing, unreadable, signed by a previous CA, renewal due, or a stale trust
bundle. The renewal time is waited for on the operator's clock and never sooner than
``REQUEUE_MIN_SECONDS``, so a renewal time a pass cannot move cannot spin.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging

from cryptography import x509

import certs
from promptsales_operator import caches, events
from promptsales_operator import certificates as certdecide
from promptsales_operator.certificates import Action, CAUnavailableError
from promptsales_operator.clock import rfc3339
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, path
from workloads import campaign_certificate as secret_builder

log = logging.getLogger(__name__)


def mcp_dns_names(service: str, namespace: str, external: list[str] | None = None) -> list[str]:
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return names + [name for name in external or [] if name not in names]


async def converge_mcp_certificate(ctx: OperatorContext) -> tuple[str, dt.datetime]:
    """Converge the MCP serving Secret; returns what was done and when it is next due."""
    settings = ctx.settings
    now = ctx.clock.now()
    ca = ctx.platform_ca()
    name = settings.mcp_tls_secret
    url = path("v1", "secrets", ctx.namespace, name)
    secret = ctx.cache.secret(name)
    renew_before = dt.timedelta(hours=settings.mcp_certificate_renew_before_hours)
    identity = f"server/{settings.mcp_service}"
    algorithm = settings.mcp_certificate_key_algorithm
    wanted = certdecide.Wanted(identity, algorithm.value, renew_before)
    dns_names = mcp_dns_names(settings.mcp_service, ctx.namespace, settings.mcp_external_hostnames)
    stored = secret.observed if secret is not None else None
    decision = certdecide.decide(stored, ca, wanted, now, check_identity=False)
    if decision.action is Action.NONE and decision.current is not None:
        sans = decision.current.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        if sorted(sans.value.get_values_for_type(x509.DNSName)) != sorted(dns_names):
            decision = certdecide.Decision(
                Action.ISSUE, "CertificateReissued", "DNS names changed", decision.current
            )
    if decision.action is Action.NONE:
        assert decision.current is not None
        ctx.metrics.set_expiry(settings.mcp_tls_secret, decision.current.not_valid_after_utc, now)
        return "unchanged", _renewal(decision.current, renew_before)
    if decision.action is Action.REFRESH_BUNDLE and secret is not None:
        answer = await ctx.client.patch(
            url,
            {
                "metadata": {"annotations": {secret_builder.BUNDLE_FINGERPRINT: ca.bundle_sha256}},
                "data": {"ca.crt": base64.b64encode(ca.bundle_pem.encode()).decode()},
            },
        )
        ctx.cache.remember(caches.SECRETS, name, caches.secret_entry(answer, keep_data=False))
        ctx.metrics.writes.labels("Secret").inc()
        await events.post_direct(
            ctx.client, answer, decision.reason, "updated the trust bundle", now=rfc3339(now)
        )
        assert decision.current is not None
        return "bundle", _renewal(decision.current, renew_before)
    issued = certs.issue_server_certificate(
        ca.authority,
        settings.mcp_service,
        dns_names=dns_names,
        validity=dt.timedelta(hours=settings.mcp_certificate_validity_hours),
        key_algorithm=algorithm,
        now=now,
    )
    manifest = secret_builder.build_tls_secret(
        name=settings.mcp_tls_secret,
        namespace=ctx.namespace,
        component="mcp",
        pem_data=certs.tls_secret_data(issued, ca.bundle),
        annotations=certdecide.annotations_for(issued.certificate, ca, identity, renew_before),
    )
    created: dict[str, object] | None = None
    if secret is None:
        try:
            created = await ctx.client.create(path("v1", "secrets", ctx.namespace), manifest)
        except ApiError as exc:
            if exc.status != 409:
                raise
    if created is None:
        meta = manifest["metadata"]
        created = await ctx.client.patch(
            url,
            {
                "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
                "data": manifest["data"],
            },
        )
    ctx.cache.remember(caches.SECRETS, name, caches.secret_entry(created, keep_data=False))
    ctx.metrics.writes.labels("Secret").inc()
    ctx.metrics.set_expiry(settings.mcp_tls_secret, issued.certificate.not_valid_after_utc, now)
    message = (
        f"{decision.message}: issued serving certificate "
        f"{format(issued.certificate.serial_number, 'x')}, valid until "
        f"{rfc3339(issued.certificate.not_valid_after_utc)}"
    )
    log.info(message)
    await events.post_direct(ctx.client, created, decision.reason, message, now=rfc3339(now))
    return "issued", _renewal(issued.certificate, renew_before)


def _renewal(leaf: x509.Certificate, renew_before: dt.timedelta) -> dt.datetime:
    return certs.certificate_renewal_time(leaf, renew_before=renew_before)


async def platform_certificate_worker(ctx: OperatorContext, stopped: asyncio.Event) -> None:
    await ctx.synced.wait()
    while not stopped.is_set():
        ctx.platform_certs_changed.clear()
        delay = ctx.settings.resync_seconds
        renewal: dt.datetime | None = None
        try:
            _, renewal = await converge_mcp_certificate(ctx)
        except (ApiError, CAUnavailableError) as exc:
            log.warning("MCP serving certificate not converged: %s", exc)
            ctx.metrics.errors.labels("PlatformCertificate").inc()
            delay = min(delay, ctx.settings.retry_backoff_seconds)
        except Exception:  # the worker must outlive any failure
            log.exception("MCP serving certificate not converged")
            ctx.metrics.errors.labels("PlatformCertificate").inc()
            delay = min(delay, ctx.settings.retry_backoff_seconds)
        await _wait(ctx, stopped, delay, renewal)


async def _wait(
    ctx: OperatorContext, stopped: asyncio.Event, delay: float, renewal: dt.datetime | None
) -> None:
    """Until ``stopped``, a watched Secret changing, ``delay`` real seconds, or the clock
    reaching ``renewal``."""

    async def renewal_due() -> None:
        if renewal is None:
            await stopped.wait()
            return
        await asyncio.sleep(ctx.settings.requeue_min_seconds)
        await ctx.clock.sleep_until(renewal)

    waits = [
        asyncio.ensure_future(stopped.wait()),
        asyncio.ensure_future(ctx.platform_certs_changed.wait()),
        asyncio.ensure_future(renewal_due()),
    ]
    try:
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
