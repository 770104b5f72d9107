"""The local content store: a SecantusDB server (MongoDB wire protocol) with data on disk.

SecantusDB stands in for the cluster's MongoDB StatefulSet; the MCP server reaches it
with plain pymongo, as it would reach MongoDB.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pymongo

from promptsales_cli.local.processes import ManagedProcess
from promptsales_cli.local.progress import StepFailedError


def find_secantus() -> str | None:
    """The ``secantusd-py`` of this interpreter's environment, else one on PATH, else None."""
    candidate = Path(sys.executable).with_name("secantusd-py")
    if candidate.exists():
        return str(candidate)
    return shutil.which("secantusd-py")


def _executable() -> str:
    found = find_secantus()
    if found is None:
        raise StepFailedError(
            "SecantusDB (the local MongoDB wire-protocol server) is not installed: "
            "run ./scripts/quickstart.sh, or pip install 'secantusdb==0.7.0b3'"
        )
    return found


def ping(uri: str, timeout_ms: int = 500) -> bool:
    client: pymongo.MongoClient[dict[str, object]]
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms) as client:
            client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False


def ensure_mongo(home: Path, port: int, uri: str, timeout_s: float = 60.0) -> tuple[bool, int]:
    """Find the server on ``port`` or start it; returns (started_now, pid or 0 if foreign)."""
    process = ManagedProcess("secantusdb", home)
    if ping(uri):
        return False, process.pid() or 0
    data = home / "mongo-data"
    data.mkdir(parents=True, exist_ok=True)
    args = [_executable(), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--storage-path", str(data), "--log-level", "WARNING"]
    pid = process.start(args)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ping(uri):
            return True, pid
        if process.pid() is None:
            break
        time.sleep(0.2)
    raise StepFailedError(
        f"SecantusDB did not start on 127.0.0.1:{port}; its log says:\n{process.log_tail()}"
    )
