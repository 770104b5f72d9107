"""Validity windows: whole seconds, back-dated for skew, kept inside the issuer's window."""

from __future__ import annotations

import datetime as dt

import pytest

from certs.errors import CertificateError
from certs.validity import CLOCK_SKEW, window

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, 750_000, tzinfo=dt.UTC)
WHOLE = NOW.replace(microsecond=0)


def test_window_is_whole_seconds_and_back_dated_for_skew() -> None:
    not_before, not_after = window(NOW, dt.timedelta(days=90))
    assert not_before == WHOLE - CLOCK_SKEW
    assert not_after == WHOLE + dt.timedelta(days=90)


def test_without_now_the_window_starts_at_the_wall_clock() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_before, not_after = window(None, dt.timedelta(days=30))
    after = dt.datetime.now(dt.UTC)
    assert before - CLOCK_SKEW <= not_before <= after - CLOCK_SKEW
    assert not_after - not_before == dt.timedelta(days=30) + CLOCK_SKEW


def test_window_is_capped_by_the_issuer() -> None:
    issuer_not_before = WHOLE - dt.timedelta(minutes=1)
    issuer_not_after = WHOLE + dt.timedelta(days=10)
    assert window(
        NOW,
        dt.timedelta(days=90),
        issuer_not_before=issuer_not_before,
        issuer_not_after=issuer_not_after,
    ) == (issuer_not_before, issuer_not_after)


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ({"issuer_not_after": WHOLE}, "expired"),
        ({"issuer_not_before": WHOLE + dt.timedelta(seconds=1)}, "not valid yet"),
    ],
)
def test_issuer_outside_its_window_is_refused(issuer: dict[str, dt.datetime], message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        window(NOW, dt.timedelta(days=1), **issuer)


def test_zero_validity_and_naive_now_are_refused() -> None:
    with pytest.raises(CertificateError, match="validity"):
        window(NOW, dt.timedelta(0))
    with pytest.raises(CertificateError, match="timezone-aware"):
        window(NOW.replace(tzinfo=None), dt.timedelta(days=1))
