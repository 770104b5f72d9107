"""Background processes the local platform owns: started once, found again, stopped by ``down``.

A pid file plus the process's command line identify each one, so a second ``up`` finds
what the first started instead of starting a duplicate, and ``down`` never kills a
stranger that happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManagedProcess:
    """A named background process with its pid and log files under the state directory."""

    name: str
    home: Path

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running process we started, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return None
        marker = self.pid_file.with_suffix(".cmd")
        if marker.exists() and marker.read_bytes() != cmdline:
            return None
        return pid

    def start(self, args: list[str], env: dict[str, str] | None = None) -> int:
        """Start ``args`` detached, logging to the log file; returns the pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.with_suffix(".cmd").write_bytes(
                Path(f"/proc/{process.pid}/cmdline").read_bytes()
            )
        return process.pid

    def stop(self, timeout_s: float = 15.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout_s``; True when something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.pid_file.with_suffix(".cmd").unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
