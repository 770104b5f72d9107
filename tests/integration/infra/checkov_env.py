"""A virtualenv with checkov, separate from the project's.

checkov 3.3 pins packaging<24, networkx<3 and python-dateutil<2.9.1, below what
requirements.lock holds, so it cannot live in ``.venv``. The environment is built once per
machine from ``infra/checkov-requirements.txt`` (exact versions), keyed by that file's hash,
under ``$PROMPTSALES_CHECKOV_HOME`` (default ``~/.cache/promptsales``); a file lock keeps two
xdist workers from building it at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "infra" / "checkov-requirements.txt"


def checkov_executable() -> Path:
    """Path of the ``checkov`` script, installing the environment on first use."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    home = Path(os.environ.get("PROMPTSALES_CHECKOV_HOME", Path.home() / ".cache" / "promptsales"))
    home.mkdir(parents=True, exist_ok=True)
    venv = home / f"checkov-{digest}"
    done = venv / ".installed"
    with (home / f"checkov-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    str(REQUIREMENTS),
                ],
                check=True,
                timeout=1200,
            )
            done.write_text(digest, encoding="utf-8")
    return venv / "bin" / "checkov"
