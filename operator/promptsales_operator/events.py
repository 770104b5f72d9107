"""Kubernetes Events for notable actions, through kopf's batching poster.

Messages are built by the operator from public facts only (names, serials, times); no
code path passes certificate or credential material here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, cast

import kopf


def _body(obj: Mapping[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, dict(obj)))


def normal(obj: Mapping[str, Any], reason: str, message: str) -> None:
    # Outside a running operator (unit tests, CLI one-shots) there is no event queue.
    with contextlib.suppress(LookupError):
        kopf.info(_body(obj), reason=reason, message=message)


def warning(obj: Mapping[str, Any], reason: str, message: str) -> None:
    with contextlib.suppress(LookupError):
        kopf.warn(_body(obj), reason=reason, message=message)
