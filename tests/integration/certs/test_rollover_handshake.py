"""A CA rollover driven by ``plan_ca_rollover`` never breaks a handshake.

At every phase, each pair of peers that can exist at that moment (old or new leaves,
old or new bundle) must connect; once the plan drops the old CA, only new leaves do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

import certs
from certs.rotation import DEFAULT_PROPAGATION_DELAY
from tests.integration.certs.tlsloop import client_context, handshake, server_context


def _server(ca: certs.CertificateAuthority) -> certs.IssuedCertificate:
    return certs.issue_server_certificate(ca, "mcp", dns_names=["localhost"])


def _client(ca: certs.CertificateAuthority, name: str) -> certs.IssuedCertificate:
    return certs.issue_client_certificate(ca, campaign_name=name, campaign_id=name, role="user")


def _connects(
    tmp_path: Path,
    server: certs.IssuedCertificate,
    server_trust: Sequence[x509.Certificate],
    client: certs.IssuedCertificate,
    client_trust: Sequence[x509.Certificate],
) -> bool:
    return handshake(
        server_context(tmp_path, server, server_trust),
        client_context(tmp_path, client, client_trust),
    ).ok


def test_rollover_keeps_every_handshake_working(tmp_path: Path) -> None:
    old_ca = certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=365))
    new_ca = certs.create_root_ca("PromptSales CA", validity=dt.timedelta(days=730))
    old_bundle = certs.trust_bundle(old_ca)
    issued = {"server": _server(old_ca), "a": _client(old_ca, "a"), "b": _client(old_ca, "b")}
    old_a = issued["a"]
    assert _connects(tmp_path, issued["server"], old_bundle, issued["a"], old_bundle)

    def plan(published: dt.datetime | None) -> certs.RolloverPlan:
        leaves = {name: item.certificate for name, item in issued.items()}
        now = dt.datetime.now(dt.UTC)
        return certs.plan_ca_rollover(
            old_ca, new_ca, leaves, now=now, bundle_published_at=published
        )

    # Phase 1: the new CA is distributed while the old one keeps signing. Pods pick up the
    # bundle at different moments, so old and new bundles must interoperate.
    step = plan(None)
    assert step.phase is certs.RolloverPhase.DISTRIBUTE
    assert step.signing_ca == old_ca.certificate
    both = step.trust_bundle
    assert set(both) == {old_ca.certificate, new_ca.certificate}
    for server_trust, client_trust in [(both, old_bundle), (old_bundle, both), (both, both)]:
        assert _connects(tmp_path, issued["server"], server_trust, issued["a"], client_trust)

    # Phase 2: every pod has the bundle; leaves move to the new CA one at a time and all
    # mixes of moved and unmoved peers connect.
    published = dt.datetime.now(dt.UTC) - 2 * DEFAULT_PROPAGATION_DELAY
    step = plan(published)
    assert step.phase is certs.RolloverPhase.MIGRATE
    assert step.signing_ca == new_ca.certificate
    assert step.reissue == ("a", "b", "server")
    signer = {old_ca.certificate: old_ca, new_ca.certificate: new_ca}[step.signing_ca]
    issued["server"] = _server(signer)
    assert _connects(tmp_path, issued["server"], both, issued["a"], both)
    issued["a"] = _client(signer, "a")
    assert _connects(tmp_path, issued["server"], both, issued["a"], both)
    assert _connects(tmp_path, issued["server"], both, issued["b"], both)
    step = plan(published)
    assert step.phase is certs.RolloverPhase.MIGRATE
    assert step.reissue == ("b",)
    issued["b"] = _client(signer, "b")

    # Phase 3: nothing depends on the old CA; it leaves the bundle. New leaves connect,
    # a leftover copy of an old leaf no longer does.
    step = plan(published)
    assert step.phase is certs.RolloverPhase.COMPLETE
    assert step.drop_old_ca
    final = step.trust_bundle
    assert final == (new_ca.certificate,)
    for name in ("a", "b"):
        assert _connects(tmp_path, issued["server"], final, issued[name], final)
    assert not _connects(tmp_path, issued["server"], final, old_a, final)
