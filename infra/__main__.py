"""``pulumi up`` runs this file (``Pulumi.yaml`` points ``main`` at ``infra/``)."""

from infra.program import main

main()
