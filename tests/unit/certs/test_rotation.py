from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import certs
from tests.unit.certs.conftest import NOW

# Pure and fast, but CI shares two cores with other suites: no per-example deadline.
# Applied per test, so other components' Hypothesis settings stay untouched.
relaxed = settings(deadline=None)

EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
starts = st.integers(min_value=0, max_value=10 * 365 * 86400).map(
    lambda s: EPOCH + dt.timedelta(seconds=s)
)
lifetimes = st.integers(min_value=1, max_value=20 * 365 * 86400).map(
    lambda s: dt.timedelta(seconds=s)
)
durations = st.integers(min_value=1, max_value=30 * 365 * 86400).map(
    lambda s: dt.timedelta(seconds=s)
)
fractions = st.floats(min_value=0.01, max_value=1.0)


@relaxed
@given(starts, lifetimes, st.none() | durations, fractions)
def test_renewal_time_lies_within_the_validity_window(
    start: dt.datetime, lifetime: dt.timedelta, before: dt.timedelta | None, fraction: float
) -> None:
    at = certs.renewal_time(start, start + lifetime, renew_before=before, fraction=fraction)
    assert start <= at <= start + lifetime


@relaxed
@given(starts, lifetimes)
def test_default_is_two_thirds_of_the_lifetime(start: dt.datetime, lifetime: dt.timedelta) -> None:
    at = certs.renewal_time(start, start + lifetime)
    assert abs((at - start) - lifetime * 2 / 3) <= dt.timedelta(microseconds=1)


@relaxed
@given(starts, lifetimes, durations)
def test_renew_before_shorter_than_lifetime_wins(
    start: dt.datetime, lifetime: dt.timedelta, before: dt.timedelta
) -> None:
    at = certs.renewal_time(start, start + lifetime, renew_before=before)
    if before < lifetime:
        assert at == start + lifetime - before
    else:
        # cert-manager's rule: an impossible renewBefore falls back to 2/3 of the lifetime.
        assert at == certs.renewal_time(start, start + lifetime)


@relaxed
@given(starts, lifetimes, durations, durations)
def test_longer_renew_before_never_renews_later(
    start: dt.datetime, lifetime: dt.timedelta, a: dt.timedelta, b: dt.timedelta
) -> None:
    shorter, longer = sorted((a, b))
    end = start + lifetime
    if longer < lifetime:
        assert certs.renewal_time(start, end, renew_before=longer) <= certs.renewal_time(
            start, end, renew_before=shorter
        )


@relaxed
@given(starts, lifetimes, st.floats(min_value=0.01, max_value=1.0), fractions)
def test_larger_fraction_never_renews_earlier(
    start: dt.datetime, lifetime: dt.timedelta, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    end = start + lifetime
    assert certs.renewal_time(start, end, fraction=low) <= certs.renewal_time(
        start, end, fraction=high
    )


@pytest.fixture(scope="module")
def leaf(root: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_server_certificate(
        root, "x", dns_names=["x.example"], validity=dt.timedelta(days=30), now=NOW
    )


@relaxed
@given(offset=st.integers(min_value=-40 * 86400, max_value=80 * 86400), later=st.integers(0, 10**7))
def test_due_exactly_from_renewal_time_and_stays_due(
    leaf: certs.IssuedCertificate, offset: int, later: int
) -> None:
    cert = leaf.certificate
    at = certs.certificate_renewal_time(cert)
    moment = NOW + dt.timedelta(seconds=offset)
    due = certs.is_renewal_due(cert, moment)
    assert due == (moment >= at)
    if due:
        assert certs.is_renewal_due(cert, moment + dt.timedelta(seconds=later))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"not_after": EPOCH}, "not_after must be later"),
        ({"fraction": 0.0}, "fraction"),
        ({"fraction": 1.5}, "fraction"),
        ({"renew_before": dt.timedelta(0)}, "renew_before"),
        ({"not_before": dt.datetime(2020, 1, 1)}, "timezone-aware"),
    ],
)
def test_renewal_time_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "not_before": EPOCH,
        "not_after": EPOCH + dt.timedelta(days=1),
        **kwargs,
    }
    start, end = values.pop("not_before"), values.pop("not_after")
    with pytest.raises(certs.CertificateError, match=message):
        certs.renewal_time(start, end, **values)  # type: ignore[arg-type]


def test_fingerprint_is_sha256_hex_with_colons(leaf: certs.IssuedCertificate) -> None:
    fp = certs.fingerprint(leaf.certificate)
    assert len(fp.split(":")) == 32
    assert fp == fp.upper()
