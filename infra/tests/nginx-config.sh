#!/usr/bin/env bash
# `nginx -t` (Debian's nginx) on infra/nginx/prod.conf and init.conf: each in a temp copy whose
# certificate paths point at a throwaway self-signed certificate and whose upstream host name
# (chatter:8080, which only Docker's DNS knows) is 127.0.0.1; included inside `http` the way the
# nginx image includes conf.d/default.conf. Plus the directives the deployment relies on, read
# back from `nginx -T` (the configuration as nginx parsed it).
CHECK=nginx-config
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need nginx nginx
need openssl openssl

for conf in prod.conf init.conf; do
    prefix="$WORK/${conf%.conf}"
    render_nginx "$ROOT/infra/nginx/$conf" "$prefix" "$(free_port)" "$(free_port)" "127.0.0.1:8080"
    make_cert "$prefix/tls"
    log "nginx -t -p $prefix -c nginx.conf  ($conf)"
    if ! nginx -t -q -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" >"$prefix/t.out" 2>&1; then
        cat "$prefix/t.out" >&2
        fail "nginx -t rejects infra/nginx/$conf"
    fi
    nginx -t -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" 2>&1 | sed "s#^#    #"
    ok "nginx -t accepts infra/nginx/$conf ($(nginx -v 2>&1 | sed 's/.*: //'))"
done

# What nginx parsed (prod.conf), checked for the things the deployment depends on.
nginx -T -q -p "$WORK/prod" -e "$WORK/prod/logs/error.log" -c "$WORK/prod/nginx.conf" >"$WORK/prod-T.conf" 2>&1 ||
    fail "nginx -T failed"
python3 - "$WORK/prod-T.conf" <<'PY' || fail "prod.conf directives (above)"
import re, sys
text = open(sys.argv[1]).read()
problems = []
def need(pattern, what):
    if not re.search(pattern, text, re.M | re.S):
        problems.append(what)
    else:
        print(f"    has: {what}")
need(r"return 301 https://\$host\$request_uri", "HTTP → HTTPS redirect (301)")
need(r'add_header Strict-Transport-Security "max-age=\d+[^"]*" always', "HSTS header (always)")
need(r"location /ws \{[^}]*proxy_read_timeout (3600|[4-9]\d{3}|\d{5,})s", "/ws with proxy_read_timeout >= 1 h")
need(r"proxy_set_header Upgrade \$http_upgrade", "Upgrade header passed")
need(r"proxy_set_header Connection \$connection_upgrade", "Connection header from the upgrade map")
need(r"proxy_http_version 1\.1", "HTTP/1.1 to the upstream")
m = re.search(r"client_max_body_size (\d+)([km]?)", text)
size = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)] if m else 0
if not (4 * 1024 * 1024 < size <= 8 * 1024 * 1024):
    problems.append(f"client_max_body_size {size} should be above uploads.max_bytes (4 MiB) with a small margin")
else:
    print(f"    has: client_max_body_size {size} bytes (uploads.max_bytes 4194304 + margin)")
need(r"proxy_set_header X-Forwarded-For \$remote_addr;", "X-Forwarded-For replaced by the peer address")
need(r"proxy_set_header X-Forwarded-Proto \$scheme", "X-Forwarded-Proto")
need(r"ssl_protocols TLSv1\.2 TLSv1\.3;", "TLS 1.2 and 1.3 only")
need(r"location \^~ /\.well-known/acme-challenge/", "ACME challenge location")
need(r"location = /metrics \{\s*return 404;", "/metrics not public")
if problems:
    print("\n".join(f"problem: {p}" for p in problems))
    sys.exit(1)
PY
ok "prod.conf: redirect, HSTS, WebSocket upgrade + long timeout, body size, forwarded headers"
