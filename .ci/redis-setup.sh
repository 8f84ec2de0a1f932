#!/usr/bin/env bash
# Starts a real Redis on 127.0.0.1 for rota's shared-state tests.
#
#   eval "$(bash .ci/redis-setup.sh)"   # prints ROTA_REDIS_URL=…, ROTA_REDIS_SERVER=…
#   bash .ci/redis-setup.sh stop        # stops the server this script started
#
# Installs Debian's redis-server when it is missing, then starts it on a free loopback port
# with no persistence (the tests start from nothing) and waits until it answers PING.
# ROTA_REDIS_SERVER names the binary: the test that kills and restarts Redis mid-batch starts
# its own server with it, so the shared one stays up for the other tests.
set -euo pipefail
cd "$(dirname "$0")/.."
T=$PWD/target
mkdir -p "$T"
PID_FILE=$T/redis-server.pid
LOG=$T/redis-server.log

if [ "${1:-}" = "stop" ]; then
  if [ -s "$PID_FILE" ]; then
    kill "$(cat "$PID_FILE")" 2>/dev/null || true
    rm -f "$PID_FILE"
  fi
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq redis-server) >"$T/redis-apt.log" 2>&1 || {
    echo "redis-setup: cannot install redis-server (see $T/redis-apt.log)" >&2
    exit 1
  }
fi
server=$(command -v redis-server)
# A free port: let the kernel pick one, then hand it to Redis.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --pidfile "$PID_FILE" --logfile "$LOG" --dir "$T" >/dev/null
for _ in $(seq 1 100); do
  if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
    echo "ROTA_REDIS_URL=redis://127.0.0.1:$port/0"
    echo "ROTA_REDIS_SERVER=$server"
    exit 0
  fi
  sleep 0.1
done
echo "redis-setup: redis-server did not answer on port $port (see $LOG)" >&2
exit 1
