#!/usr/bin/env bash
# Prometheus side: `promtool check config` on infra/prometheus/prometheus.yaml (which also checks
# the rule files it names), `promtool check rules` and the alert unit tests
# (`promtool test rules alerts.test.yaml`), and `promtool check metrics` (lint of the exposition
# format and metric names) on the live /metrics of a real chatter after REST and WebSocket traffic.
CHECK=prometheus
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need promtool prometheus
need curl curl
need_py websockets websockets

cd "$ROOT/infra/prometheus"
log "promtool check config prometheus.yaml"
promtool check config prometheus.yaml 2>&1 | sed 's/^/    /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "promtool check config"
ok "promtool check config infra/prometheus/prometheus.yaml"

log "promtool check rules alerts.yaml"
promtool check rules alerts.yaml 2>&1 | sed 's/^/    /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "promtool check rules"
ok "promtool check rules infra/prometheus/alerts.yaml ($(grep -c '^ *- alert:' alerts.yaml) alerts)"

log "promtool test rules alerts.test.yaml"
promtool test rules alerts.test.yaml 2>&1 | sed 's/^/    /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "promtool test rules"
ok "alert unit tests pass ($(grep -c '^  - name:' alerts.test.yaml) cases)"

PORT="$(free_port)"
start_chatter metrics "$PORT"
python3 "$TESTS/client.py" traffic "http://127.0.0.1:$PORT" >"$WORK/traffic.json" || fail "traffic against chatter"
curl -sf "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt" || fail "GET /metrics"
log "live /metrics: $(grep -vc '^#' "$WORK/metrics.txt") samples, $(grep -c '^# TYPE' "$WORK/metrics.txt") families"
if ! promtool check metrics <"$WORK/metrics.txt" >"$WORK/lint.txt" 2>&1 || [ -s "$WORK/lint.txt" ]; then
    sed 's/^/    /' "$WORK/lint.txt"
    fail "promtool check metrics found problems in chatter's /metrics (above)"
fi
ok "promtool check metrics on the live /metrics: no findings"
