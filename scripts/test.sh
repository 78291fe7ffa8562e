#!/usr/bin/env bash
# Runs every Ferroflow test: Rust unit and integration tests, then the black-box
# compatibility suite that drives a real `ferroflow` process with the official mlflow client,
# on SQLite, PostgreSQL and MariaDB, then the web UI in a real browser.
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

# The PostgreSQL and MariaDB tests need both servers: start them when they are down (as on a
# fresh machine of this kind); FERROFLOW_REQUIRE_DBS makes a missing server a failure, not a skip.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "== starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v mariadbd >/dev/null 2>&1 && ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  echo "== starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 0.2; done
fi
export FERROFLOW_REQUIRE_DBS=1
export FERROFLOW_BIN="$PWD/target/debug/ferroflow"

echo "== compatibility tests with the real mlflow client (SQLite; PostgreSQL/MariaDB start-up, outage and scale-out tests)"
.venv/bin/python -m pytest tests/compat -q -p no:cacheprovider

# The same client workflows again with every shared server on a throwaway PostgreSQL and then
# MariaDB database (tests that need a database file of their own stay on SQLite).
for backend in postgresql mysql; do
  echo "== compatibility tests with the real mlflow client on $backend"
  FERROFLOW_TEST_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/compat/test_tracking_workflow.py tests/compat/test_bad_input.py \
    tests/compat/test_artifacts.py tests/compat/test_models.py tests/compat/test_multipart.py \
    tests/compat/test_registry.py tests/compat/test_webhooks.py tests/compat/test_mlflow2_client.py \
    tests/compat/test_history_sampling.py
done

echo "== deployment guide (docs/deployment.md): PostgreSQL + S3 + three replicas behind nginx"
bash scripts/deploy-smoke.sh

# ---- web UI: browser tests (chromium + playwright-core; screenshots in test-output/ui-screenshots/)
echo "== web UI tests in a real browser"
bash scripts/ui-test.sh
# ---- end web UI
