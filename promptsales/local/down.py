"""``promptsales down``: stop what ``up`` started; keep the data unless asked to delete it."""

from __future__ import annotations

import shutil

from promptsales.local.databases import drop_databases
from promptsales.local.processes import ManagedProcess
from promptsales.local.settings import LocalSettings

MANAGED = ("mcp-server", "secantusdb")


def down(settings: LocalSettings, *, delete_data: bool) -> list[str]:
    """Stop managed processes; with ``delete_data`` also drop databases and the state dir."""
    home = settings.home.resolve()
    done: list[str] = []
    for name in MANAGED:
        if ManagedProcess(name, home).stop():
            done.append(f"stopped {name}")
    if delete_data:
        for database in drop_databases(settings):
            done.append(f"dropped database {database}")
        if home.exists():
            shutil.rmtree(home)
            done.append(f"removed {home}")
    return done
