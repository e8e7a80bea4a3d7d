#!/usr/bin/env bash
# Runs the Postman collection against a fresh Chatter server with newman.
#
#   postman/run.sh [extra newman options…]
#
# - newman is installed into /var/tmp/chatter-newman (npm) when it is not there yet;
# - the server binary is $CHATTER_BIN, else $CARGO_TARGET_DIR/debug/chatter, else target/debug/chatter
#   (built with `cargo build` when missing);
# - the server runs on a free loopback port, in a temporary data dir (fresh SQLite), with rate limits raised;
# - exits with newman's status. The server is stopped and the temp dir removed on exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
newman_prefix=/var/tmp/chatter-newman
newman="$newman_prefix/node_modules/.bin/newman"

log() { printf 'run.sh: %s\n' "$*" >&2; }

# newman runs on Node.js: install it from the distribution when it is missing (as root, with apt).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing nodejs and npm with apt"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        log "node and npm are required (newman runs on Node.js)"
        exit 2
    fi
fi
if [[ ! -x "$newman" ]]; then
    log "installing newman into $newman_prefix"
    mkdir -p "$newman_prefix"
    npm install --prefix "$newman_prefix" --no-audit --no-fund newman >&2
fi

if [[ -n "${CHATTER_BIN:-}" ]]; then
    bin="$CHATTER_BIN"
else
    if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
        bin="$CARGO_TARGET_DIR/debug/chatter"
    else
        bin="$root/target/debug/chatter"
    fi
    if [[ ! -x "$bin" ]]; then
        log "no server binary at $bin: building it"
        (cd "$root" && cargo build --bin chatter)
    fi
fi
[[ -x "$bin" ]] || { log "server binary $bin is missing or not executable"; exit 2; }
# Absolute, because the server runs in the temp dir (a relative CHATTER_BIN is taken from the caller's cwd).
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/chatter-newman.XXXXXX")"
server_pid=""
cleanup() {
    local status=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -f "$work/server.log" ]]; then
        log "last lines of the server log:"
        tail -n 40 "$work/server.log" >&2 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port on the loopback interface (the kernel picks it; released just before the server binds it).
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"

# The server runs in the temp dir, so no config/local.yaml of a developer applies; DATABASE_URL, REDIS_URL
# and PORT from the caller's environment are dropped so the run is always a fresh SQLite database.
# The refresh grace window is 0 so the collection's immediate replay of a rotated token shows reuse
# detection (with the default 10 s it would get the same new pair: tests/api/refresh.rs covers that).
log "starting $bin on $base (data in $work/data)"
(
    cd "$work"
    exec env -u DATABASE_URL -u REDIS_URL -u PORT \
        CHATTER__DATA_DIR="$work/data" \
        CHATTER__SERVER__HOST=127.0.0.1 \
        CHATTER__SERVER__PORT="$port" \
        CHATTER__SERVER__PUBLIC_URL="$base" \
        CHATTER__RATE_LIMIT__AUTH_PER_MINUTE=1000 \
        CHATTER__RATE_LIMIT__FAILED_LOGINS_PER_HOUR=1000 \
        CHATTER__RATE_LIMIT__LOGIN_DELAY_AFTER_FAILURES=1000 \
        CHATTER__AUTH__REFRESH_GRACE_SECS=0 \
        CHATTER__RATE_LIMIT__REST_PER_MINUTE=100000 \
        CHATTER__LOG__LEVEL=warn \
        "$bin" serve
) >"$work/server.log" 2>&1 &
server_pid=$!

# Wait for /health: at most ~20 s.
healthy=""
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        log "the server exited before it answered /health"
        exit 1
    fi
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$base/health" 2>/dev/null; then
        healthy=1
        break
    fi
    sleep 0.2
done
[[ -n "$healthy" ]] || { log "the server did not answer /health within 20 s"; exit 1; }

cd "$root"
set +e
"$newman" run postman/chatter.postman_collection.json \
    --env-var "baseUrl=$base" \
    --working-dir postman \
    --bail \
    "$@"
status=$?
set -e
exit "$status"
