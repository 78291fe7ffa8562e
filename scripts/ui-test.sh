#!/usr/bin/env bash
# Tests the web UI in a real browser: Debian's chromium (installed with apt-get if missing)
# driven by playwright-core, against a real `ferroflow` debug binary seeded by the official
# mlflow client (.venv, see scripts/setup-python.sh). Screenshots of every checked page go to
# test-output/ui-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "== installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: the UI tests need Node.js >= 20 with npm (the machine's own install)" >&2
  exit 1
fi

echo "== building the web UI"
(cd ui && npm ci --no-audit --no-fund && npm run build)

echo "== building ferroflow with the UI embedded"
cargo build --locked -p ferroflow

if [ ! -x .venv/bin/python ]; then
  bash scripts/setup-python.sh
fi

echo "== UI tests in chromium"
mkdir -p test-output/ui-screenshots
(cd ui && CHROMIUM="$CHROMIUM" FERROFLOW_BIN="$PWD/../target/debug/ferroflow" npm test)
echo "screenshots: test-output/ui-screenshots/"
