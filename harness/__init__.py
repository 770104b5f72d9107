"""The real local services that tests and benchmarks run against, found or started here.

Both the test suite and ``bench/`` need PostgreSQL, Redis and a MongoDB wire-protocol
server; benchmarks must not import test code (the layering contract in pyproject.toml), so
what finds and starts those services lives in this package, below both.
"""
