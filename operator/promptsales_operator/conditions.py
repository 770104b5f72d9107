"""Conditions and status as values, so "did anything change?" is a plain comparison.

A condition keeps its ``lastTransitionTime`` while its status stays the same; that is what
makes a converged pass produce a status identical to the stored one, hence no write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
ETL_SCHEDULED = "EtlScheduled"
CERTIFICATE_READY = "CertificateReady"
CAPACITY_SCALED = "CapacityScaled"

CONCERNS = (ETL_SCHEDULED, CERTIFICATE_READY, CAPACITY_SCALED)
ORDER = (READY, RECONCILING, STALLED, *CONCERNS)


@dataclasses.dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""


def merge_conditions(
    existing: Iterable[Mapping[str, Any]] | None,
    wanted: Iterable[Condition],
    *,
    now: str,
    generation: int,
) -> list[dict[str, Any]]:
    """Render ``wanted`` in a stable order, keeping transition times that did not change."""
    previous = {str(c.get("type")): c for c in existing or ()}
    rendered = []
    for cond in sorted(wanted, key=lambda c: ORDER.index(c.type) if c.type in ORDER else 99):
        status = "True" if cond.status else "False"
        old = previous.get(cond.type)
        transition = (
            str(old["lastTransitionTime"])
            if old and old.get("status") == status and old.get("lastTransitionTime")
            else now
        )
        rendered.append(
            {
                "type": cond.type,
                "status": status,
                "reason": cond.reason,
                "message": cond.message,
                "lastTransitionTime": transition,
                "observedGeneration": generation,
            }
        )
    return rendered


def summarize(concerns: Mapping[str, Condition], *, stalled: Condition | None) -> list[Condition]:
    """Ready / Reconciling / Stalled from the per-concern conditions (kstatus semantics)."""
    failing = [c for c in concerns.values() if not c.status]
    ready = Condition(READY, True, "Reconciled", "all children are in place")
    reconciling = Condition(RECONCILING, False, "Idle", "")
    stall = Condition(STALLED, False, "Progressing", "")
    if stalled is not None:
        ready = Condition(READY, False, stalled.reason, stalled.message)
        stall = stalled
    elif failing:
        first = failing[0]
        ready = Condition(READY, False, first.reason, first.message)
        reconciling = Condition(RECONCILING, True, first.reason, "retrying with backoff")
    return [ready, reconciling, stall, *concerns.values()]
