#!/usr/bin/env bash
# The production nginx configuration, live: Debian's nginx (foreground, temp prefix) runs
# infra/nginx/prod.conf on 127.0.0.1 high ports (HTTP and HTTPS with a throwaway certificate) in
# front of two replicas of the real chatter binary sharing one database and a real Redis, as in
# docker-compose.prod.yaml, configured as in production behind the proxy (trust_proxy_headers,
# https public URL). Through it:
#   - HTTP → HTTPS redirect, ACME challenge files served over HTTP, HSTS on HTTPS;
#   - REST over HTTPS with curl -k: register, GET /api/v1/users/me; /metrics not public;
#   - X-Request-Id: nginx's request id reaches Chatter and comes back;
#   - a WebSocket session upgraded through the proxy (python websockets, wss): welcome, ping → pong;
#   - two WebSockets that nginx sends to different replicas: a message sent on one arrives on
#     the other (the replicas act as one server through Redis);
#   - a ~3 MiB PNG upload → 201, a 6 MiB one → 413.
CHECK=nginx-proxy
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need nginx nginx
need openssl openssl
need curl curl
need_py websockets websockets

APP_PORT="$(free_port)"
APP2_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
HTTPS_PORT="$(free_port)"
PREFIX="$WORK/nginx"
HTTPS="https://127.0.0.1:$HTTPS_PORT"

REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
python3 - "$REDIS" <<'PY' || fail "no Redis answering at $REDIS (set TEST_REDIS_URL; .ci/run starts one)"
import socket, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=3) as s:
    s.sendall(b"PING\r\n")
    assert s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
PY
# Both replicas: one SQLite database (the first's data dir; PostgreSQL in production), one Redis,
# a key prefix of this run's own.
REPLICA_ENV=(
    CHATTER__SERVER__PUBLIC_URL="$HTTPS"
    CHATTER__SERVER__TRUST_PROXY_HEADERS=true
    CHATTER__LOG__FORMAT=json
    CHATTER__LOG__LEVEL=info
    REDIS_URL="$REDIS"
    CHATTER__REDIS__PREFIX="infra-test-$RANDOM$RANDOM"
)
start_chatter app "$APP_PORT" "${REPLICA_ENV[@]}"
log "chatter replica 1 on 127.0.0.1:$APP_PORT (pid $CHATTER_PID)"
start_chatter app2 "$APP2_PORT" "${REPLICA_ENV[@]}" CHATTER__DATA_DIR="$WORK/app/data"
log "chatter replica 2 on 127.0.0.1:$APP2_PORT (pid $CHATTER_PID), same database, Redis $REDIS"

# prod.conf's `server chatter:8080` resolves to every replica through Docker's DNS; here the two
# replicas are listed instead.
render_nginx "$ROOT/infra/nginx/prod.conf" "$PREFIX" "$HTTP_PORT" "$HTTPS_PORT" \
    "127.0.0.1:$APP_PORT max_fails=3 fail_timeout=10s; server 127.0.0.1:$APP2_PORT"
make_cert "$PREFIX/tls"
nginx -t -q -p "$PREFIX" -e "$PREFIX/logs/error.log" -c "$PREFIX/nginx.conf" || fail "nginx -t"
nginx -p "$PREFIX" -e "$PREFIX/logs/error.log" -c "$PREFIX/nginx.conf" -g 'daemon off;' \
    >"$PREFIX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
LOGS+=("$PREFIX/logs/error.log" "$PREFIX/logs/access.log")
wait_until "nginx answering on 127.0.0.1:$HTTP_PORT" curl -sf "http://127.0.0.1:$HTTP_PORT/nginx-health"
log "nginx (pid $NGINX_PID) on http://127.0.0.1:$HTTP_PORT and $HTTPS"

