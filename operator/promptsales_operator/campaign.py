"""A campaign's spec as typed values, with the CRD's defaults applied again.

The API server defaults and validates (the CRD schema), but the operator must not crash on
an object written before a default existed, so every field has the same default here and a
value the operator cannot use raises :class:`SpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping
from typing import Any

from promptsales_operator.clock import parse_rfc3339

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class SpecError(ValueError):
    """The campaign spec cannot be acted on; the message names the field."""


class WindowState(enum.StrEnum):
    BEFORE = "before"
    ACTIVE = "active"
    AFTER = "after"


def parse_duration(text: str, field: str) -> dt.timedelta:
    match = _DURATION.match(text or "")
    if not text or not match:
        raise SpecError(f"{field}: {text!r} is not a duration like 2160h or 90m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclasses.dataclass(frozen=True)
class Campaign:
    """What the reconcile needs from a PromptSalesCampaign object."""

    name: str
    namespace: str
    uid: str
    generation: int
    campaign_id: str
    display_name: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    schedule: str
    etl_suspend: bool
    sources: tuple[str, ...]
    active_deadline_seconds: int
    role: str
    validity: dt.timedelta
    renew_before: dt.timedelta
    key_algorithm: str
    requests_per_second: float
    peak_requests_per_second: float | None

    def window_state(self, now: dt.datetime) -> WindowState:
        if self.window_start is not None and now < self.window_start:
            return WindowState.BEFORE
        if self.window_end is not None and now >= self.window_end:
            return WindowState.AFTER
        return WindowState.ACTIVE

    def next_window_change(self, now: dt.datetime) -> dt.datetime | None:
        """The next moment :meth:`window_state` changes after ``now`` (None: never)."""
        upcoming = [t for t in (self.window_start, self.window_end) if t is not None and t > now]
        return min(upcoming, default=None)


def _section(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = spec.get(name) or {}
    if not isinstance(value, Mapping):
        raise SpecError(f"spec.{name}: must be an object")
    return value


def _time(value: Any, field: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise SpecError(f"{field}: {value!r} is not an RFC 3339 time") from None


def parse_campaign(body: Mapping[str, Any]) -> Campaign:
    """Read a campaign object (as kopf or the API gives it) into a :class:`Campaign`."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    if not spec.get("campaignId"):
        raise SpecError("spec.campaignId: required")
    window = _section(spec, "window")
    etl = _section(spec, "etl")
    cert = _section(spec, "certificate")
    demand = _section(spec, "demand")
    start = _time(window.get("start"), "spec.window.start")
    end = _time(window.get("end"), "spec.window.end")
    if start is not None and end is not None and end <= start:
        raise SpecError("spec.window.end: must be after spec.window.start")
    validity = parse_duration(str(cert.get("validity", "2160h")), "spec.certificate.validity")
    renew = parse_duration(str(cert.get("renewBefore", "720h")), "spec.certificate.renewBefore")
    if renew >= validity:
        raise SpecError("spec.certificate.renewBefore: must be shorter than validity")
    role = str(cert.get("role", "marketing"))
    if role not in {"marketing", "sales", "user"}:
        raise SpecError(f"spec.certificate.role: {role!r} is not marketing, sales or user")
    rps = float(demand.get("requestsPerSecond", 1))
    peak = demand.get("peakRequestsPerSecond")
    if rps < 0:
        raise SpecError("spec.demand.requestsPerSecond: must not be negative")
    return Campaign(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation", 1)),
        campaign_id=str(spec["campaignId"]),
        display_name=str(spec.get("displayName", meta["name"])),
        window_start=start,
        window_end=end,
        schedule=str(etl.get("schedule", "*/11 * * * *")),
        etl_suspend=bool(etl.get("suspend", False)),
        sources=tuple(etl.get("sources", ("ads", "crm"))),
        active_deadline_seconds=int(etl.get("activeDeadlineSeconds", 600)),
        role=role,
        validity=validity,
        renew_before=renew,
        key_algorithm=str(cert.get("keyAlgorithm", "ECDSA-P256")).lower(),
        requests_per_second=rps,
        peak_requests_per_second=None if peak is None else float(peak),
    )
