"""The keyring file: key-encryption keys by id, which one wraps new data keys, the HMAC key.

It is the content of the Kubernetes Secret ``promptsales-pii-keyring`` mounted as a file
(path in ``PROMPTSALES_PII_KEYRING_FILE``). Rotating a KEK means adding a new one here,
making it active, re-wrapping data keys (``promptsales pii rotate-kek``) and only then
removing the old one. Validation errors name the field but never print a key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from promptsales.pii.errors import KeyringError

KEY_BYTES = 32
KEYRING_VERSION = 1


def _decode_key(value: str, *, min_len: int, exact: bool) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if (exact and len(raw) != min_len) or len(raw) < min_len:
        raise ValueError(f"must decode to {'exactly' if exact else 'at least'} {min_len} bytes")
    return raw


class Keyring(BaseModel):
    """Parsed keyring; key bytes stay out of ``repr`` (pydantic shows only field names here)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    version: int = Field(default=KEYRING_VERSION)
    active_kek_id: str = Field(min_length=1, max_length=100)
    keks: dict[str, str] = Field(min_length=1, repr=False)
    hmac_key: str = Field(repr=False)

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != KEYRING_VERSION:
            raise ValueError(f"unsupported keyring version, expected {KEYRING_VERSION}")
        return value

    @field_validator("keks")
    @classmethod
    def _valid_keks(cls, value: dict[str, str]) -> dict[str, str]:
        for kek_id, encoded in value.items():
            try:
                _decode_key(encoded, min_len=KEY_BYTES, exact=True)
            except ValueError as exc:
                raise ValueError(f"KEK {kek_id!r} {exc}") from None
        return value

    @field_validator("hmac_key")
    @classmethod
    def _valid_hmac(cls, value: str) -> str:
        _decode_key(value, min_len=KEY_BYTES, exact=False)
        return value

    @model_validator(mode="after")
    def _active_present(self) -> Keyring:
        if self.active_kek_id not in self.keks:
            raise ValueError(f"active_kek_id {self.active_kek_id!r} is not one of keks")
        return self

    def kek(self, kek_id: str) -> bytes | None:
        encoded = self.keks.get(kek_id)
        return None if encoded is None else base64.b64decode(encoded)

    def hmac_key_bytes(self) -> bytes:
        return base64.b64decode(self.hmac_key)


def parse_keyring(data: Any, source: str) -> Keyring:
    try:
        return Keyring.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(keyring)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise KeyringError(f"invalid keyring {source}: {problems}") from None


def load_keyring(path: Path) -> Keyring:
    """Read and validate the keyring file; errors name the file and field, never a key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyringError(
            f"cannot read keyring file {path} ({exc.strerror}); "
            "is the Secret promptsales-pii-keyring mounted and PROMPTSALES_PII_KEYRING_FILE set?"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyringError(f"keyring file {path} is not JSON (line {exc.lineno})") from None
    return parse_keyring(data, str(path))


def new_kek_id() -> str:
    return f"kek-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def generate_keyring() -> Keyring:
    kek_id = new_kek_id()
    return Keyring(
        active_kek_id=kek_id,
        keks={kek_id: _b64(secrets.token_bytes(KEY_BYTES))},
        hmac_key=_b64(secrets.token_bytes(KEY_BYTES)),
    )


def with_new_kek(keyring: Keyring, *, activate: bool = True) -> tuple[Keyring, str]:
    """The keyring plus a fresh KEK (active unless told otherwise); old KEKs stay for unwrap."""
    kek_id = new_kek_id()
    keks = {**keyring.keks, kek_id: _b64(secrets.token_bytes(KEY_BYTES))}
    active = kek_id if activate else keyring.active_kek_id
    return keyring.model_copy(update={"keks": keks, "active_kek_id": active}), kek_id


def without_kek(keyring: Keyring, kek_id: str) -> Keyring:
    if kek_id == keyring.active_kek_id:
        raise KeyringError(f"KEK {kek_id!r} is the active one; activate another KEK first")
    if kek_id not in keyring.keks:
        raise KeyringError(f"KEK {kek_id!r} is not in the keyring")
    keks = {k: v for k, v in keyring.keks.items() if k != kek_id}
    return keyring.model_copy(update={"keks": keks})


def write_keyring(keyring: Keyring, path: Path) -> None:
    """Write atomically with mode 0600 (the file holds key material)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keyring.model_dump(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    tmp.replace(path)
