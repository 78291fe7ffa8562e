#!/usr/bin/env bash
# Runs every Ferroflow test: Rust unit and integration tests, then the black-box
# compatibility suite that drives a real `ferroflow` process with the official mlflow client.
# Installs what it needs (a Python virtualenv with mlflow from PyPI) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python environment comes first: the Rust S3 test drives the moto_server it installs.
echo "== Python environment (official mlflow client, moto S3 server)"
bash scripts/setup-python.sh
if [ -f scripts/setup-python2.sh ]; then
  bash scripts/setup-python2.sh || echo "warning: the mlflow 2.x client could not be installed; its tests will be skipped"
fi

echo "== building ferroflow"
cargo build --locked -p ferroflow

echo "== Rust tests"
cargo test --locked --workspace

echo "== compatibility tests with the real mlflow client"
FERROFLOW_BIN="$PWD/target/debug/ferroflow" .venv/bin/python -m pytest tests/compat -q -p no:cacheprovider

# ---- web UI: browser tests (chromium + playwright-core; screenshots in test-output/ui-screenshots/)
echo "== web UI tests in a real browser"
bash scripts/ui-test.sh
# ---- end web UI
