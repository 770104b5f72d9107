"""One way to load a component's configuration, so every bad field is reported the same way.

Each component declares its own ``pydantic_settings.BaseSettings`` subclass with an
``env_prefix`` under ``PROMPTSALES_``. Loading goes through :func:`load_settings`, which
turns pydantic's validation report into a :class:`ConfigError` naming the environment
variable a person has to fix, without echoing the rejected value (it may be a secret).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

ENV_PREFIX = "PROMPTSALES_"

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ConfigError(ValueError):
    """Configuration that cannot start a component; the message names every bad field."""

    def __init__(self, component: str, problems: list[str]) -> None:
        self.component = component
        self.problems = problems
        super().__init__(f"invalid {component} configuration: " + "; ".join(problems))


def _env_name(settings_cls: type[BaseSettings], location: tuple[int | str, ...]) -> str:
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    field = ".".join(str(part) for part in location) if location else "(settings)"
    return f"{prefix}{field}".upper() if prefix else field


def load_settings(settings_cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build ``settings_cls`` from the environment (and ``overrides``), or raise ConfigError.

    The error lists each offending field as its environment variable name plus pydantic's
    reason. Input values are deliberately left out: configuration carries passwords.
    """
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        problems = [
            f"{_env_name(settings_cls, tuple(err['loc']))}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(settings_cls.__name__, problems) from None


SECRETS_DIR_ENV = "PROMPTSALES_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/var/run/secrets/promptsales"


def secrets_dir() -> str | None:
    """Directory of mounted Secret files (one file per setting, named like its env var).

    Kubernetes mounts credentials here so they never sit in environment variables; the
    directory is optional, so local runs and tests fall back to the environment.
    """
    import os

    path = os.environ.get(SECRETS_DIR_ENV, DEFAULT_SECRETS_DIR)
    return path if os.path.isdir(path) else None
