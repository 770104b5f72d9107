"""``python -m promptsales_cli``: the ``promptsales`` command without the console script."""

from promptsales_cli.main import main

main()
