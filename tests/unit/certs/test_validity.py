"""The per-second memo in certs.validity.window never hands one caller another's window."""

from __future__ import annotations

import datetime as dt

import pytest

from certs.errors import CertificateError
from certs.validity import CLOCK_SKEW, window


def test_same_inputs_in_the_same_second_share_the_window() -> None:
    first = window(None, dt.timedelta(days=90))
    second = window(None, dt.timedelta(days=90))
    # Equal unless the clock crossed a second boundary in between.
    assert second == first or second[0] - first[0] == dt.timedelta(seconds=1)
    assert first[1] - first[0] == dt.timedelta(days=90) + CLOCK_SKEW


def test_a_different_validity_is_not_served_from_the_memo() -> None:
    long = window(None, dt.timedelta(days=90))
    short = window(None, dt.timedelta(days=30))
    assert short[1] - short[0] == dt.timedelta(days=30) + CLOCK_SKEW
    assert long[1] - long[0] == dt.timedelta(days=90) + CLOCK_SKEW


def test_a_different_issuer_cap_is_not_served_from_the_memo() -> None:
    uncapped = window(None, dt.timedelta(days=90))
    cap = uncapped[0] + CLOCK_SKEW + dt.timedelta(days=10)
    capped = window(None, dt.timedelta(days=90), issuer_not_after=cap)
    assert capped[1] == cap
    assert uncapped[1] > cap


def test_an_expired_issuer_is_refused_even_after_a_memo_hit() -> None:
    window(None, dt.timedelta(days=1))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(CertificateError, match="expired"):
        window(None, dt.timedelta(days=1), issuer_not_after=past)


def test_zero_validity_is_refused() -> None:
    with pytest.raises(CertificateError, match="validity"):
        window(None, dt.timedelta(0))
