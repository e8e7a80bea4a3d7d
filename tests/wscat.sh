#!/usr/bin/env bash
# A script-driven real WebSocket client against the real binary: wscat (the npm CLI) as user B
# listens with ?token=, wscat as user A sends a message over its own socket, and B must print it.
#
#   tests/wscat.sh                 # builds target/debug/chatter with cargo if needed
#   CHATTER_BIN=path tests/wscat.sh
#
# Needs node + npm (wscat is installed into $WSCAT_PREFIX, default /var/tmp/chatter-wscat, on first
# use) and curl. Runs on a free port with SQLite in a temp dir; exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WSCAT_PREFIX="${WSCAT_PREFIX:-/var/tmp/chatter-wscat}"
WSCAT="$WSCAT_PREFIX/node_modules/.bin/wscat"
TIMEOUT_SECS="${WSCAT_TEST_TIMEOUT:-20}"

fail() {
    echo "wscat.sh: FAIL: $*" >&2
    exit 1
}

for tool in node npm curl; do
    command -v "$tool" >/dev/null || fail "$tool is required"
done

if [[ ! -x "$WSCAT" ]]; then
    echo "wscat.sh: installing wscat into $WSCAT_PREFIX" >&2
    mkdir -p "$WSCAT_PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$WSCAT_PREFIX" wscat >&2
    [[ -x "$WSCAT" ]] || fail "npm did not install wscat"
fi

if [[ -z "${CHATTER_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --quiet --bin chatter)
    CHATTER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/chatter"
fi
[[ -x "$CHATTER_BIN" ]] || fail "no chatter binary at $CHATTER_BIN"
CHATTER_BIN="$(cd "$(dirname "$CHATTER_BIN")" && pwd)/$(basename "$CHATTER_BIN")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatter-wscat.XXXXXX")"
PIDS=()
cleanup() {
    local status=$?
    exec 3>&- 4>&- || true
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for log in server.log b.out b.err a.out a.err; do
            [[ -s "$WORK/$log" ]] && { echo "--- $log" >&2; tail -n 40 "$WORK/$log" >&2; }
        done
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT INT TERM

# A field of the JSON object on stdin (dotted path), printed as text.
json_get() {
    node -e '
        let s = "";
        process.stdin.on("data", d => s += d).on("end", () => {
            let v = JSON.parse(s);
            for (const k of process.argv[1].split(".")) v = v == null ? undefined : v[k];
            if (v === undefined || v === null) process.exit(1);
            console.log(typeof v === "string" ? v : JSON.stringify(v));
        });' "$1"
}

# Waits (bounded) until `file` contains `text`.
wait_for_text() {
    local file=$1 text=$2 what=$3
    local deadline=$((SECONDS + TIMEOUT_SECS))
    until grep -qF -- "$text" "$file" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "$what: '$text' did not appear in $(basename "$file") within ${TIMEOUT_SECS}s"
        sleep 0.1
    done
}

PORT="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
BASE="http://127.0.0.1:$PORT"
WS="ws://127.0.0.1:$PORT"

# The server: SQLite in the temp dir, nothing from the caller's environment or config files.
mkdir -p "$WORK/data"
unset_env=()
while IFS='=' read -r name _; do
    [[ $name == CHATTER__* ]] && unset_env+=(-u "$name")
done < <(env)
(
    cd "$WORK"
    exec env "${unset_env[@]}" -u DATABASE_URL -u REDIS_URL -u CHATTER_CONFIG \
        PORT="$PORT" \
        CHATTER__DATA_DIR="$WORK/data" \
        CHATTER__SERVER__HOST=127.0.0.1 \
        CHATTER__SERVER__PUBLIC_URL="$BASE" \
        CHATTER__LOG__LEVEL=warn \
        "$CHATTER_BIN" serve
) >"$WORK/server.log" 2>&1 &
PIDS+=($!)

deadline=$((SECONDS + TIMEOUT_SECS))
until curl -sf "$BASE/health" >/dev/null 2>&1; do
    kill -0 "${PIDS[0]}" 2>/dev/null || fail "the server exited"
    ((SECONDS < deadline)) || fail "the server did not answer /health within ${TIMEOUT_SECS}s"
    sleep 0.1
done

register() {
    curl -sf -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$1-Secret-Pass-42\"}"
}
ALICE_JSON="$(register wscat_alice)" || fail "register alice"
BOB_JSON="$(register wscat_bob)" || fail "register bob"
ALICE_TOKEN="$(json_get access_token <<<"$ALICE_JSON")"
BOB_TOKEN="$(json_get access_token <<<"$BOB_JSON")"
BOB_ID="$(json_get user.id <<<"$BOB_JSON")"

ROOM_JSON="$(curl -sf -X POST "$BASE/api/v1/rooms" -H 'content-type: application/json' \
    -H "authorization: Bearer $ALICE_TOKEN" \
    -d "{\"name\":\"wscat room\",\"kind\":\"private\",\"member_ids\":[\"$BOB_ID\"]}")" || fail "create room"
ROOM_ID="$(json_get id <<<"$ROOM_JSON")"

# wscat exits when its stdin ends, so each one reads from a FIFO this script holds open.
mkfifo "$WORK/b.in" "$WORK/a.in"
exec 3<>"$WORK/b.in" 4<>"$WORK/a.in"

# Bob: ?token=, interactive (each line written to his FIFO is a frame); output goes to b.out.
"$WSCAT" -c "$WS/ws?token=$BOB_TOKEN" <"$WORK/b.in" >"$WORK/b.out" 2>"$WORK/b.err" &
PIDS+=($!)
wait_for_text "$WORK/b.out" '"type":"welcome"' "bob's welcome"
echo '{"type":"ping","ref":"bob-ready"}' >&3
wait_for_text "$WORK/b.out" '"ref":"bob-ready"' "bob's pong"

# Alice: Authorization header, sends the message on connect (-x) and stays open (-w -1).
MESSAGE="hello from wscat $RANDOM$RANDOM"
SEND="{\"type\":\"send_message\",\"room_id\":\"$ROOM_ID\",\"content\":\"$MESSAGE\",\"ref\":\"alice-1\"}"
"$WSCAT" -c "$WS/ws" -H "Authorization: Bearer $ALICE_TOKEN" -x "$SEND" -w -1 \
    <"$WORK/a.in" >"$WORK/a.out" 2>"$WORK/a.err" &
PIDS+=($!)
wait_for_text "$WORK/a.out" '"ref":"alice-1"' "alice's ack"
grep -F '"ref":"alice-1"' "$WORK/a.out" | grep -qF '"type":"ack"' ||
    fail "alice's send_message was not acknowledged: $(grep -F '"ref":"alice-1"' "$WORK/a.out")"

wait_for_text "$WORK/b.out" "$MESSAGE" "bob receiving alice's message"
grep -F "$MESSAGE" "$WORK/b.out" | grep -qF '"type":"message_new"' ||
    fail "bob got the text, but not as message_new"

echo "wscat.sh: OK (bob received \"$MESSAGE\" over ws://127.0.0.1:$PORT)"
