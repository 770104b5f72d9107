"""``platform.env``: where the local platform is, for every ``promptsales`` command after ``up``.

``promptsales up`` writes ``<home>/platform.env`` with the settings each component needs
to reach the local platform, and ``<home>/secrets/platform/`` with the credentials (one
file per setting, the layout of a mounted Kubernetes Secret; the env file only points
at it with ``PROMPTSALES_SECRETS_DIR``, so no credential sits in the environment).
Every other ``promptsales`` command reads the env file at start and fills in only the
variables the environment does not set: an exported variable, or an exported
``PROMPTSALES_SECRETS_DIR`` with its files, still wins.

The file is found like ``up``'s state: ``$PROMPTSALES_LOCAL_HOME/platform.env``, by
default ``./.promptsales/platform.env``. ``PROMPTSALES_ENV_FILE`` names another file, or
turns the lookup off when set to the empty string.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from dotenv import dotenv_values

from promptsales.config import ConfigError
from promptsales_cli.local.settings import LocalSettings

ENV_FILE_NAME = "platform.env"
ENV_FILE_VARIABLE = "PROMPTSALES_ENV_FILE"
LOCAL_HOME_VARIABLE = "PROMPTSALES_LOCAL_HOME"


def env_file_path(environ: Mapping[str, str]) -> Path | None:
    """The env file this process should read, or None (turned off, or no such file).

    A file named by ``PROMPTSALES_ENV_FILE`` must exist: a typo must not silently fall
    back to nothing.
    """
    named = environ.get(ENV_FILE_VARIABLE)
    if named is not None:
        if not named:
            return None
        if not Path(named).is_file():
            raise ConfigError("environment", [f"{ENV_FILE_VARIABLE}: {named} is not a file"])
        return Path(named)
    default_home = LocalSettings.model_fields["home"].default
    home = Path(environ.get(LOCAL_HOME_VARIABLE) or default_home)
    path = home / ENV_FILE_NAME
    return path if path.is_file() else None


def _quoted(name: str, value: str) -> str:
    """One dotenv line; single quotes keep the value literal (paths, URLs, JSON)."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"{name}: a value for the env file must be one line")
    if "'" not in value:
        return f"{name}='{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def write_env_file(home: Path, values: Mapping[str, str]) -> Path:
    """Write ``<home>/platform.env`` (mode 0600) by rename, so readers never see half."""
    path = home / ENV_FILE_NAME
    lines = [
        "# Written by `promptsales up`: where the local platform is. Every `promptsales`",
        "# command reads it; variables set in the environment win. Credentials are not",
        "# here but in the files of PROMPTSALES_SECRETS_DIR.",
        *(_quoted(name, value) for name, value in sorted(values.items())),
    ]
    fd, temporary = tempfile.mkstemp(dir=home, prefix=f".{ENV_FILE_NAME}.")
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` pairs of a dotenv file (python-dotenv's parser; no interpolation)."""
    return {
        key: value
        for key, value in dotenv_values(path, interpolate=False).items()
        if value is not None
    }


def apply_env_file(environ: MutableMapping[str, str]) -> list[str]:
    """Fill ``environ`` from the env file where it has no value; returns the names set."""
    path = env_file_path(environ)
    if path is None:
        return []
    applied = []
    for name, value in read_env_file(path).items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied
