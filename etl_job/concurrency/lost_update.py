"""Lost update on PostgreSQL: two deposits read the same balance and one overwrites the other.

The account starts at 100; T1 deposits 10 and T2 deposits 20, so a correct result is 130.
Both sessions read before either writes (a barrier makes sure of it). With a plain
read-modify-write at READ COMMITTED the second write replaces the first. Three
countermeasures are staged against the same interleaving: a pessimistic row lock
(``SELECT ... FOR UPDATE``), optimistic versioning (``UPDATE ... WHERE version = ?``, retry
on zero rows), and REPEATABLE READ, where PostgreSQL aborts the second writer with a
serialization failure and the deposit is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import IsolationLevel, errors

from etl_job.concurrency.choreography import TwoSessions
from etl_job.concurrency.databases import STEP_TIMEOUT_S, SimulationError, postgres_database
from etl_job.concurrency.outcome import Outcome, Trace

SCENARIO = "lost-update"
START_BALANCE = 100
DEPOSITS = (("T1", 10), ("T2", 20))
EXPECTED_BALANCE = START_BALANCE + sum(amount for _, amount in DEPOSITS)
MAX_ATTEMPTS = 5


class _StaleVersionError(Exception):
    """The row changed since it was read: the optimistic write matched nothing."""


@dataclass(frozen=True)
class _Variant:
    name: str
    protected: bool
    lock_on_read: bool = False
    versioned: bool = False
    isolation: IsolationLevel = IsolationLevel.READ_COMMITTED


VARIANTS = (
    _Variant("read-modify-write", protected=False),
    _Variant("select-for-update", protected=True, lock_on_read=True),
    _Variant("optimistic-version", protected=True, versioned=True),
    _Variant("repeatable-read", protected=True, isolation=IsolationLevel.REPEATABLE_READ),
)


def _create_schema(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL,"
            " version int NOT NULL DEFAULT 1)"
        )
        conn.execute("INSERT INTO account (id, balance) VALUES (1, %s)", (START_BALANCE,))


def _deposit(
    conn: psycopg.Connection[tuple[int, int]],
    actor: str,
    amount: int,
    variant: _Variant,
    trace: Trace,
    after_first_read: Callable[[], None],
) -> int:
    """Read the balance, add ``amount``, write it back; return how many attempts it took."""
    read = "SELECT balance, version FROM account WHERE id = 1"
    if variant.lock_on_read:
        read += " FOR UPDATE"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with conn.transaction():
                row = conn.execute(read).fetchone()
                if row is None:
                    raise SimulationError("the account row is missing")
                balance, version = row
                trace.step(actor, f"read balance={balance} version={version}")
                if attempt == 1:
                    after_first_read()
                new_balance = balance + amount
                if variant.versioned:
                    cur = conn.execute(
                        "UPDATE account SET balance = %s, version = version + 1"
                        " WHERE id = 1 AND version = %s",
                        (new_balance, version),
                    )
                    if cur.rowcount == 0:
                        raise _StaleVersionError
                else:
                    conn.execute("UPDATE account SET balance = %s WHERE id = 1", (new_balance,))
                trace.step(actor, f"writes balance={new_balance} and commits")
            return attempt
        except _StaleVersionError:
            trace.step(actor, f"version {version} is stale (0 rows updated): rolled back, retrying")
        except errors.SerializationFailure:
            trace.step(actor, "serialization failure (40001): rolled back, retrying")
    raise SimulationError(f"{actor} gave up after {MAX_ATTEMPTS} attempts")


def _run_variant(dsn: str, variant: _Variant) -> Outcome:
    _create_schema(dsn)
    trace = Trace()
    # Unlocked reads: both sessions read before either writes, the race made certain.
    # FOR UPDATE: T1 keeps the row lock until T2 is seen queued behind it.
    sessions = TwoSessions(queued=variant.lock_on_read)
    conns = [psycopg.connect(dsn) for _ in DEPOSITS]
    observer = psycopg.connect(dsn, autocommit=True)
    try:
        for conn in conns:
            conn.isolation_level = variant.isolation
        with ThreadPoolExecutor(max_workers=len(DEPOSITS)) as pool:
            (a1, amount1), (a2, amount2) = DEPOSITS
            first = pool.submit(_deposit, conns[0], a1, amount1, variant, trace, sessions.hook(a1))
            sessions.await_first(a1, "T1 never read the row")
            second = pool.submit(_deposit, conns[1], a2, amount2, variant, trace, sessions.hook(a2))
            sessions.release_first(
                observer, conns[1].info.backend_pid, trace, "blocked: waiting for T1's row lock"
            )
            attempts = first.result(STEP_TIMEOUT_S) + second.result(STEP_TIMEOUT_S)
        row = observer.execute("SELECT balance FROM account WHERE id = 1").fetchone()
    finally:
        for conn in (*conns, observer):
            conn.close()
    final = int(row[0]) if row else -1
    lost = final != EXPECTED_BALANCE
    summary = (
        f"final balance {final}, expected {EXPECTED_BALANCE}: "
        + (f"a deposit of {EXPECTED_BALANCE - final} was lost" if lost else "no update lost")
        + f" ({attempts} attempts for {len(DEPOSITS)} deposits)"
    )
    return Outcome(
        scenario=SCENARIO,
        variant=variant.name,
        engine="postgresql",
        protected=variant.protected,
        anomaly=lost,
        summary=summary,
        steps=trace.freeze(),
        facts={"final_balance": final, "expected_balance": EXPECTED_BALANCE, "attempts": attempts},
    )


def simulate(admin_dsn: str) -> list[Outcome]:
    """Every variant, each in its own throwaway database."""
    outcomes = []
    for variant in VARIANTS:
        with postgres_database(admin_dsn, SCENARIO) as dsn:
            outcomes.append(_run_variant(dsn, variant))
    return outcomes