# --- HTTP side ---------------------------------------------------------------------------------
read -r code location < <(curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' \
    "http://127.0.0.1:$HTTP_PORT/api/v1/users/me?x=1")
[[ $code == 301 && $location == "https://127.0.0.1/api/v1/users/me?x=1" ]] ||
    fail "HTTP should redirect to HTTPS with 301: got $code $location"
ok "HTTP → $code $location"

mkdir -p "$PREFIX/www/.well-known/acme-challenge"
echo "token-$RANDOM" >"$PREFIX/www/.well-known/acme-challenge/test-token"
got="$(curl -sf "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/test-token")" ||
    fail "ACME challenge file not served over HTTP"
[[ $got == "$(cat "$PREFIX/www/.well-known/acme-challenge/test-token")" ]] || fail "ACME challenge content differs"
ok "ACME challenge served over HTTP from the certbot webroot"

# --- HTTPS: REST -------------------------------------------------------------------------------
headers="$(curl -sk -D - -o /dev/null "$HTTPS/health")"
grep -qi '^strict-transport-security: max-age=' <<<"$headers" || fail "no HSTS header: $headers"
ok "HTTPS /health with $(grep -i '^strict-transport-security' <<<"$headers" | tr -d '\r')"

# register_over_https NAME OUT: registers NAME through nginx, the response body in OUT.
register_over_https() {
    local code
    code="$(curl -sk -o "$2" -w '%{http_code}' -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$1-Secret-Pass-42\"}" \
        "$HTTPS/api/v1/auth/register")"
    [[ $code == 201 ]] || fail "register $1 through nginx: $code $(cat "$2")"
}

USER_NAME="proxy_$RANDOM$RANDOM"
register_over_https "$USER_NAME" "$WORK/register.json"
TOKEN="$(json_get access_token <"$WORK/register.json")"
ok "POST /api/v1/auth/register over HTTPS → 201"

code="$(curl -sk -D "$WORK/me.headers" -o "$WORK/me.json" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" -H 'X-Request-Id: client-chosen-id' "$HTTPS/api/v1/users/me")"
[[ $code == 200 ]] || fail "GET /users/me through nginx: $code $(cat "$WORK/me.json")"
[[ "$(json_get username <"$WORK/me.json")" == "$USER_NAME" ]] || fail "GET /users/me: wrong user $(cat "$WORK/me.json")"
RID="$(grep -i '^x-request-id:' "$WORK/me.headers" | awk '{print $2}' | tr -d '\r')"
[[ $RID =~ ^[0-9a-f]{32}$ ]] || fail "X-Request-Id should be nginx's \$request_id, got '$RID'"
wait_until "request id $RID in nginx's access log" grep -q "rid=$RID" "$PREFIX/logs/access.log"
# Chatter writes its request line as the response leaves, so it may land just after nginx's.
wait_until "request id $RID in either replica's log" \
    grep -q "\"request_id\":\"$RID\"" "$WORK/app/server.log" "$WORK/app2/server.log"
ok "GET /api/v1/users/me over HTTPS → 200 ($USER_NAME); request id $RID in nginx's and Chatter's logs"

code="$(curl -sk -o /dev/null -w '%{http_code}' "$HTTPS/metrics")"
[[ $code == 404 ]] || fail "/metrics should not be public through nginx (got $code)"
ok "/metrics through nginx → 404 (Prometheus scrapes the replicas directly)"

# --- HTTPS: WebSocket --------------------------------------------------------------------------
python3 "$TESTS/client.py" ws-ping "wss://127.0.0.1:$HTTPS_PORT/ws" "$TOKEN" --insecure >"$WORK/ws.json" ||
    fail "WebSocket session through nginx"
grep -q '"type": "pong"' "$WORK/ws.json" || fail "no pong: $(cat "$WORK/ws.json")"
grep -q "\"GET /ws?token=[^ ]* HTTP/1.1\" 101 " "$PREFIX/logs/access.log" ||
    fail "nginx's access log shows no 101 upgrade for /ws"
ok "WebSocket via wss://127.0.0.1:$HTTPS_PORT/ws: 101 upgrade, welcome, ping → $(cat "$WORK/ws.json")"

