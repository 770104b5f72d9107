"""What PII envelope encryption costs the ETL's full load, as a ratio measured in one run.

Two full loads of the same seed into fresh warehouses, interleaved and repeated so noise
from other processes hits both alike:

- ``encrypted``: the production path, personal fields AES-GCM encrypted under the active
  data key, HMAC-SHA256 join key of the normalized email;
- ``plain``: the identical pipeline with a benchmark-only cipher that serializes the same
  fields but neither encrypts nor hashes (defined here, never reachable from the CLI).

Throughput is source rows / wall seconds of :func:`etl_job.run.run_etl`; the best of the
repeats per mode is compared. On a shared machine wall time is noisy, so the ETL process's
own CPU seconds (where all encryption work happens) are reported too. Target (issue 8):
encryption costs at most 25% of throughput, i.e. ``encrypted / plain >= 0.75``.

Run: ``python -m bench.etl_pii [--customers 100000] [--campaigns 200] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.etl_load import databases, dsn_for, run_promptsales, url_for
from etl_job.seed import SeedSize, seed_sources
from etl_job.warehouse import init_warehouse
from promptsales.pii import PiiCipher, normalize_email
from promptsales.pii.keyring import Keyring, generate_keyring

RESULTS = Path(__file__).parent / "results" / "etl_pii.json"


class PlainCipher(PiiCipher):
    """Same serialization as production, no AES-GCM, no HMAC: the 'encryption off' baseline."""

    def active_key_id(self) -> str:
        return "plain"

    def email_hmac(self, email: str) -> bytes:
        return normalize_email(email).encode()

    def batch_key(self) -> None:
        return None  # cannot be rebuilt in an encryption worker: encrypts in-thread

    def rows_encryptor(
        self, field_names: Sequence[str], key_id: str | None = None
    ) -> Callable[[Sequence[Sequence[Any]]], list[bytes]]:
        names = tuple(field_names)
        dumps = orjson.dumps

        def encode_rows(rows: Sequence[Sequence[Any]]) -> list[bytes]:
            return [dumps(dict(zip(names, values, strict=True)), default=str) for values in rows]

        return encode_rows


def plain_factory(conn: psycopg.Connection, keyring: Keyring) -> PiiCipher:
    return PlainCipher(keyring, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    keyring = generate_keyring()
    modes: dict[str, dict[str, Any]] = {
        "encrypted": {},
        "plain": {"cipher_factory": plain_factory},
    }
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    roles = ["ads", "crm"] + [f"wh{i}" for i in range(args.repeat * len(modes))]
    with databases(*roles) as dbs:
        seeded = seed_sources(
            url_for(dbs["ads"]),
            url_for(dbs["crm"]),
            SeedSize(campaigns=args.campaigns, customers=args.customers, days=90, seed=42),
        ).as_dict()
        rows_seen: set[int] = set()
        slot = 0
        for rep in range(args.repeat):
            order = list(modes) if rep % 2 == 0 else list(reversed(modes))
            for mode in order:
                warehouse = dbs[f"wh{slot}"]
                slot += 1
                init_warehouse(dsn_for(warehouse))
                start, start_cpu = time.perf_counter(), time.process_time()
                summary = run_promptsales(dbs, warehouse, keyring, **modes[mode])
                timings[mode].append(time.perf_counter() - start)
                cpu[mode].append(time.process_time() - start_cpu)
                rows_seen.add(sum(summary.rows_read.values()))
    if len(rows_seen) != 1:
        raise RuntimeError(f"modes read different row counts: {rows_seen}")
    rows = rows_seen.pop()
    best = {mode: min(values) for mode, values in timings.items()}
    rate = {mode: rows / secs for mode, secs in best.items()}
    ratio = rate["encrypted"] / rate["plain"]
    best_cpu = {mode: min(values) for mode, values in cpu.items()}
    cpu_ratio = best_cpu["plain"] / best_cpu["encrypted"]
    results = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "source_rows": seeded,
        "rows": rows,
        "seconds": timings,
        "best_seconds": best,
        "rows_per_second": rate,
        "encrypted_vs_plain": ratio,
        "encryption_cost": 1 - ratio,
        "etl_process_cpu_seconds": cpu,
        "cpu_plain_vs_encrypted": cpu_ratio,
        "target_max_cost": 0.25,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'mode':<10} {'rows':>9} {'best s':>8} {'rows/s':>10}")
    for mode in modes:
        print(f"{mode:<10} {rows:>9} {best[mode]:>8.2f} {rate[mode]:>10.0f}")
    print(f"encrypted / plain = {ratio:.3f}; encryption cost {1 - ratio:.1%} (target <= 25%)")
    print(
        f"ETL process CPU, best: encrypted {best_cpu['encrypted']:.2f} s, plain "
        f"{best_cpu['plain']:.2f} s (plain/encrypted = {cpu_ratio:.3f})"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
