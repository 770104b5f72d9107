"""Errors of the PII envelope-encryption library.

Every failure to obtain or use a key raises one of these, never returns bytes: a lost or
corrupt key must stop the caller with a message that says which key and what to restore,
and must never echo key material.
"""

from __future__ import annotations


class PiiError(RuntimeError):
    """Base class: any problem with PII keys or ciphertexts."""


class KeyringError(PiiError):
    """The keyring file is missing, unreadable or malformed (message names the field)."""


class MissingKeyError(PiiError):
    """A data key or key-encryption key that a value needs is not available."""


class IntegrityError(PiiError):
    """Authentication failed: the ciphertext, wrapped key or key is corrupt or was swapped."""


class KeyInUseError(PiiError):
    """A key cannot be retired or removed because values or data keys still depend on it."""
