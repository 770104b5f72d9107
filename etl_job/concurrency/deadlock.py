"""Deadlock on PostgreSQL: two transfers lock the same two accounts in opposite order.

T1 moves 10 from account 1 to 2 while T2 moves 20 from account 2 to 1. Each debits its
source first; a barrier holds both after their first row lock, so each then waits for the
other's lock and PostgreSQL's deadlock detector aborts one (SQLSTATE 40P01). Without
protection that transfer is simply lost. With a retry on 40P01 the aborted transfer runs
again and lands. With ordered locking (always the lower account id first) plus the same
retry, the second transfer queues behind the first and no deadlock can form.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import errors

from etl_job.concurrency.choreography import TwoSessions
from etl_job.concurrency.databases import STEP_TIMEOUT_S, postgres_database
from etl_job.concurrency.outcome import Outcome, Trace

SCENARIO = "deadlock"
START_BALANCE = 100
#: actor, source account, destination account, amount
TRANSFERS = (("T1", 1, 2, 10), ("T2", 2, 1, 20))
EXPECTED = {1: START_BALANCE - 10 + 20, 2: START_BALANCE + 10 - 20}
MAX_ATTEMPTS = 3
#: The detector runs in whichever session's timer fires first; giving T2 the short one
#: makes T2 the victim every time, so the printed story does not vary between runs.
DEADLOCK_TIMEOUTS = {"T1": "5s", "T2": "100ms"}


@dataclass(frozen=True)
class _Variant:
    name: str
    protected: bool
    ordered: bool
    retry: bool


VARIANTS = (
    _Variant("opposite-order", protected=False, ordered=False, retry=False),
    _Variant("opposite-order+retry", protected=True, ordered=False, retry=True),
    _Variant("ordered-locking+retry", protected=True, ordered=True, retry=True),
)


@dataclass
class _Counters:
    deadlocks: int = 0
    failed_transfers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deadlock(self) -> None:
        with self.lock:
            self.deadlocks += 1


def _create_schema(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)")
        conn.execute("INSERT INTO account VALUES (1, %s), (2, %s)", (START_BALANCE, START_BALANCE))


def _transfer(
    conn: psycopg.Connection[tuple[int]],
    transfer: tuple[str, int, int, int],
    variant: _Variant,
    trace: Trace,
    counters: _Counters,
    after_first_lock: Callable[[], None],
) -> None:
    actor, source, destination, amount = transfer
    deltas = {source: -amount, destination: amount}
    order = sorted(deltas) if variant.ordered else [source, destination]
    attempts = MAX_ATTEMPTS if variant.retry else 1
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                for position, account in enumerate(order):
                    if position > 0:
                        trace.step(actor, f"asks for account {account}")
                    conn.execute(
                        "UPDATE account SET balance = balance + %s WHERE id = %s",
                        (deltas[account], account),
                    )
                    trace.step(actor, f"locked and updated account {account} ({deltas[account]:+})")
                    if position == 0 and attempt == 1:
                        after_first_lock()
                trace.step(actor, "commits")
            return
        except errors.DeadlockDetected:
            counters.deadlock()
            more = attempt < attempts
            trace.step(
                actor,
                "deadlock detected (40P01), rolled back"
                + (", retrying" if more else "; transfer abandoned"),
            )
    raise _TransferAbandonedError(actor)


class _TransferAbandonedError(Exception):
    pass


def _run_variant(dsn: str, variant: _Variant) -> Outcome:
    _create_schema(dsn)
    trace = Trace()
    counters = _Counters()
    # Unordered: both hold their first lock before either asks for the second, the cycle
    # made certain. Ordered: T2 is seen queued behind T1 on the same first account.
    sessions = TwoSessions(queued=variant.ordered)
    conns: list[psycopg.Connection[tuple[int]]] = []
    observer = psycopg.connect(dsn, autocommit=True)
    try:
        for actor, *_ in TRANSFERS:
            conn = psycopg.connect(dsn, autocommit=True)
            _set_deadlock_timeout(conn, DEADLOCK_TIMEOUTS[actor])
            conn.autocommit = False
            conns.append(conn)
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=len(TRANSFERS)) as pool:
            for conn, transfer in zip(conns, TRANSFERS, strict=True):
                actor = transfer[0]
                futures.append(
                    pool.submit(
                        _transfer, conn, transfer, variant, trace, counters, sessions.hook(actor)
                    )
                )
                sessions.await_first(actor, "T1 never took its first lock")
            sessions.release_first(
                observer,
                conns[1].info.backend_pid,
                trace,
                "blocked: queued behind T1 on account 1 (same lock order)",
            )
            for future in futures:
                try:
                    future.result(STEP_TIMEOUT_S)
                except _TransferAbandonedError:
                    counters.failed_transfers += 1
        rows = observer.execute("SELECT id, balance FROM account ORDER BY id").fetchall()
    finally:
        for conn in (*conns, observer):
            conn.close()
    balances = {int(account): int(balance) for account, balance in rows}
    anomaly = counters.failed_transfers > 0 or balances != EXPECTED
    summary = (
        f"{counters.deadlocks} deadlock(s) detected, {counters.failed_transfers} transfer(s) "
        f"lost; balances {balances}, expected {EXPECTED}"
    )
    return Outcome(
        scenario=SCENARIO,
        variant=variant.name,
        engine="postgresql",
        protected=variant.protected,
        anomaly=anomaly,
        summary=summary,
        steps=trace.freeze(),
        facts={
            "deadlocks": counters.deadlocks,
            "failed_transfers": counters.failed_transfers,
            "balance_1": balances.get(1, -1),
            "balance_2": balances.get(2, -1),
            "total": sum(balances.values()),
        },
    )


def _set_deadlock_timeout(conn: psycopg.Connection[tuple[int]], value: str) -> None:
    """Shorten detection when allowed (superuser); otherwise the server default applies."""
    try:
        conn.execute(f"SET deadlock_timeout = '{value}'")
    except errors.InsufficientPrivilege:
        return


def simulate(admin_dsn: str) -> list[Outcome]:
    """Every variant, each in its own throwaway database."""
    outcomes = []
    for variant in VARIANTS:
        with postgres_database(admin_dsn, SCENARIO) as dsn:
            outcomes.append(_run_variant(dsn, variant))
    return outcomes
