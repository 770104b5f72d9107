"""Entry point of the operator's container: ``python -m promptsales_operator run``."""

from promptsales_operator.cli import main

main()
