"""Pure checks remembered for repeats, keyed by the canonical JSON of what was checked.

A repeated tool call (the cached path) carries the same arguments as before, and the
checks that only read those arguments (the advertised JSON schema, the SDK's request and
argument models) give the same verdict every time. Measured on a cached ``getContent``,
those checks were about 40 % of what the server adds to a repeat beyond the no-op tool's
round trip (jsonschema alone ~25-50 us a call), so their verdicts are kept here.

Only what is a function of the JSON alone is remembered: authorization, readiness,
campaign scope and versions are checked on every call by the code that uses this.
Keys are ``orjson`` dumps with sorted keys, which keep JSON's types apart (``1``,
``1.0``, ``true`` and ``"1"`` are four keys); a value orjson cannot write (an integer
beyond 64 bits, say) is simply not remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

import orjson

V = TypeVar("V")


def canonical(*parts: object) -> bytes | None:
    """The key of ``parts`` (JSON values), or None when they cannot be written as JSON."""
    try:
        return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None


class BoundedMemo(Generic[V]):
    """Least-recently-used verdicts, at most ``size`` of them (callers' input is unbounded)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, V] = OrderedDict()

    def get(self, key: bytes | None) -> V | None:
        if key is None:
            return None
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: bytes | None, value: V) -> None:
        if key is None or self._size <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
