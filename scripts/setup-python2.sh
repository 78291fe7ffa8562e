#!/usr/bin/env bash
# Creates .venv-mlflow2 with the newest mlflow 2.x client from PyPI, plus pytest.
# tests/compat/test_mlflow2_client.py drives the server through this client (as a
# subprocess) to check that users still on MLflow 2.x keep working.
#
# The newest 2.x is looked up with `pip index versions mlflow` (override with
# MLFLOW2_VERSION=2.x.y). If the full `mlflow` wheel cannot be installed (missing pinned
# dependencies on the reachable index), falls back to `mlflow-skinny` of the same
# version, which ships the same tracking client.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FERROFLOW_VENV2:-.venv-mlflow2}
PY=${PYTHON:-python3}
marker="$VENV/.ferroflow-ready-1"
if [ -f "$marker" ]; then
  exit 0
fi

version=${MLFLOW2_VERSION:-}
if [ -z "$version" ]; then
  version=$("$PY" -m pip index versions mlflow 2>/dev/null \
    | sed -n 's/^Available versions: //p' | tr ',' '\n' | tr -d ' ' \
    | grep -E '^2\.[0-9]+\.[0-9]+$' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
fi
if [ -z "$version" ]; then
  echo "could not determine the newest mlflow 2.x (pip index versions mlflow failed)" >&2
  exit 1
fi
echo "installing mlflow $version into $VENV"

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
if ! "$VENV/bin/pip" install -q "mlflow==$version" pytest requests; then
  echo "full mlflow==$version did not install; falling back to mlflow-skinny==$version" >&2
  "$VENV/bin/pip" install -q "mlflow-skinny==$version" pytest requests
fi
"$VENV/bin/python" -c "import mlflow, sys; v = mlflow.__version__; print('mlflow', v); sys.exit(0 if v == '$version' else 1)"
touch "$marker"
