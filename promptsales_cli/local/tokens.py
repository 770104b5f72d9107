"""A local OAuth token issuer, so the MCP server runs with real bearer-token checks locally.

In a cluster the issuer is the organisation's identity provider; here a key pair under
the state directory signs short-lived JWTs with the claims the MCP server verifies
(issuer, audience, expiry, role, optional campaign scope). The server only ever sees
the public key.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://issuer.promptsales_cli.local"
ALGORITHM = "ES256"


@dataclass(frozen=True)
class LocalIssuer:
    """Signs tokens for the local MCP server; ``public_key_file`` is given to the server."""

    private_key: ec.EllipticCurvePrivateKey
    public_key_file: Path
    audience: str

    def token(self, role: str, campaign_id: int | None = None, ttl_s: int = 3600) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": self.audience,
            "sub": f"local-agent-{role}",
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + ttl_s,
            "promptsales_role": role,
        }
        if campaign_id is not None:
            claims["promptsales_campaign"] = str(campaign_id)
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM)


def ensure_issuer(home: Path, audience: str) -> LocalIssuer:
    """Load the issuer's key pair, creating it (mode 0600) on first use."""
    directory = home / "oauth"
    directory.mkdir(parents=True, exist_ok=True)
    key_file, public_file = directory / "issuer.key", directory / "issuer-public.pem"
    if key_file.exists():
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an EC private key; delete it to start over")
        key = loaded
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return LocalIssuer(key, public_file, audience)