# --- HTTPS: two replicas as one server ----------------------------------------------------------
PEER_NAME="peer_$RANDOM$RANDOM"
register_over_https "$PEER_NAME" "$WORK/peer.json"
PEER_TOKEN="$(json_get access_token <"$WORK/peer.json")"
PEER_ID="$(json_get user.id <"$WORK/peer.json")"
code="$(curl -sk -o "$WORK/room.json" -w '%{http_code}' -H 'content-type: application/json' \
    -H "Authorization: Bearer $TOKEN" -d "{\"name\":\"Across replicas\",\"kind\":\"private\",\"member_ids\":[\"$PEER_ID\"]}" \
    "$HTTPS/api/v1/rooms")"
[[ $code == 201 ]] || fail "create a room through nginx: $code $(cat "$WORK/room.json")"
ROOM_ID="$(json_get id <"$WORK/room.json")"
# nginx balances round-robin, so two upgrades in a row land on different replicas; which ones
# they reached is checked in its access log (ua=), written when each socket closes.
relayed=""
for attempt in 1 2 3; do
    python3 "$TESTS/client.py" ws-relay "wss://127.0.0.1:$HTTPS_PORT/ws" "$TOKEN" "$PEER_TOKEN" "$ROOM_ID" \
        --insecure >"$WORK/relay.json" || fail "message between two sockets through nginx"
    wait_until "both upgrades in nginx's access log" \
        bash -c "[[ \$(grep -c '\"GET /ws?token=[^ ]* HTTP/1.1\" 101 ' '$PREFIX/logs/access.log') -ge $((attempt * 2 + 1)) ]]"
    mapfile -t upstreams < <(grep '"GET /ws?token=[^ ]* HTTP/1.1" 101 ' "$PREFIX/logs/access.log" |
        tail -n 2 | sed -E 's/.* ua=([^ ]+).*/\1/')
    if [[ ${#upstreams[@]} -eq 2 && ${upstreams[0]} != "${upstreams[1]}" ]]; then
        relayed="${upstreams[0]} → ${upstreams[1]}"
        break
    fi
done
[[ -n $relayed ]] || fail "nginx never sent the two sockets to different replicas"
ok "two replicas as one: sockets on $relayed; a message sent on one arrived on the other ($(cat "$WORK/relay.json"))"

# --- HTTPS: uploads ----------------------------------------------------------------------------
make_png() { # FILE BYTES: PNG magic bytes, then zeros
    { printf '\x89PNG\r\n\x1a\n'; head -c "$(($2 - 8))" /dev/zero; } >"$1"
}
make_png "$WORK/big.png" $((3 * 1024 * 1024))
make_png "$WORK/huge.png" $((6 * 1024 * 1024))
code="$(curl -sk -o "$WORK/upload.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -F "file=@$WORK/big.png;type=image/png" "$HTTPS/api/v1/uploads")"
[[ $code == 201 ]] || fail "3 MiB upload through nginx: $code $(head -c 300 "$WORK/upload.json")"
[[ "$(json_get size <"$WORK/upload.json")" == $((3 * 1024 * 1024)) ]] || fail "upload size: $(cat "$WORK/upload.json")"
ok "POST /api/v1/uploads 3 MiB PNG → 201 ($(json_get content_type <"$WORK/upload.json"), $(json_get size <"$WORK/upload.json") bytes)"

code="$(curl -sk -o "$WORK/upload-huge.out" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -F "file=@$WORK/huge.png;type=image/png" "$HTTPS/api/v1/uploads" || true)"
[[ $code == 413 ]] || fail "6 MiB upload should be refused with 413, got '$code'"
grep -q 'client intended to send too large body' "$PREFIX/logs/error.log" &&
    by="nginx (client_max_body_size)" || by="Chatter"
ok "POST /api/v1/uploads 6 MiB → 413 from $by"

# Nothing went wrong upstream meanwhile.
if grep -E '\[(error|crit|alert|emerg)\]' "$PREFIX/logs/error.log" | grep -v 'too large body'; then
    fail "nginx logged errors (above)"
fi
ok "nginx error log clean"
