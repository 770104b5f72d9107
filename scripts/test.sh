#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: install, services, lint, types, tests.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`, `scripts/test.sh tests/unit/certs`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv
step "services"
bash "$ROOT/scripts/services.sh"
# The MCP conformance suite, the MCP Inspector CLI and their Node.js 22, from the lock in
# tests/conformance (npm registry; instant when the lock is unchanged). If they cannot be
# installed, the rest still runs and tests/integration/mcp/test_conformance.py fails,
# naming the command that installs them.
step "MCP conformance tools (npm ci)"
bash "$ROOT/scripts/conformance-tools.sh" \
    || echo "conformance tools: install FAILED; the MCP conformance tests will fail" >&2
step "ruff check"
ruff check .
step "ruff format --check"
ruff format --check .
step "mypy (strict)"
mypy
# The real-cluster suite (tests/cluster) runs when a control plane can be started here:
# kube-apiserver and kube-controller-manager in $PROMPTSALES_KUBE_BIN_DIR (default
# /opt/kubernetes/bin), etcd there or on PATH, and kubectl. Nothing in this repository
# builds them; without them the emulator-based suite runs alone, and this says so.
CONTROL_PLANE="$ROOT/scripts/kube-control-plane.sh"
if [ -z "${PROMPTSALES_TEST_KUBECONFIG:-}" ] && command -v kubectl >/dev/null \
    && bash "$CONTROL_PLANE" available; then
    # A state directory and ports of its own run: a control plane someone runs by hand, or
    # the suite of another checkout on the same machine, goes on undisturbed.
    free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    export PROMPTSALES_KUBE_STATE_DIR="${PROMPTSALES_KUBE_STATE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/promptsales-kube-ci.XXXXXX")}"
    export PROMPTSALES_KUBE_PORT="${PROMPTSALES_KUBE_PORT:-$(free_port)}"
    export PROMPTSALES_KUBE_ETCD_PORT="${PROMPTSALES_KUBE_ETCD_PORT:-$(free_port)}"
    export PROMPTSALES_KUBE_ETCD_PEER_PORT="${PROMPTSALES_KUBE_ETCD_PEER_PORT:-$(free_port)}"
    export PROMPTSALES_KUBE_CM_PORT="${PROMPTSALES_KUBE_CM_PORT:-$(free_port)}"
    bash "$CONTROL_PLANE" stop --wipe >/dev/null 2>&1 || true
    PROMPTSALES_TEST_KUBECONFIG="$(bash "$CONTROL_PLANE" start)"
    export PROMPTSALES_TEST_KUBECONFIG
    export PROMPTSALES_TEST_KUBE_AUDIT_LOG="$PROMPTSALES_KUBE_STATE_DIR/audit.log"
    trap 'bash "$CONTROL_PLANE" stop --wipe >/dev/null 2>&1 || true' EXIT
fi
if [ -n "${PROMPTSALES_TEST_KUBECONFIG:-}" ]; then
    echo "real-cluster suite: RUNS against $PROMPTSALES_TEST_KUBECONFIG ($("$(command -v kubectl)" --kubeconfig "$PROMPTSALES_TEST_KUBECONFIG" version -o json 2>/dev/null | python -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo "version unknown"))" >&2
else
    echo "real-cluster suite: skipped (no control-plane binaries in ${PROMPTSALES_KUBE_BIN_DIR:-/opt/kubernetes/bin}, or no kubectl); emulator-based suite only" >&2
fi

if [ "$#" -gt 0 ]; then  # a selection: run just that (the cluster suite if named)
    step "pytest $*"
    python -m pytest -n 2 --dist loadgroup -p no:cacheprovider "$@"
    exit 0
fi
step "pytest (unit, integration, e2e)"
python -m pytest -n 2 --dist loadgroup -p no:cacheprovider --ignore=tests/cluster
if [ -n "${PROMPTSALES_TEST_KUBECONFIG:-}" ]; then
    # One installation, in file order, on one process: xdist's groups do not hold with
    # pytest 9.2 (the group marks never reach the scheduler), so the suite runs apart.
    step "pytest tests/cluster (real control plane)"
    python -m pytest -n 0 -p no:cacheprovider tests/cluster
fi
