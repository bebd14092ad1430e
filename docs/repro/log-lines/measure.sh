#!/bin/bash
# Usage, from the repository's root: docs/repro/log-lines/measure.sh [REQUESTS] [LINES_PER_REQUEST]
# Starts `wrangler dev` on this folder's worker with a fresh state directory, sends REQUESTS
# requests (8 at a time) that each write LINES_PER_REQUEST console.log lines, and prints the
# sockets of each workerd process (by TCP state) after them and for 30 s after. INSPECT=1 first
# attaches a DevTools client to the inspector (as `bench:* -- --profile 1` does). Stops the server
# (its process group) on exit.
set -u
cd "$(dirname "$0")"
REQUESTS=${1:-500}
LINES=${2:-10}
PORT=${PORT:-8873}
ROOT=../../..
STATE=$(mktemp -d)
setsid "$ROOT/node_modules/node/bin/node" "$ROOT/node_modules/wrangler/bin/wrangler.js" dev --config wrangler.toml \
  --port "$PORT" --inspector-port $((PORT + 50)) --persist-to "$STATE" --show-interactive-dev-session=false \
  >"$STATE/log" 2>&1 &
GROUP=$!
trap 'kill -- -$GROUP 2>/dev/null; rm -rf "$STATE"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/?n=0"; do sleep 1; done
sockets() {
  for pid in $(pgrep -g "$GROUP" workerd); do
    local role=runtime
    tr "\0" " " <"/proc/$pid/cmdline" | grep -q "entry=127.0.0.1:$PORT " && role="proxy  "
    local states
    states=$(ss -tanp 2>/dev/null | grep "pid=$pid," | awk '{print $1}' | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')
    echo "  $role workerd: $(ls "/proc/$pid/fd" | wc -l) descriptors; ${states%, }"
  done
}
if [ "${INSPECT:-0}" = 1 ]; then
  "$ROOT/node_modules/node/bin/node" attach.mjs $((PORT + 50)) &
  sleep 2
fi
echo "before:"; sockets
START=$(date +%s)
seq "$REQUESTS" | xargs -P 8 -I{} curl -s -o /dev/null "http://127.0.0.1:$PORT/?n=$LINES"
echo "after $REQUESTS requests × $LINES lines ($(($(date +%s) - START)) s):"; sockets
for t in 10 20 30; do
  sleep 10
  echo "$t s later:"; sockets
done
