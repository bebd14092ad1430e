#!/bin/bash
# Usage, from the repository's root: docs/repro/descriptors/measure.sh [request|alarm] [N]
# Starts `wrangler dev` on this folder's worker with a fresh state directory, sends one request
# creating N parents (and 2N children), and prints the SQLite files workerd holds open while the
# request runs and for 60 s after it. Stops the server (its process group) on exit.
set -u
cd "$(dirname "$0")"
MODE=${1:-request}
N=${2:-200}
PORT=${PORT:-8871}
ROOT=../../..
STATE=$(mktemp -d)
setsid "$ROOT/node_modules/node/bin/node" "$ROOT/node_modules/wrangler/bin/wrangler.js" dev --config wrangler.toml \
  --port "$PORT" --inspector-port $((PORT + 50)) --persist-to "$STATE" --show-interactive-dev-session=false \
  >"$STATE/log" 2>&1 &
GROUP=$!
trap 'kill -- -$GROUP 2>/dev/null; rm -rf "$STATE"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/?n=0"; do sleep 1; done
open_sqlite() {
  local n=0
  for pid in $(pgrep -g "$GROUP" workerd); do n=$((n + $(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c '\.sqlite'))); done
  echo "$n"
}
echo "mode=$MODE n=$N: $(open_sqlite) SQLite files open before"
START=$(date +%s)
curl -s "http://127.0.0.1:$PORT/?n=$N&mode=$MODE" &
REQUEST=$!
while kill -0 $REQUEST 2>/dev/null; do
  echo "during the request, t=$(($(date +%s) - START)) s: $(open_sqlite)"
  sleep 3
done
for t in $(seq 0 5 60); do
  echo "$t s after it: $(open_sqlite)"
  sleep 5
done
