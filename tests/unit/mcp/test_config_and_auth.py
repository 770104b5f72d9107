"""Configuration errors name the variable; token and certificate identities; role rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.authority import create_root_ca
from certs.encoding import to_pem
from certs.issue import issue_client_certificate, issue_server_certificate
from mcp_server.access.auth import (
    AuthorizationError,
    JwtTokenVerifier,
    Principal,
    principal_from_access_token,
    principal_from_certificate,
)
from mcp_server.config import load_mcp_settings
from promptsales.config import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PROMPTSALES_MCP_PORT": "70000"}, "PROMPTSALES_MCP_PORT"),
        ({"PROMPTSALES_MCP_CACHE_TTL_SECONDS": "0"}, "PROMPTSALES_MCP_CACHE_TTL_SECONDS"),
        ({"PROMPTSALES_MCP_TLS_CERT_FILE": "/x.crt"}, "tls_key_file"),
        ({"PROMPTSALES_MCP_OAUTH_ISSUER": "https://i.test"}, "oauth_jwks_url"),
        ({"PROMPTSALES_MCP_EMBEDDING_PROVIDER": "word2vec"}, "PROMPTSALES_MCP_EMBEDDING_PROVIDER"),
        ({"PROMPTSALES_MCP_CACHE_SENTINELS": "sentinel-a"}, "PROMPTSALES_MCP_CACHE_SENTINELS"),
        ({"PROMPTSALES_MCP_CACHE_SENTINELS": "s:26379,s:0"}, "PROMPTSALES_MCP_CACHE_SENTINELS"),
        ({"PROMPTSALES_MCP_CACHE_SENTINELS": "s:263x"}, "PROMPTSALES_MCP_CACHE_SENTINELS"),
    ],
)
def test_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=named):
        load_mcp_settings()


def test_sentinels_are_parsed_into_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_MCP_CACHE_SENTINELS", " s-0.sentinel:26379, [::1]:26380 ")
    assert load_mcp_settings().sentinel_addresses == [("s-0.sentinel", 26379), ("::1", 26380)]
    monkeypatch.setenv("PROMPTSALES_MCP_CACHE_SENTINELS", "")
    assert load_mcp_settings().sentinel_addresses == []  # one server: the URL's


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_MCP_OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("PROMPTSALES_MCP_WAREHOUSE_DSN", "postgresql://u:hunter2@db/x")
    settings = load_mcp_settings()
    assert "sk-very-secret" not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_principal_rules() -> None:
    user = Principal("a", "user", None, "oauth")
    user.require_tool("getContent")
    with pytest.raises(AuthorizationError, match="may not call getCampaignPerformance"):
        user.require_tool("getCampaignPerformance")
    scoped = Principal("b", "sales", "1001", "mtls")
    scoped.require_campaign("1001")
    scoped.require_own_campaign("1001")
    with pytest.raises(AuthorizationError, match="campaign_id"):
        scoped.require_campaign("1002")
    with pytest.raises(AuthorizationError, match="scoped to this campaign"):
        Principal("c", "sales", None, "oauth").require_own_campaign("1001")


@pytest.fixture
def ec_key_file(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "keys.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, path


def _verifier(path: Path, verified_token_seconds: float = 60.0) -> JwtTokenVerifier:
    return JwtTokenVerifier(
        issuer="https://i.test",
        audience="https://mcp.test/mcp",
        algorithms=["ES256"],
        role_claim="promptsales_role",
        campaign_claim="promptsales_campaign",
        public_keys_file=path,
        leeway=0,
        verified_token_seconds=verified_token_seconds,
    )


def _token(key: ec.EllipticCurvePrivateKey, **claims: object) -> str:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": "https://i.test",
        "aud": "https://mcp.test/mcp",
        "sub": "agent-1",
        "iat": now,
        "exp": now + 60,
        "promptsales_role": "sales",
        "promptsales_campaign": "1001",
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm="ES256")


async def test_jwt_verifier_accepts_good_and_refuses_bad_tokens(
    ec_key_file: tuple[ec.EllipticCurvePrivateKey, Path],
) -> None:
    key, path = ec_key_file
    verifier = _verifier(path)
    good = await verifier.verify_token(_token(key))
    assert good is not None
    assert good.token == "jwt"  # the raw token is not kept
    principal = principal_from_access_token(good)
    assert (principal.role, principal.campaign_id, principal.method) == ("sales", "1001", "oauth")
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in (
        _token(key, exp=int(time.time()) - 5),
        _token(key, aud="https://other.test"),
        _token(key, iss="https://evil.test"),
        _token(key, promptsales_role="root"),
        _token(key, sub=None),
        _token(other),
        "not.a.jwt",
    ):
        assert await verifier.verify_token(bad) is None


def test_certificate_identity_comes_from_the_spiffe_san() -> None:
    ca = create_root_ca("Test CA", validity=dt.timedelta(days=2))
    issued = issue_client_certificate(ca, campaign_name="spring", campaign_id="1001", role="sales")
    token = principal_from_certificate(to_pem(issued.certificate))
    principal = principal_from_access_token(token)
    assert (principal.role, principal.campaign_id, principal.method) == ("sales", "1001", "mtls")
    server = issue_server_certificate(ca, "mcp", dns_names=["mcp.test"])
    with pytest.raises(ValueError, match="spiffe"):
        principal_from_certificate(to_pem(server.certificate))


async def test_a_verified_token_is_remembered_within_its_bounds(
    ec_key_file: tuple[ec.EllipticCurvePrivateKey, Path],
) -> None:
    key, path = ec_key_file
    verifier = _verifier(path, verified_token_seconds=0.5)
    token = _token(key)
    first = await verifier.verify_token(token)
    assert first is not None
    # The signing key is withdrawn: the remembered verification still answers...
    verifier._static_keys = []
    assert await verifier.verify_token(token) is first
    # ...but a token never verified does not, and nothing outlives the bound.
    assert await verifier.verify_token(_token(key, sub="agent-2")) is None
    await asyncio.sleep(0.6)
    assert await verifier.verify_token(token) is None


async def test_a_remembered_token_still_expires_at_its_exp(
    ec_key_file: tuple[ec.EllipticCurvePrivateKey, Path],
) -> None:
    key, path = ec_key_file
    verifier = _verifier(path)
    token = _token(key, exp=int(time.time()) + 1)
    assert await verifier.verify_token(token) is not None
    await asyncio.sleep(2.1)
    assert await verifier.verify_token(token) is None
