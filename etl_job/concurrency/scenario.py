"""The concurrency problems ``promptsales etl simulate`` can stage (kept light: the command
line names them without importing the simulations)."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    LOST_UPDATE = "lost-update"
    DIRTY_READ = "dirty-read"
    DEADLOCK = "deadlock"
    ALL = "all"
