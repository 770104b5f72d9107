"""``promptsales down``: stop what ``up`` started; keep the data unless asked to delete it."""

from __future__ import annotations

import os
import shutil

import redis

from promptsales_cli.local.databases import drop_databases
from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.settings import LocalSettings

MANAGED = ("operator", "mcp-server", "secantusdb")  # operator: `up --kubeconfig`
DEFAULT_CACHE_PREFIX = "promptsales:mcp:"


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN in batches, never KEYS: the server is shared)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.delete(*batch))
            batch.clear()
    if batch:
        deleted += int(client.delete(*batch))
    return deleted


def _clear_cache(url: str, prefix: str) -> int:
    """Drop cached MCP answers, which would otherwise outlive the data they came from."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        return delete_prefix(client, prefix)
    except redis.exceptions.ConnectionError:
        return 0
    finally:
        client.close()


def down(settings: LocalSettings, *, delete_data: bool) -> list[str]:
    """Stop managed processes; with ``delete_data`` also drop databases and the state dir."""
    home = settings.home.resolve()
    done: list[str] = []
    for name in MANAGED:
        if ManagedProcess(name, home).stop():
            done.append(f"stopped {name}")
    if delete_data:
        prefix = os.environ.get("PROMPTSALES_MCP_CACHE_PREFIX", DEFAULT_CACHE_PREFIX)
        cleared = _clear_cache(settings.redis_url, prefix)
        done.append(f"deleted {cleared} cached MCP answers under {prefix}")
        for database in drop_databases(settings):
            done.append(f"dropped database {database}")
        if home.exists():
            shutil.rmtree(home)
            done.append(f"removed {home}")
    return done
