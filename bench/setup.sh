#!/usr/bin/env bash
# Creates bench/.venv with the two reference servers the benchmark drives:
#   - MLflow 3.18 (`mlflow server`)
#   - FastTrackML 0.6.x (`fml server`; the PyPI wheel ships the Go binary)
# plus `requests` for the client side.
#
# fasttrackml 0.6.0 declares `mlflow<3,>=2.8` (for its optional Python client), which
# conflicts with mlflow 3.x and makes pip's resolver fail outright. The benchmark only
# needs the Go server binary `fml` that the wheel ships, so it is installed --no-deps.
#
# mlflow==3.18.0 cannot be installed directly from the reachable index (its pinned
# mlflow-skinny/mlflow-tracing 3.18.0 are missing), so we install 3.17.2 to pull in
# the dependency set, remove it, then swap in the full 3.18.0 wheel without deps.
#
# Idempotent: a marker file inside the venv short-circuits a second run.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${BENCH_VENV:-.venv}
PY=${PYTHON:-python3}
marker="$VENV/.bench-ready-2"
if [ -f "$marker" ]; then
  echo "bench venv already set up ($VENV)"
  exit 0
fi
# A venv from before the PostgreSQL benchmark only lacks MLflow's PostgreSQL driver.
if [ -f "$VENV/.bench-ready-1" ]; then
  "$VENV/bin/pip" install -q psycopg2-binary
  touch "$marker"
  exit 0
fi

# Pick the newest FastTrackML 0.6.x the index has (fall back to the ~= spec).
FML_SPEC="fasttrackml~=0.6.0"
newest=$("$PY" -m pip index versions fasttrackml 2>/dev/null \
  | sed -n 's/^Available versions: //p' | tr ',' '\n' | tr -d ' ' \
  | grep -E '^0\.6\.[0-9]+$' | sort -t. -k3,3n | tail -1 || true)
if [ -n "$newest" ]; then
  FML_SPEC="fasttrackml==$newest"
fi
echo "installing mlflow 3.18.0 + $FML_SPEC into $VENV"

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "mlflow==3.17.2" requests psycopg2-binary
"$VENV/bin/pip" uninstall -q -y mlflow mlflow-skinny mlflow-tracing
"$VENV/bin/pip" install -q --no-deps "mlflow==3.18.0"
"$VENV/bin/pip" install -q --no-deps "$FML_SPEC"
"$VENV/bin/python" -c 'import mlflow; assert mlflow.__version__ == "3.18.0", mlflow.__version__'
test -x "$VENV/bin/fml"
touch "$marker"
echo "bench venv ready: $("$VENV/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__)'), $("$VENV/bin/pip" show fasttrackml | sed -n 's/^Version: /fasttrackml /p')"
