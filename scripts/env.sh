# shellcheck shell=bash
# Sourced by the other scripts: creates .venv and installs the locked dependencies,
# skipping the install when requirements.lock and pyproject.toml are unchanged.
# It leaves the caller's shell options alone (a sourcing shell with errexit switched on
# behind its back silently skipped every command after a failing one). The install runs
# in a subshell whose every step is checked explicitly (errexit is ignored where the
# caller writes `ensure_venv && ...`), so a failed step never records the stamp.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PROMPTSALES_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*" >&2; }

_install_venv() (
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating virtual environment $VENV"
        "$PYTHON_BIN" -m venv "$VENV" || exit 1
    fi
    local stamp="$VENV/.promptsales-install-stamp"
    local want
    want="$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)" || exit 1
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        step "installing locked dependencies (requirements.lock) and the promptsales package"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || exit 1
        # torch==2.13.0+cpu comes from the machine's local wheel directory (pip find-links);
        # it is installed first so nothing resolves the multi-GB CUDA build.
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "$(grep -E '^torch==' "$ROOT/requirements.lock")" || exit 1
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements.lock" || exit 1
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT" || exit 1
        echo "$want" > "$stamp"
    fi
)

ensure_venv() {
    _install_venv || return 1  # the caller's errexit (scripts) or its own check (a shell)
    export PATH="$VENV/bin:$PATH"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
}
