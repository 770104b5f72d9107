"""Where the simulations find their database servers."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptsales.config import load_settings, secrets_dir


class SimulationSettings(BaseSettings):
    """Admin connections used only to create and drop the simulations' throwaway databases.

    Both are secrets because a real deployment puts a password in them.
    """

    model_config = SettingsConfigDict(env_prefix="PROMPTSALES_ETL_SIM_", extra="ignore")

    postgres_dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    mariadb_url: SecretStr = SecretStr("mysql+pymysql://root@127.0.0.1:3306/")


def load_simulation_settings() -> SimulationSettings:
    return load_settings(SimulationSettings, _secrets_dir=secrets_dir())
