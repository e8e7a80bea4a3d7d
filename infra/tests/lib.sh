# shellcheck shell=bash
# Shared by the deployment checks in infra/tests (sourced, not run).
#
# Every check: runs on 127.0.0.1 only, on free high ports, in a temp dir; waits are bounded
# polls; the processes it starts are stopped on exit (trap), by their own pids.
#
# Environment:
#   CHATTER_BIN      the chatter binary (default: $CARGO_TARGET_DIR or target/ debug build; built
#                    with cargo if missing)
#   INFRA_TEST_TIMEOUT  seconds any single wait may take (default 30)
#   KEEP_WORK=1      keep the temp dir (printed) for a look after the run

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034 # used by the checks that source this file
TESTS="$ROOT/infra/tests"
CHECK="${CHECK:-$(basename "$0" .sh)}"
TIMEOUT_SECS="${INFRA_TEST_TIMEOUT:-30}"

log() { printf '[%s] %s\n' "$CHECK" "$*"; }
ok() { printf '[%s] ok: %s\n' "$CHECK" "$*"; }
fail() {
    printf '[%s] FAIL: %s\n' "$CHECK" "$*" >&2
    exit 1
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatter-infra-$CHECK.XXXXXX")"
chmod 755 "$WORK"
PIDS=()
# Files whose tail is printed when the check fails.
LOGS=()

cleanup() {
    local status=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        # Bounded: a process that ignores SIGTERM gets SIGKILL after 5 s.
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ $status -ne 0 ]]; then
        for f in "${LOGS[@]}"; do
            if [[ -s "$f" ]]; then
                echo "--- last lines of $f" >&2
                tail -n 30 "$f" | cut -c1-400 >&2
            fi
        done
    fi
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then
        echo "[$CHECK] work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------------

APT_UPDATED="${APT_UPDATED:-}"
# need COMMAND DEBIAN_PACKAGE: installs the package with apt when the command is missing.
need() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        fail "$cmd is missing (Debian package $pkg)"
    fi
    log "installing $pkg (for $cmd)"
    if [[ -z "$APT_UPDATED" ]]; then
        apt-get update -qq >/dev/null
        APT_UPDATED=1
        export APT_UPDATED
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null ||
        fail "apt-get install $pkg failed"
    command -v "$cmd" >/dev/null 2>&1 || fail "$pkg did not provide $cmd"
}

