"""The CronJob's own mode: per-campaign runs after a 1% change, against one ``--all`` run.

Every campaign's CronJob runs ``promptsales etl run --campaign-id N`` on its own schedule;
the platform pays the sum of those runs where one ``--all`` run would do the same work
once. This measures that sum, in one process (the runs' own cost: sources, warehouse,
merge) and as processes (what the CronJobs really pay, with the interpreter's start and
imports), against one ``--all`` run over the same change.

Set-up, outside every timer: the seed (``--campaigns``, ``--customers``, 90 days), a
full ``--all`` load, one run of every sampled campaign's scope (so each scope has its
watermarks, as a running CronJob has), then 1% of every source table changes (the same
change as ``bench.etl_load``). The warehouse is then copied twice (``CREATE DATABASE ...
TEMPLATE``), so the three contenders start from the identical state: in-process
per-campaign runs, per-campaign processes, one ``--all``.

``--sample N`` runs N campaigns' scopes (evenly spread over the ids) instead of all of
them and scales their sum by campaigns / N; the JSON says which. A per-campaign process
with nothing to do is timed too (the floor of every CronJob firing).

Run: ``python -m bench.etl_cronjob [--campaigns 1000] [--customers 500000] [--sample 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.etl_load import (
    ADMIN_DSN,
    change_one_percent,
    databases,
    dsn_for,
    run_promptsales,
    seed,
    settings_for,
    url_for,
)
from etl_job.extract import Scope
from etl_job.run import run_etl
from etl_job.warehouse import init_warehouse
from promptsales.pii.keyring import generate_keyring, write_keyring

RESULTS = Path(__file__).parent / "results" / "etl_cronjob.json"


def _copy_database(source: str, target: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


def _process_env(dbs: dict[str, str], warehouse: str, keyring_file: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PROMPTSALES_ETL_ADS_URL": url_for(dbs["ads"]),
        "PROMPTSALES_ETL_CRM_URL": url_for(dbs["crm"]),
        "PROMPTSALES_ETL_WAREHOUSE_DSN": dsn_for(warehouse),
        "PROMPTSALES_PII_KEYRING_FILE": str(keyring_file),
        "PROMPTSALES_SECRETS_DIR": "/nonexistent-promptsales-secrets",
        "PROMPTSALES_ENV_FILE": "",
    }


def _run_process(env: dict[str, str], campaign_id: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "promptsales_cli", "etl", "run", "--campaign-id", str(campaign_id)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"campaign {campaign_id}: {done.stdout} {done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=1_000)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--sample", type=int, default=50, help="campaign scopes to run")
    args = parser.parse_args()
    keyring = generate_keyring()
    results: dict[str, Any] = {"campaigns": args.campaigns, "customers": args.customers}
    with (
        databases("ads", "crm", "wh") as dbs,
        tempfile.TemporaryDirectory() as workdir,
    ):
        keyring_file = Path(workdir) / "keyring.json"
        write_keyring(keyring, keyring_file)
        results["source_rows"] = seed(dbs, args.campaigns, args.customers)
        init_warehouse(dsn_for(dbs["wh"]))
        run_promptsales(dbs, dbs["wh"], keyring)
        step = max(1, args.campaigns // args.sample)
        sampled = list(range(1, args.campaigns + 1, step))[: args.sample]
        for campaign in sampled:
            run_etl(settings_for(dbs, dbs["wh"]), Scope(campaign_id=campaign), keyring)
        results["rows_changed"] = change_one_percent(dbs)
        copies = {name: f"{dbs['wh']}_{name}" for name in ("proc", "all")}
        for copy in copies.values():
            _copy_database(dbs["wh"], copy)
        try:
            in_process = []
            for campaign in sampled:
                start = time.perf_counter()
                summary = run_etl(
                    settings_for(dbs, dbs["wh"]), Scope(campaign_id=campaign), keyring
                )
                in_process.append(time.perf_counter() - start)
                assert summary.status == "succeeded", summary.error
            env = _process_env(dbs, copies["proc"], keyring_file)
            as_processes = [_run_process(env, campaign) for campaign in sampled]
            idle = [_run_process(env, sampled[0]) for _ in range(5)]
            start = time.perf_counter()
            everything = run_promptsales(dbs, copies["all"], keyring)
            all_seconds = time.perf_counter() - start
        finally:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                for copy in copies.values():
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(copy)
                        )
                    )
    scale = args.campaigns / len(sampled)
    results |= {
        "sampled_campaigns": len(sampled),
        "scale_to_all_campaigns": scale,
        "in_process": {
            "median_run_seconds": statistics.median(in_process),
            "sum_sampled_seconds": sum(in_process),
            "sum_scaled_seconds": sum(in_process) * scale,
        },
        "as_processes": {
            "median_run_seconds": statistics.median(as_processes),
            "sum_sampled_seconds": sum(as_processes),
            "sum_scaled_seconds": sum(as_processes) * scale,
            "idle_run_median_seconds": statistics.median(idle),
        },
        "all_run": {"seconds": all_seconds, "rows_read": sum(everything.rows_read.values())},
        "load_average": os.getloadavg(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    ip, ap = results["in_process"], results["as_processes"]
    print(f"{results['rows_changed']} rows changed; {len(sampled)} of {args.campaigns} scopes run")
    print(
        f"per-campaign, in process: median {ip['median_run_seconds']:.3f} s, "
        f"sum x{scale:.0f} = {ip['sum_scaled_seconds']:.1f} s"
    )
    print(
        f"per-campaign, processes:  median {ap['median_run_seconds']:.3f} s, "
        f"sum x{scale:.0f} = {ap['sum_scaled_seconds']:.1f} s; "
        f"idle process {ap['idle_run_median_seconds']:.3f} s"
    )
    print(f"one --all run: {all_seconds:.2f} s")
    print(f"load average {results['load_average']}")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
