#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: install, services, lint, types, tests.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`, `scripts/test.sh tests/unit/certs`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv
step "services"
bash "$ROOT/scripts/services.sh"
step "ruff check"
ruff check .
step "ruff format --check"
ruff format --check .
step "mypy (strict)"
mypy
step "pytest (unit, integration, e2e)"
exec python -m pytest -n 2 --dist loadgroup -p no:cacheprovider "$@"
