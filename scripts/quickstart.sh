#!/usr/bin/env bash
# First command of the README: virtual environment, locked install, services, then the
# platform's main job on local defaults (see the README's quick start for what it does).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv
step "services"
bash "$ROOT/scripts/services.sh"
step "promptsales up (local data plane)"
exec promptsales up "$@"
