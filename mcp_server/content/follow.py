"""Following ``PromptContent`` through a MongoDB change stream, where the server offers one.

Why: polling the content version and then reading every document again costs a full read
of the collection per load (150 MB at 100K items, whatever changed) and up to the refresh
interval of delay. A change stream carries only what changed, in commit order, as soon
as it is committed, and its resume token lets a reconnect (an election, a dropped
connection) continue exactly after the last event applied, so nothing is missed.

The rules the server relies on:

- The stream is opened *before* the first full load. Events for writes the load already
  saw are applied again, which is harmless: each carries the document's whole state
  (``fullDocument``, looked up for updates) or its deletion, applied by id.
- Item changes are collected and published at the next change of the content version
  that follows them (the loader raises the version after its last write). The version is
  part of every cache key, so a snapshot is labelled with a version only once it holds
  everything written before that version was raised: the same promise the polling path
  makes. A write that never raises the version waits for the next one, as it does there.
- Dropping a collection, a rename or an invalidated stream cannot be applied item by
  item: the batch says ``reload`` and the server reads everything again.
- A server without change streams (a standalone ``mongod``, the SecantusDB stand-in in
  tests and on the local platform) refuses the open with an error: :meth:`open` answers
  False and the server keeps polling the version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo.errors import OperationFailure, PyMongoError

from mcp_server.content.store import META_COLLECTION, VERSION_ID, ContentStore

log = logging.getLogger(__name__)

Document = dict[str, Any]

# A standalone mongod refuses the stage with 40573 (IllegalOperation); any refusal of the
# open means "poll". Codes the follower itself acts on:
HISTORY_LOST = 286  # ChangeStreamHistoryLost: the token fell off the oplog
_RELOAD_EVENTS = frozenset({"drop", "rename", "dropDatabase", "invalidate"})


class ChangeStream(Protocol):
    """What the follower uses of :class:`pymongo.change_stream.ChangeStream`."""

    def try_next(self) -> Mapping[str, Any] | None: ...

    @property
    def resume_token(self) -> Mapping[str, Any] | None: ...

    def close(self) -> None: ...


# (pipeline, resume_after, max_await_time_ms) -> an open stream; pymongo's own by default.
OpenStream = Callable[[list[Document], Mapping[str, Any] | None, int], ChangeStream]


@dataclass
class ChangeBatch:
    """Changes to publish together: item states by id (None: deleted) and the version."""

    items: dict[str, Document | None] = field(default_factory=dict)
    version: int | None = None
    reload: bool = False

    def __bool__(self) -> bool:
        return bool(self.items) or self.version is not None or self.reload


class HistoryLostError(RuntimeError):
    """The stream cannot resume where it stopped; the caller reloads everything."""


def watch_pipeline(store: ContentStore, items: bool) -> list[Document]:
    """Only the content collection's and the version document's events reach the server."""
    collections = [META_COLLECTION, store.collection.name] if items else [META_COLLECTION]
    return [{"$match": {"ns.coll": {"$in": collections}}}]


def pymongo_stream(store: ContentStore) -> OpenStream:
    """Open a database-level stream (two collections, one order) with pymongo."""

    def open_stream(
        pipeline: list[Document], resume_after: Mapping[str, Any] | None, max_await_ms: int
    ) -> ChangeStream:
        return store.db.watch(
            pipeline,
            full_document="updateLookup",
            resume_after=resume_after,
            max_await_time_ms=max_await_ms,
        )

    return open_stream


class ContentFollower:
    """Turns a change stream into :class:`ChangeBatch` es, reopening it from its token."""

    def __init__(
        self,
        store: ContentStore,
        *,
        items: bool = True,
        open_stream: OpenStream | None = None,
        max_await_ms: int = 1000,
    ) -> None:
        self.store = store
        self.items = items
        self.open_stream = open_stream or pymongo_stream(store)
        self.max_await_ms = max_await_ms
        self.pipeline = watch_pipeline(store, items)
        self._stream: ChangeStream | None = None
        self.resume_token: Mapping[str, Any] | None = None
        self._pending = ChangeBatch()
        self.interrupted = False

    def open(self) -> bool:
        """Start following; False where the server offers no change streams."""
        try:
            self._stream = self.open_stream(self.pipeline, None, self.max_await_ms)
            # Servers may refuse only on the first getMore; ask once now, so "no change
            # streams" is learnt here rather than as a failure in the loop.
            first = self._stream.try_next()
        except OperationFailure as exc:
            log.info(
                "no change streams on this server; polling the content version",
                extra={"error": str(exc)},
            )
            self.close()
            return False
        self.resume_token = self._stream.resume_token
        if first is not None:
            self._apply(first)
        return True

    @property
    def pending_ids(self) -> set[str]:
        """Items changed since the last version change, not yet published."""
        return set(self._pending.items)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def reopen(self) -> None:
        """Drop the position and follow from now (after a full reload)."""
        self.close()
        self.resume_token = None
        self._pending = ChangeBatch()
        self._stream = self.open_stream(self.pipeline, None, self.max_await_ms)
        self.resume_token = self._stream.resume_token

    def next_batch(self) -> ChangeBatch | None:
        """Wait up to ``max_await_ms`` for events; a batch to publish, or None.

        Events are read until the stream has nothing more or a version change closes a
        batch. A broken stream is reopened from the last token applied; a token the
        server no longer has raises :class:`HistoryLostError`.
        """
        while True:
            try:
                if self._stream is None:
                    self._stream = self.open_stream(
                        self.pipeline, self.resume_token, self.max_await_ms
                    )
                event = self._stream.try_next()
                self.interrupted = False
            except OperationFailure as exc:
                if exc.code == HISTORY_LOST or "ChangeStreamHistoryLost" in str(exc):
                    self.close()
                    raise HistoryLostError(str(exc)) from exc
                self._broken(exc)
                return None
            except PyMongoError as exc:
                self._broken(exc)
                return None
            if event is None:
                self.resume_token = self._stream.resume_token
                return None
            self.resume_token = self._stream.resume_token
            if self._apply(event):
                batch, self._pending = self._pending, ChangeBatch()
                return batch

    def _broken(self, exc: PyMongoError) -> None:
        log.warning(
            "change stream interrupted; resuming from the last event applied",
            extra={"error": repr(exc)},
        )
        self.close()
        self.interrupted = True

    def _apply(self, event: Mapping[str, Any]) -> bool:
        """Record one event; True when it closes a batch (a version change, a reload)."""
        operation = event.get("operationType")
        if operation in _RELOAD_EVENTS:
            self._pending.reload = True
            return True
        namespace = event.get("ns", {}).get("coll")
        key = event.get("documentKey", {}).get("_id")
        document = event.get("fullDocument")
        if namespace == META_COLLECTION:
            if key != VERSION_ID or operation == "delete" or document is None:
                return False
            self._pending.version = int(document["value"])
            return True
        if not self.items or key is None:
            return False
        if operation == "delete" or document is None:
            # An update's document is looked up when read (updateLookup): None means the
            # item was deleted since, and that deletion's own event follows.
            self._pending.items[str(key)] = None
        elif operation in {"insert", "replace", "update"}:
            self._pending.items[str(key)] = dict(document)
        return False
