#!/usr/bin/env bash
# Grafana: the provisioning files and infra/grafana/dashboards/chatter.json parse and fit
# together (datasource uids, provider path = compose mount), and every metric named in a PromQL
# expression of the dashboard (panels, template variables) and of the alert rules appears in
# the live /metrics of a real chatter (histograms through _bucket/_sum/_count) after traffic that
# exercises them: REST (2xx/4xx), WebSocket frames, room fan-out, and a socket too slow to keep up
# (closed with 4009, counted in ws_slow_consumer_closes_total).
CHECK=dashboard
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need curl curl
need_py yaml pyyaml
need_py websockets websockets

python3 "$TESTS/check_dashboard.py" static | sed 's/^/    /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "dashboard / provisioning (above)"
ok "dashboard and provisioning files are consistent"

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
# Room flooding for the slow-consumer case needs more than the default 10 messages/s.
# With Redis, as in both compose stacks, so the cluster bus metrics are there too.
start_chatter metrics "$PORT" \
    REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}" \
    CHATTER__REDIS__PREFIX="infra-test-$RANDOM$RANDOM" \
    CHATTER__RATE_LIMIT__WS_MESSAGES_PER_SEC=100000 \
    CHATTER__RATE_LIMIT__WS_MESSAGES_BURST=100000
python3 "$TESTS/client.py" traffic "$BASE" >"$WORK/traffic.json" || fail "REST + WebSocket traffic"
log "traffic: $(cat "$WORK/traffic.json")"
python3 "$TESTS/client.py" slow-consumer "$BASE" >"$WORK/slow.json" || fail "slow-consumer scenario"
log "slow consumer closed after: $(cat "$WORK/slow.json")"
curl -sf "$BASE/metrics" >"$WORK/metrics.txt" || fail "GET /metrics"
log "live /metrics: $(grep -vc '^#' "$WORK/metrics.txt") samples"
python3 "$TESTS/check_dashboard.py" metrics "$WORK/metrics.txt" | sed 's/^/    /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "metrics used by the dashboard or alerts are missing from /metrics (above)"
ok "every metric the dashboard and the alert rules query is in chatter's live /metrics"
