#!/usr/bin/env bash
# Builds the web UI (when ui/dist is missing or older than ui/) and the release binary, then
# starts `ferroflow server` with the given flags (default: http://127.0.0.1:5000 on
# sqlite:///mlflow.db). Needs Node.js >= 20 with npm, and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/package-lock.json ui/vite.config.ts -newer ui/dist/index.html 2>/dev/null | head -n1)" ]; then
  echo "== building the web UI (ui/ -> ui/dist)"
  (cd ui && npm ci --no-audit --no-fund && npm run build)
fi
exec cargo run --locked --release -p ferroflow -- server "$@"
