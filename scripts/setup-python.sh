#!/usr/bin/env bash
# Creates .venv with the judge: the official mlflow 3.18 client, plus what the
# compatibility tests drive it with (pytest, hyperopt, scikit-learn; xgboost, matplotlib,
# Pillow for the model/artifact tests; boto3 + moto[server] for the S3 artifact tests;
# psycopg2-binary + PyMySQL so scripts/dump-schema.py can let mlflow build its
# PostgreSQL / MySQL schema).
#
# mlflow==3.18.0 cannot be installed directly from the reachable index (its pinned
# mlflow-skinny/mlflow-tracing 3.18.0 are missing), so we install 3.17.2 for the
# dependency set, then swap in the full 3.18.0 wheel without dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FERROFLOW_VENV:-.venv}
PY=${PYTHON:-python3}
marker="$VENV/.ferroflow-ready-3"
if [ -f "$marker" ]; then
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "mlflow==3.17.2" pytest hyperopt scikit-learn pandas requests \
  xgboost matplotlib Pillow boto3 "moto[server]" \
  psycopg2-binary PyMySQL
"$VENV/bin/pip" uninstall -q -y mlflow mlflow-skinny mlflow-tracing
"$VENV/bin/pip" install -q --no-deps "mlflow==3.18.0"
"$VENV/bin/python" -c 'import mlflow; assert mlflow.__version__ == "3.18.0", mlflow.__version__'
touch "$marker"
