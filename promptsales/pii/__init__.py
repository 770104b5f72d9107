"""Envelope encryption of customer personal data (AES-GCM data keys wrapped by keyring KEKs).

Public API for other components (the ETL encrypts, the MCP server decrypts for the sales
role): :class:`PiiCipher` (``from_settings(conn)``, ``decrypt(key_id, ciphertext)``,
``email_hmac(email)``), the error types, and the keyring helpers.
"""

from promptsales.pii.cipher import PiiCipher, normalize_email
from promptsales.pii.errors import (
    IntegrityError,
    KeyInUseError,
    KeyringError,
    MissingKeyError,
    PiiError,
)
from promptsales.pii.keyring import Keyring, load_keyring

__all__ = [
    "IntegrityError",
    "KeyInUseError",
    "Keyring",
    "KeyringError",
    "MissingKeyError",
    "PiiCipher",
    "PiiError",
    "load_keyring",
    "normalize_email",
]
