#!/usr/bin/env bash
# `make run`: the demo universe served on localhost, the whole pipeline once, a summary and a
# comparison, then the dashboard. The demo server stops when this script stops.
set -euo pipefail
BIN=${BIN:-.venv/bin}
DATA=${DATA:-data}
PORT=${HPT_DEMO_PORT:-8765}
export HPT_DB=${HPT_DB:-$DATA/hpt.duckdb}

"$BIN/hpt" demo generate "$DATA/demo" --port "$PORT"
"$BIN/hpt" demo serve "$DATA/demo" --port "$PORT" >"$DATA/demo-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
"$BIN/hpt" demo wait --port "$PORT"

echo "== hpt run: registry → discovery → download → ingest → publish"
"$BIN/hpt" run --sources "$DATA/demo/sources.csv" || echo "(some demo hospitals are broken on purpose: see the table above)"
echo "== hpt summary"
"$BIN/hpt" summary
echo "== hpt compare 73721 (MRI of knee joint, without contrast)"
"$BIN/hpt" compare 73721

if [ "${DASHBOARD:-1}" = 1 ]; then
  echo "== hpt dashboard (Ctrl-C to stop)"
  "$BIN/hpt" dashboard
fi
