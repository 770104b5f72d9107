"""The application layer: the ``promptsales`` command and what only it does.

It sits on top of everything: the local platform (``up``/``down``), ``render`` for GitOps,
the ``certs`` and ``pii`` commands, the CA rollover, and the components' own commands
mounted as sub-commands. Nothing below imports it (``tests/unit/test_layers.py``).
"""
