"""Kubernetes Events for notable actions, posted with the operator's own client.

kopf's poster works only inside kopf's handler context; the resync, capacity and platform
certificate workers run outside it, so every Event goes through one path instead.

Messages are built by the operator from public facts only (names, serials, times); no
code path passes certificate or credential material here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from promptsales_operator.clock import rfc3339
from promptsales_operator.context import OperatorContext
from promptsales_operator.kube import ApiError, KubeClient, path

log = logging.getLogger(__name__)


async def normal(ctx: OperatorContext, obj: Mapping[str, Any], reason: str, message: str) -> None:
    await post_direct(ctx.client, obj, reason, message, now=rfc3339(ctx.clock.now()))


async def warning(ctx: OperatorContext, obj: Mapping[str, Any], reason: str, message: str) -> None:
    await post_direct(
        ctx.client, obj, reason, message, now=rfc3339(ctx.clock.now()), event_type="Warning"
    )


async def post_direct(
    client: KubeClient,
    obj: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    now: str,
    event_type: str = "Normal",
) -> None:
    """Create a core/v1 Event about ``obj`` (best effort: a failure is only logged)."""
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "promptsales-operator"},
        "reportingComponent": "promptsales-operator",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await client.create(path("v1", "events", namespace), event)
    except ApiError as exc:  # an Event is best effort; never fail the action for it
        log.debug("event not posted: %s %s", exc.status, exc.reason)
