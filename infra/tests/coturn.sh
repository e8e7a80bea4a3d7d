#!/usr/bin/env bash
# coturn with infra/coturn/turnserver.conf accepts exactly the TURN credentials Chatter hands out.
# Debian's turnserver runs a temp copy of the file, changed only to listen on 127.0.0.1 (a free
# port), log and keep its pid/db in the temp dir, and let the loopback relay addresses of this
# test be peers (allowed-peer-ip=127.0.0.1, allow-loopback-peers); the secret is given on the
# command line as compose does. A real chatter (CHATTER__RTC__TURN_URLS/TURN_SECRET) gives a
# registered user credentials from GET /api/v1/rtc/ice-servers; turnutils_uclient then:
#   - allocates relays and exchanges packets through them        → accepted
#   - with a wrong password                                      → refused
#   - with a correctly signed but expired username               → refused
#   - towards a private address (10.x, denied-peer-ip)           → 403 Forbidden IP
CHECK=coturn
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need turnserver coturn
need turnutils_uclient coturn
need curl curl
need openssl openssl

SECRET="coturn-check-secret-$RANDOM$RANDOM"
TURN_PORT="$(free_port)"
APP_PORT="$(free_port)"
CONF="$WORK/turnserver.conf"

sed -e "s/^listening-port=.*/listening-port=$TURN_PORT/" \
    -e "s#^log-file=.*#log-file=$WORK/turn.log#" \
    "$ROOT/infra/coturn/turnserver.conf" >"$CONF"
grep -q "^listening-port=$TURN_PORT$" "$CONF" || fail "turnserver.conf has no listening-port line to rewrite"
grep -q "^log-file=$WORK/turn.log$" "$CONF" || fail "turnserver.conf has no log-file line to rewrite"
for line in use-auth-secret fingerprint no-cli "realm=" "min-port=" "max-port=" "denied-peer-ip=10.0.0.0"; do
    grep -q "^$line" "$CONF" || fail "turnserver.conf lacks '$line'"
done
if grep -q '^static-auth-secret' "$CONF"; then
    fail "turnserver.conf must not contain the secret"
fi
{
    echo
    echo "# --- added by infra/tests/coturn.sh ---"
    echo "listening-ip=127.0.0.1"
    echo "relay-ip=127.0.0.1"
    echo "pidfile=$WORK/turnserver.pid"
    echo "userdb=$WORK/turndb"
    echo "allowed-peer-ip=127.0.0.1"
    echo "allow-loopback-peers"
} >>"$CONF"

turnserver -c "$CONF" --static-auth-secret="$SECRET" >"$WORK/turn.stdout" 2>&1 &
TURN_PID=$!
PIDS+=("$TURN_PID")
LOGS+=("$WORK/turn.log" "$WORK/turn.stdout")
wait_until "turnserver started (turn.log)" grep -q 'Total General servers' "$WORK/turn.log"
wait_until "turnserver answering STUN on 127.0.0.1:$TURN_PORT" \
    timeout 2 turnutils_stunclient -p "$TURN_PORT" 127.0.0.1
log "turnserver $(grep -m1 -o 'Coturn-[0-9.]*' "$WORK/turn.log") (pid $TURN_PID) on 127.0.0.1:$TURN_PORT"

start_chatter app "$APP_PORT" \
    CHATTER__RTC__TURN_URLS="turn:127.0.0.1:$TURN_PORT?transport=udp" \
    CHATTER__RTC__TURN_SECRET="$SECRET" \
    CHATTER__RTC__TURN_TTL_SECS=600
BASE="http://127.0.0.1:$APP_PORT"
python3 "$TESTS/client.py" register "$BASE" "turn_$RANDOM$RANDOM" >"$WORK/register.json" || fail "register a user"
TOKEN="$(json_get access_token <"$WORK/register.json")"
curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/rtc/ice-servers" >"$WORK/ice.json" ||
    fail "GET /api/v1/rtc/ice-servers"
TURN_USER="$(json_get ice_servers.0.username <"$WORK/ice.json")" || fail "no TURN username: $(cat "$WORK/ice.json")"
TURN_CRED="$(json_get ice_servers.0.credential <"$WORK/ice.json")" || fail "no TURN credential: $(cat "$WORK/ice.json")"
[[ "$(json_get ice_servers.0.urls.0 <"$WORK/ice.json")" == "turn:127.0.0.1:$TURN_PORT?transport=udp" ]] ||
    fail "ice-servers urls: $(cat "$WORK/ice.json")"
ok "GET /api/v1/rtc/ice-servers → username $TURN_USER (ttl $(json_get ttl_secs <"$WORK/ice.json") s)"

# uclient NAME USER PASSWORD [flags]: one bounded run, output in $WORK/NAME.out; prints the status.
uclient() {
    local name=$1 user=$2 pass=$3
    shift 3
    local status=0
    timeout 30 turnutils_uclient -p "$TURN_PORT" -u "$user" -w "$pass" -n 1 -c "$@" 127.0.0.1 \
        >"$WORK/$name.out" 2>&1 || status=$?
    echo "$status"
}
LOGS+=("$WORK/good.out" "$WORK/wrong.out" "$WORK/expired.out" "$WORK/private.out")

status="$(uclient good "$TURN_USER" "$TURN_CRED" -y)"
received="$(grep -o 'tot_recv_msgs=[0-9]*' "$WORK/good.out" | tail -n1 | cut -d= -f2)"
if [[ $status != 0 || ${received:-0} -le 0 ]] || grep -q 'Cannot complete Allocation' "$WORK/good.out"; then
    fail "coturn refused Chatter's credentials (uclient status $status)"
fi
ok "turnutils_uclient -y with Chatter's credentials: allocated, $received messages relayed ($(grep -o 'Total lost packets [0-9]*' "$WORK/good.out" | tail -n1))"

status="$(uclient wrong "$TURN_USER" "not-the-right-credential=" -y)"
if [[ $status == 0 ]] || ! grep -q 'Cannot complete Allocation' "$WORK/wrong.out"; then
    fail "coturn accepted a wrong credential (uclient status $status)"
fi
ok "wrong credential refused (uclient status $status: Cannot complete Allocation)"

# coturn's REST scheme computed independently: Chatter's credential is
# base64(HMAC-SHA1(secret, username)); an expired username with a correct signature is refused.
[[ "$(printf '%s' "$TURN_USER" | openssl dgst -sha1 -hmac "$SECRET" -binary | base64)" == "$TURN_CRED" ]] ||
    fail "Chatter's credential is not base64(HMAC-SHA1(secret, username))"
EXPIRED_USER="$(($(date +%s) - 60)):${TURN_USER#*:}"
EXPIRED_CRED="$(printf '%s' "$EXPIRED_USER" | openssl dgst -sha1 -hmac "$SECRET" -binary | base64)"
status="$(uclient expired "$EXPIRED_USER" "$EXPIRED_CRED" -y)"
if [[ $status == 0 ]] || ! grep -q 'Cannot complete Allocation' "$WORK/expired.out"; then
    fail "coturn accepted an expired username (uclient status $status)"
fi
ok "expired (correctly signed) credential refused"

status="$(uclient private "$TURN_USER" "$TURN_CRED" -e 10.1.2.3)"
if [[ $status == 0 ]] || ! grep -q '403 (Forbidden IP)' "$WORK/private.out"; then
    fail "coturn relayed towards 10.1.2.3 despite denied-peer-ip (uclient status $status)"
fi
ok "relay towards 10.1.2.3 refused: error 403 (Forbidden IP)"
