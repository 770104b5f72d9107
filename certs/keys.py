"""Key algorithms the platform allows and how each one generates and signs.

ECDSA P-256 is the default: a key costs microseconds to generate (RSA-2048 costs tens of
milliseconds), which matters when the operator issues a certificate per campaign and a
new key on every renewal. RSA sizes remain for clients that cannot speak ECDSA.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs.errors import CertificateError

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class KeyAlgorithm(enum.StrEnum):
    """Allowed key types; the value is the spelling used in CLI flags and settings."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @property
    def rsa_bits(self) -> int | None:
        """Modulus size for RSA algorithms, ``None`` for ECDSA."""
        if self is KeyAlgorithm.ECDSA_P256:
            return None
        return int(self.value.removeprefix("rsa-"))


DEFAULT_KEY_ALGORITHM = KeyAlgorithm.ECDSA_P256

# SHA-256 for every algorithm: the WebPKI policy of cryptography's verifier (and every TLS
# stack) accepts it, and a bigger digest buys nothing at these key sizes.
SIGNATURE_HASH = hashes.SHA256()


def generate_private_key(algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM) -> PrivateKey:
    """A fresh key; renewals call this every time so a leaked key dies with its certificate."""
    bits = algorithm.rsa_bits
    if bits is None:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def algorithm_of(key: PrivateKey | PublicKey) -> KeyAlgorithm:
    """Which allowed algorithm a loaded key is; anything else is refused."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyAlgorithm.ECDSA_P256
        raise CertificateError(f"unsupported elliptic curve {key.curve.name}; only P-256")
    try:
        return KeyAlgorithm(f"rsa-{key.key_size}")
    except ValueError:
        raise CertificateError(
            f"unsupported RSA key size {key.key_size}; allowed 2048, 3072, 4096"
        ) from None
