"""The foundation every package stands on: configuration, logging, database TLS, PII encryption.

It imports no other package of the platform (the layering contract in pyproject.toml); the
``promptsales`` command lives above everything, in ``promptsales_cli``.
"""

__version__ = "0.1.0"
