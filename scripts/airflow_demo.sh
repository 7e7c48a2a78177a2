#!/usr/bin/env bash
# `make airflow`: the nightly DAG in `airflow standalone` (SQLite metadata, LocalExecutor)
# over the demo universe served on localhost. Ctrl-C stops Airflow and the demo server.
set -euo pipefail
BIN=$(cd "${BIN:-.venv/bin}" && pwd)
DATA=$(mkdir -p "${DATA:-data}" && cd "${DATA:-data}" && pwd)
PORT=${HPT_DEMO_PORT:-8765}
ROOT=$(pwd)

# Task processes do not share the shell's working directory: absolute paths only.
export PATH="$BIN:$PATH"
export AIRFLOW_HOME="$DATA/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__API__HOST=${AIRFLOW__API__HOST:-127.0.0.1}  # a laptop: not on the network
export HPT_DB="$DATA/hpt.duckdb" HPT_LANDING="$DATA/landing" HPT_WORK_DIR="$DATA/work"
export HPT_SOURCES="$DATA/demo/sources.csv"

[ -f "$HPT_SOURCES" ] || hpt demo generate "$DATA/demo" --port "$PORT"
hpt demo serve "$DATA/demo" --port "$PORT" >"$DATA/demo-server.log" 2>&1 &
server=$!
airflow_pid=
stop() {
  # standalone's scheduler and workers can outlive it: stop its whole process group.
  [ -n "$airflow_pid" ] && kill -TERM -- "-$airflow_pid" 2>/dev/null || true
  kill "$server" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo "== airflow db migrate ($AIRFLOW_HOME/airflow.db) and pools"
airflow db migrate >"$DATA/airflow-migrate.log" 2>&1
python -m hpt.airflow_pools
echo "== airflow standalone: http://localhost:8080, user admin, password printed below and in"
echo "   $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "   Unpause and trigger the DAG hpt_nightly; Ctrl-C to stop."
setsid airflow standalone &
airflow_pid=$!
wait "$airflow_pid"
