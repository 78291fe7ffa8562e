#!/usr/bin/env bash
# Runs docs/deployment.md end to end, with the same commands: one PostgreSQL database, one
# S3-compatible endpoint (moto_server standing in for S3 or MinIO), three `ferroflow server`
# replicas, nginx in front, then the official mlflow client through the proxy. Fails if any
# step does. Needs: psql, nginx, .venv (scripts/setup-python.sh), a built ferroflow.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
FERROFLOW=${FERROFLOW_BIN:-$REPO/target/debug/ferroflow}
PY=$REPO/.venv/bin/python
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ ! -x "$NGINX" ]; then
  echo "== installing nginx (Debian package nginx-light)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
  NGINX=/usr/sbin/nginx
fi
WORK=$(mktemp -d /tmp/ferroflow-deploy.XXXXXX)
DB=ff_deploy_$$
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() {  # url
  for _ in $(seq 1 100); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2
  return 1
}

echo "== 1. the database"
psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE $DB"

echo "== 2. the artifact bucket (moto_server as the S3-compatible endpoint)"
"$REPO/.venv/bin/moto_server" -H 127.0.0.1 -p 9000 >"$WORK/s3.log" 2>&1 &
PIDS+=($!)
wait_for http://127.0.0.1:9000/
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:9000
"$PY" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:9000').create_bucket(Bucket='mlflow')"

echo "== 3. three replicas"
MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY
for port in 5001 5002 5003; do
  "$FERROFLOW" server \
    --backend-store-uri "postgresql://postgres@127.0.0.1:5432/$DB" \
    --artifacts-destination s3://mlflow/artifacts \
    --host 127.0.0.1 --port $port \
    --db-pool-size 8 >"$WORK/replica-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in 5001 5002 5003; do wait_for "http://127.0.0.1:$port/health"; done

echo "== 4. nginx in front"
# The same file as in docs/deployment.md, with paths under $WORK.
sed -e "s#/var/lib/ferroflow-proxy#$WORK#g" docs/nginx-ferroflow.conf >"$WORK/nginx.conf"
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
wait_for http://127.0.0.1:8080/health

echo "== 5. the mlflow client through the proxy"
MLFLOW_TRACKING_URI=http://127.0.0.1:8080 "$PY" - <<'EOF'
import os, tempfile
import mlflow
from mlflow import MlflowClient

mlflow.set_experiment("deployment-smoke")
with mlflow.start_run() as run:
    mlflow.log_param("alpha", 0.5)
    for step in range(30):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    open(path, "w").write("through nginx\n")
    mlflow.log_artifact(path)
c = MlflowClient()
c.create_registered_model("deploy-smoke-model")
for _ in range(6):
    c.create_model_version("deploy-smoke-model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
versions = sorted(int(v.version) for v in c.search_model_versions("name='deploy-smoke-model'"))
assert versions == [1, 2, 3, 4, 5, 6], versions
assert len(c.get_metric_history(run.info.run_id, "loss")) == 30
local = c.download_artifacts(run.info.run_id, "notes.txt", tempfile.mkdtemp())
assert open(local).read() == "through nginx\n"
print("client workflow through the proxy: ok")
EOF

echo "== 6. every replica served requests, and the artifact is in the bucket"
for port in 5001 5002 5003; do
  n=$(grep -c "http://127.0.0.1:$port" "$WORK/nginx-access.log" || true)
  echo "replica $port: $n requests"
  [ "$n" -gt 0 ]
done
"$PY" -c "
import boto3
keys = [o['Key'] for o in boto3.client('s3', endpoint_url='http://127.0.0.1:9000').list_objects_v2(Bucket='mlflow').get('Contents', [])]
assert any(k.endswith('/notes.txt') for k in keys), keys
print('artifact in s3://mlflow:', [k for k in keys if k.endswith('notes.txt')][0])
"
echo "deployment smoke test: ok"
