#!/usr/bin/env bash
# Runs `npm run e2e` against a fresh Chatter server that this script starts in a temporary data
# directory (and can restart: it sets CHATTER_RESTART_CMD). The web app is built first, then
#   E2E_SERVE=preview (default): served by `vite preview` on 5173 with the same /api and /ws
#                                proxy as `npm run dev`; CHATTER_URL=http://127.0.0.1:5173
#   E2E_SERVE=server:            served by the Chatter binary itself (server.web_dir = web/dist);
#                                CHATTER_URL=http://127.0.0.1:$CHATTER_PORT
#
#   e2e/with-server.sh [path/to/chatter]      (default: ../target/debug/chatter)
#
# Server settings the run changes (each overridable by the variable named):
#   auth requests per minute per IP   CHATTER_E2E_AUTH_PER_MINUTE (120: every browser and the
#                                     test's own failed logins come from 127.0.0.1)
#   failed logins per hour per account CHATTER_E2E_FAILED_LOGINS (20, the default limit)
#   failures from one address before  CHATTER_E2E_LOGIN_DELAY_AFTER_FAILURES (1000: the test
#   each further attempt is delayed   fails a sign-in past the account limit from one address)
#   refresh-token reuse grace, s      CHATTER_E2E_REFRESH_GRACE_SECS (0: two tabs refreshing at
#                                     once must take turns in the app, not lean on the server)
set -euo pipefail
web=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-${CHATTER_BIN:-$web/../target/debug/chatter}}")
port=${CHATTER_PORT:-8080}
work=$(mktemp -d -t chatter-e2e.XXXXXX)
[ -x "$bin" ] || { echo "no chatter binary at $bin (cargo build first)" >&2; exit 2; }

cat > "$work/server.sh" <<SCRIPT
#!/usr/bin/env bash
# start | stop | restart the e2e server (data in $work/data)
set -euo pipefail
start() {
  cd "$work"
  CHATTER__SERVER__PORT=$port \\
  CHATTER__SERVER__ALLOWED_ORIGINS=http://localhost:$port,http://127.0.0.1:$port,http://localhost:5173,http://127.0.0.1:5173 \\
  CHATTER__RATE_LIMIT__AUTH_PER_MINUTE=\${CHATTER_E2E_AUTH_PER_MINUTE:-120} \\
  CHATTER__RATE_LIMIT__FAILED_LOGINS_PER_HOUR=\${CHATTER_E2E_FAILED_LOGINS:-20} \\
  CHATTER__RATE_LIMIT__LOGIN_DELAY_AFTER_FAILURES=\${CHATTER_E2E_LOGIN_DELAY_AFTER_FAILURES:-1000} \\
  CHATTER__AUTH__REFRESH_GRACE_SECS=\${CHATTER_E2E_REFRESH_GRACE_SECS:-0} \\
  CHATTER__LOG__LEVEL=warn \\
  CHATTER__SERVER__WEB_DIR=$web/dist \\
    nohup "$bin" >> "$work/server.log" 2>&1 &
  echo \$! > "$work/server.pid"
  for _ in \$(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start; see $work/server.log" >&2
  return 1
}
stop() {
  [ -f "$work/server.pid" ] || return 0
  pid=\$(cat "$work/server.pid")
  kill -TERM "\$pid" 2>/dev/null || true
  for _ in \$(seq 1 150); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "\$pid" 2>/dev/null || true
  rm -f "$work/server.pid"
}
case "\${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: \$0 start|stop|restart" >&2; exit 2 ;;
esac
SCRIPT

preview_pid=""
cleanup() {
  [ -n "$preview_pid" ] && kill "$preview_pid" 2>/dev/null || true
  bash "$work/server.sh" stop || true
}
trap cleanup EXIT

bash "$work/server.sh" start
echo "server: $bin on port $port, data in $work"

cd "$web"
npm run build --silent
if [ "${E2E_SERVE:-preview}" = "server" ]; then
  export CHATTER_URL="http://127.0.0.1:$port"
else
  CHATTER_API="http://localhost:$port" node node_modules/vite/bin/vite.js preview --host 127.0.0.1 --port 5173 --strictPort > "$work/preview.log" 2>&1 &
  preview_pid=$!
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:5173/ > /dev/null 2>&1 && break; sleep 0.1; done
  export CHATTER_URL=http://127.0.0.1:5173
fi
export CHATTER_E2E_FAILED_LOGINS=${CHATTER_E2E_FAILED_LOGINS:-20}

cd "$web"
CHATTER_RESTART_CMD="bash $work/server.sh restart" npm run e2e
