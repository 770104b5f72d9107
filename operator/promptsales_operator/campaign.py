"""A campaign object as typed values, parsed with the API's own models.

The API server defaults and validates with the CRD generated from
:mod:`workloads.campaign_api`; the operator parses with the same models, so an object
written before a default or a rule existed gets the same defaults here, and a value the
operator cannot use raises :class:`SpecError` naming the field, in the words kubectl
would have used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from workloads import campaign_api as api


class SpecError(ValueError):
    """The campaign spec cannot be acted on; the message names the field."""


class WindowState(enum.StrEnum):
    BEFORE = "before"
    ACTIVE = "active"
    AFTER = "after"


def window_state(
    start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
) -> WindowState:
    """Where ``now`` falls in a campaign window (either end may be open): the one rule the
    passes and the capacity plan's cached entries both use."""
    if start is not None and now < start:
        return WindowState.BEFORE
    if end is not None and now >= end:
        return WindowState.AFTER
    return WindowState.ACTIVE


def _field(location: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def spec_error(exc: ValidationError) -> SpecError:
    """The first validation problem as ``spec.<field>: <what is wrong>``."""
    problems = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{_field(tuple(error['loc']))}: {message}")
    return SpecError("; ".join(problems))


@dataclasses.dataclass(frozen=True)
class Campaign:
    """What the reconcile needs from a PromptSalesCampaign object."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: api.CampaignSpec

    @property
    def campaign_id(self) -> str:
        return self.spec.campaign_id

    @property
    def display_name(self) -> str:
        return self.spec.display_name

    @property
    def window_start(self) -> dt.datetime | None:
        return self.spec.window.start if self.spec.window else None

    @property
    def window_end(self) -> dt.datetime | None:
        return self.spec.window.end if self.spec.window else None

    @property
    def schedule(self) -> str:
        return self.spec.etl.schedule

    @property
    def etl_suspend(self) -> bool:
        return self.spec.etl.suspend

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.spec.etl.sources)

    @property
    def active_deadline_seconds(self) -> int:
        return self.spec.etl.active_deadline_seconds

    @property
    def role(self) -> str:
        return self.spec.certificate.role

    @property
    def validity(self) -> dt.timedelta:
        return api.parse_duration(self.spec.certificate.validity)

    @property
    def renew_before(self) -> dt.timedelta:
        return api.parse_duration(self.spec.certificate.renew_before)

    @property
    def key_algorithm(self) -> str:
        """In the spelling of :class:`certs.KeyAlgorithm` (``ecdsa-p256``)."""
        return self.spec.certificate.key_algorithm.lower()

    @property
    def requests_per_second(self) -> float:
        return self.spec.demand.requests_per_second

    @property
    def peak_requests_per_second(self) -> float | None:
        return self.spec.demand.peak_requests_per_second

    def window_state(self, now: dt.datetime) -> WindowState:
        return window_state(self.window_start, self.window_end, now)

    def next_window_change(self, now: dt.datetime) -> dt.datetime | None:
        """The next moment :meth:`window_state` changes after ``now`` (None: never)."""
        upcoming = [t for t in (self.window_start, self.window_end) if t is not None and t > now]
        return min(upcoming, default=None)


def parse_campaign(body: Mapping[str, Any]) -> Campaign:
    """Read a campaign object (as the API gives it) into a :class:`Campaign`."""
    meta = body.get("metadata") or {}
    name = str(meta.get("name", ""))
    for rule in api.ROOT_RULES:
        if not rule.check(name):
            raise SpecError(rule.message)
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError("spec: required")
    try:
        parsed = api.CampaignSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise spec_error(exc) from None
    return Campaign(
        name=name,
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation", 1)),
        spec=parsed,
    )
