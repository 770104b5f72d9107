from tests.integration.etl.env import etl_env

__all__ = ["etl_env"]
