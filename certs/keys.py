"""Key algorithms the platform allows and how each one generates and signs.

ECDSA P-256 is the default: a key costs microseconds to generate (RSA-2048 costs tens of
milliseconds), which matters when the operator issues a certificate per campaign and a
new key on every renewal. RSA sizes remain for clients that cannot speak ECDSA.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from cryptography.hazmat.primitives import hashes, serialization
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


def pkcs8_der(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER: the one key serialization an issuance pays for.

    Every serialization of a key or its public half costs about 4 us in OpenSSL 3 (the
    encoder set-up, not the bytes), as much as all the Python around an issuance. The
    issuer takes the SKI from these bytes and the Secret's ``tls.key`` is this DER as PEM.
    """
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# A P-256 PKCS#8 key as OpenSSL writes it (RFC 5208 wrapping an RFC 5915 ECPrivateKey):
# fixed header, 32-byte scalar, then the optional [1] publicKey BIT STRING.
_P256_PKCS8_HEADER = bytes.fromhex(
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420"
)
_P256_PKCS8_PUBLIC_KEY = bytes.fromhex("a144034200")
_P256_PKCS8_LENGTH = 138
_P256_POINT_AT = _P256_PKCS8_LENGTH - 65


def p256_public_point(pkcs8: bytes) -> bytes | None:
    """The uncompressed public point ``04||X||Y`` inside a P-256 PKCS#8 DER, if present.

    The whole layout is matched, not searched, so a key written any other way (no public
    key, other curve, different padding) gives ``None`` and the caller asks the key.
    """
    if (
        len(pkcs8) == _P256_PKCS8_LENGTH
        and pkcs8.startswith(_P256_PKCS8_HEADER)
        and pkcs8.startswith(_P256_PKCS8_PUBLIC_KEY, _P256_POINT_AT - 5)
        and pkcs8[_P256_POINT_AT] == 0x04
    ):
        return pkcs8[_P256_POINT_AT:]
    return None
