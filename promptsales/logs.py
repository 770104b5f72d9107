"""Structured (JSON-lines) logging with secret redaction, shared by every long-running program.

Why one module: the operator, the ETL job and the MCP server must all produce lines a log
pipeline can parse, and none of them may ever print a password, token or private key.
Redaction therefore happens in the formatter, after every call site, not at each call.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

SECRET_KEY_PATTERN = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|private[_-]?key|authorization|kek|dek|credential)",
    re.IGNORECASE,
)
_INLINE_SECRETS = [
    # PEM private keys of any flavour.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # user:password@ in URLs and DSNs.
    re.compile(r"(?<=://)([^:/@\s]*):([^@\s]+)@"),
    # key=value pairs in libpq/ODBC connection strings.
    # (quoted libpq values may hold spaces; braced ODBC values may hold ';' and '}}').
    re.compile(r"(?i)\b(password|pwd)\s*=\s*(?:'(?:[^'\\]|\\.)*'|\{(?:[^}]|\}\})*\}|[^\s;]+)"),
    # Bearer tokens.
    re.compile(r"(?i)bearer\s+[A-Za-z0-9\-._~+/]+=*"),
]
REDACTED = "[REDACTED]"

_STANDARD_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Longest extra value kept in a line; a library that passes an object (kopf hands its whole
# OperatorSettings to every object logger, about 2 KB) must not multiply the log volume.
MAX_EXTRA_CHARS = 512
_SCALARS = (str, int, float, bool, type(None))


def _loggable(value: Any, depth: int = 0) -> bool:
    """Plain data (scalars, and small lists and mappings of them) is logged; objects not."""
    if isinstance(value, _SCALARS):
        return True
    if depth >= 2:
        return False
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _loggable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_loggable(v, depth + 1) for v in value)
    return False


def redact_text(text: str) -> str:
    """Mask secrets that can hide inside free text (PEM keys, DSN passwords, bearer tokens)."""
    text = _INLINE_SECRETS[0].sub(REDACTED, text)
    text = _INLINE_SECRETS[1].sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    text = _INLINE_SECRETS[2].sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _INLINE_SECRETS[3].sub(f"Bearer {REDACTED}", text)


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with secret-named keys masked and secret-looking text cleaned."""
    if key is not None and SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name in _STANDARD_RECORD_FIELDS or name.startswith("_") or not _loggable(value):
                continue
            cleaned = redact(value, name)
            text = json.dumps(cleaned, default=str, separators=(",", ":"))
            payload[name] = cleaned if len(text) <= MAX_EXTRA_CHARS else text[:MAX_EXTRA_CHARS]
        if record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route the root logger to stderr as JSON lines (or plain text for a terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