# need_py MODULE PIP_PACKAGE: installs the package with pip when python3 cannot import the module.
need_py() {
    local module=$1 pkg=$2
    python3 -c "import $module" 2>/dev/null && return 0
    log "installing python package $pkg"
    python3 -m pip install --quiet --disable-pip-version-check "$pkg" >/dev/null 2>&1 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$pkg" >/dev/null ||
        fail "pip install $pkg failed"
    python3 -c "import $module" || fail "python3 still cannot import $module"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until DESCRIPTION COMMAND...: polls every 0.1 s, at most TIMEOUT_SECS.
wait_until() {
    local what=$1
    shift
    local deadline=$((SECONDS + TIMEOUT_SECS))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what: not within ${TIMEOUT_SECS}s"
        sleep 0.1
    done
}

# --- chatter -----------------------------------------------------------------------------------

# resolve_chatter: sets CHATTER to the binary, linked (or copied) into the work dir once, so a
# concurrent `cargo build` replacing target/debug/chatter cannot change it mid-check.
CHATTER=""
resolve_chatter() {
    [[ -n "$CHATTER" ]] && return 0
    local bin="${CHATTER_BIN:-}"
    if [[ -z "$bin" ]]; then
        bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/chatter"
        if [[ ! -x "$bin" ]]; then
            log "building chatter (cargo build --bin chatter)"
            (cd "$ROOT" && cargo build --quiet --bin chatter)
        fi
    fi
    [[ -x "$bin" ]] || fail "no chatter binary at $bin (set CHATTER_BIN)"
    ln "$bin" "$WORK/chatter" 2>/dev/null || cp "$bin" "$WORK/chatter"
    CHATTER="$WORK/chatter"
}

# The chatter process environment: nothing from the caller's CHATTER__*, DATABASE_URL,
# REDIS_URL, PORT or config files; then the given NAME=VALUE pairs.
chatter_env() {
    local args=(-u DATABASE_URL -u REDIS_URL -u PORT -u CHATTER_CONFIG -u RUST_LOG)
    local name
    while IFS='=' read -r name _; do
        [[ $name == CHATTER__* ]] && args+=(-u "$name")
    done < <(env)
    printf '%s\n' "${args[@]}"
}

# start_chatter NAME PORT [NAME=VALUE ...]: serves on 127.0.0.1:PORT with SQLite in
# $WORK/NAME/data, waits for /ready. Sets CHATTER_PID.
start_chatter() {
    local name=$1 port=$2
    shift 2
    local dir="$WORK/$name"
    resolve_chatter
    mkdir -p "$dir/data"
    local unset_args=()
    mapfile -t unset_args < <(chatter_env)
    (
        cd "$dir"
        exec env "${unset_args[@]}" \
            CHATTER__SERVER__HOST=127.0.0.1 \
            CHATTER__SERVER__PORT="$port" \
            CHATTER__DATA_DIR="$dir/data" \
            CHATTER__LOG__LEVEL=warn \
            "$@" \
            "$CHATTER" serve
    ) >"$dir/server.log" 2>&1 &
    CHATTER_PID=$!
    PIDS+=("$CHATTER_PID")
    LOGS+=("$dir/server.log")
    local deadline=$((SECONDS + TIMEOUT_SECS))
    until curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        kill -0 "$CHATTER_PID" 2>/dev/null || fail "chatter ($name) exited: $(tail -n 5 "$dir/server.log")"
        ((SECONDS < deadline)) || fail "chatter ($name) did not answer /ready within ${TIMEOUT_SECS}s"
        sleep 0.1
    done
}

# json_get PATH < json: a field (dotted path, list indexes as numbers) printed as text.
json_get() {
    python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else (v or {}).get(k)
if v is None:
    sys.exit(1)
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# --- nginx -------------------------------------------------------------------------------------

# make_cert DIR: a throwaway self-signed certificate (fullchain.pem, privkey.pem) for
# 127.0.0.1 / localhost, valid one day.
make_cert() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" >/dev/null 2>&1 ||
        fail "openssl could not make a self-signed certificate"
}

# render_nginx SRC PREFIX HTTP_PORT HTTPS_PORT UPSTREAM: a temp copy of SRC (infra/nginx/*.conf)
# with only the deployment-specific parts rewritten (certificate paths, webroot, log dir, listen
# addresses, the upstream address), plus a main nginx.conf that includes it the way the nginx
# image's does (inside `http`). Writes PREFIX/nginx.conf and PREFIX/conf.d/default.conf.
render_nginx() {
    local src=$1 prefix=$2 http=$3 https=$4 upstream=$5
    mkdir -p "$prefix"/{conf.d,logs,tmp,www,tls}
    local conf="$prefix/conf.d/default.conf"
    sed -e "s#/etc/letsencrypt/live/chatter/fullchain.pem#$prefix/tls/fullchain.pem#g" \
        -e "s#/etc/letsencrypt/live/chatter/privkey.pem#$prefix/tls/privkey.pem#g" \
        -e "s#/var/www/certbot#$prefix/www#g" \
        -e "s#/var/log/nginx/#$prefix/logs/#g" \
        -e "s#server chatter:8080#server $upstream#g" \
        -e "s#listen 80 default_server;#listen 127.0.0.1:$http default_server;#" \
        -e "s#listen 443 ssl http2 default_server;#listen 127.0.0.1:$https ssl http2 default_server;#" \
        -e '/listen \[::\]:/d' \
        "$src" >"$conf"
    # Nothing deployment-specific may be left: if prod.conf changed shape, fix the rewrite above.
    if grep -nE '/etc/letsencrypt|chatter:8080|/var/www/certbot|/var/log/nginx|listen (80|443)[ ;]|\[::\]' "$conf" |
        grep -vE '^[0-9]+:[[:space:]]*#'; then
        fail "render_nginx: $(basename "$src") has deployment-specific lines the test does not rewrite (above)"
    fi
    local user_line=""
    # As root, nginx would run its workers as `nobody`, who cannot use this temp dir.
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    cat >"$prefix/nginx.conf" <<EOF
# Test harness: the nginx image's main configuration, reduced; includes the file under test.
$user_line
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log info;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $prefix/logs/access.log;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    include $conf;
}
EOF
}
