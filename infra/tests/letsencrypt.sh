#!/usr/bin/env bash
# init-letsencrypt.sh without Docker or Let's Encrypt: it runs in a temp copy of the deployment
# files against a stand-in `docker` on PATH that records every call and answers like Docker
# would (its `compose config` is the real docker-compose's). Checks that the script refuses a
# missing .env, the example domain and missing secrets; that with no certificate it starts nginx
# on init.conf, asks certbot for a webroot certificate named "chatter" for DOMAIN, and brings the
# stack up on prod.conf; that staging and --force reach certbot; and that an existing
# certificate only starts the stack.
CHECK=letsencrypt
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need docker-compose docker-compose

SITE="$WORK/site"
mkdir -p "$SITE/infra" "$WORK/bin"
cp "$ROOT/init-letsencrypt.sh" "$ROOT/docker-compose.prod.yaml" "$ROOT/.env.example" "$SITE/"
cp -r "$ROOT/infra/nginx" "$SITE/infra/"
CALLS="$WORK/calls.log"

# The stand-in: `docker compose -f FILE SUBCOMMAND ...`.
cat >"$WORK/bin/docker" <<'FAKE'
#!/usr/bin/env bash
echo "docker $* [NGINX_CONF=${NGINX_CONF:-}]" >>"$FAKE_DOCKER_LOG"
[[ $1 == compose ]] || exit 1
shift
[[ $1 == version ]] && { echo "Docker Compose version v2 (stand-in)"; exit 0; }
[[ $1 == -f ]] || exit 1
file=$2
sub=$3
case $sub in
    config) exec docker-compose -f "$file" "${@:3}" ;;
    run)
        # The "is there a certificate" probe answers as FAKE_CERT_EXISTS says; certbot succeeds.
        if [[ "$*" == *"test -s /etc/letsencrypt/live/chatter/fullchain.pem"* ]]; then
            [[ ${FAKE_CERT_EXISTS:-0} == 1 ]]
            exit
        fi
        exit 0 ;;
    exec | up) exit 0 ;;
    *) exit 1 ;;
esac
FAKE
chmod +x "$WORK/bin/docker"
export FAKE_DOCKER_LOG="$CALLS"

run_init() { # expected_status [args...]; output in $WORK/out.txt
    local expected=$1
    shift
    : >"$CALLS"
    local status=0
    (cd "$SITE" && env -u DOMAIN -u EMAIL -u JWT_SECRET -u POSTGRES_PASSWORD -u REDIS_PASSWORD \
        -u TURN_SECRET -u LETSENCRYPT_STAGING PATH="$WORK/bin:$PATH" "$@" ./init-letsencrypt.sh \
        "${INIT_ARGS[@]}") >"$WORK/out.txt" 2>&1 || status=$?
    if [[ $expected == 0 && $status != 0 ]] || [[ $expected != 0 && $status == 0 ]]; then
        cat "$WORK/out.txt" >&2
        fail "init-letsencrypt.sh exited $status, expected $([[ $expected == 0 ]] && echo 0 || echo non-zero)"
    fi
}
INIT_ARGS=()

run_init 1
grep -q '.env is missing' "$WORK/out.txt" || fail "no .env: $(cat "$WORK/out.txt")"
ok "refuses to run without .env"

cp "$SITE/.env.example" "$SITE/.env"
run_init 1
grep -q 'still the example' "$WORK/out.txt" || fail "example domain: $(cat "$WORK/out.txt")"
ok "refuses the example DOMAIN"

sed -i -e 's/^DOMAIN=.*/DOMAIN=chat.test-site.dev/' -e 's/^EMAIL=.*/EMAIL=ops@test-site.dev/' "$SITE/.env"
run_init 1
grep -q 'JWT_SECRET is not set' "$WORK/out.txt" || fail "missing secret: $(cat "$WORK/out.txt")"
ok "refuses missing secrets"

sed -i -e 's/^JWT_SECRET=.*/JWT_SECRET=letsencrypt-check-jwt-secret-0123456789abcdef/' \
    -e 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=pg-pass/' \
    -e 's/^REDIS_PASSWORD=.*/REDIS_PASSWORD=redis-pass/' \
    -e 's/^TURN_SECRET=.*/TURN_SECRET=turn-secret-0123456789/' "$SITE/.env"
run_init 0
sed 's/^/    /' "$CALLS"
python3 - "$CALLS" <<'EOF' || fail "init-letsencrypt.sh call sequence (above)"
import sys
calls = [l.rstrip("\n") for l in open(sys.argv[1])]
def find(pred, after=-1):
    for i, c in enumerate(calls):
        if i > after and pred(c):
            return i
    sys.exit(f"missing call after #{after}: {pred.__doc__}")
def config(c):
    "compose config -q"
    return " config -q" in c
def nginx_init(c):
    "nginx up on init.conf, without its dependencies"
    return " up -d --no-deps --force-recreate nginx " in c and "NGINX_CONF=init.conf" in c
def certbot(c):
    "certbot certonly --webroot, name chatter, for DOMAIN"
    return (" run --rm --no-deps --entrypoint certbot certbot certonly" in c and "--webroot -w /var/www/certbot" in c
            and "--cert-name chatter" in c and "-d chat.test-site.dev" in c and "--email ops@test-site.dev" in c
            and "--agree-tos" in c and "--non-interactive" in c and "--staging" not in c)
def stack_up(c):
    "the whole stack up on prod.conf"
    return c.startswith("docker compose -f docker-compose.prod.yaml up -d --build") and c.endswith("[NGINX_CONF=]")
i = find(config)
i = find(nginx_init, i)
i = find(certbot, i)
find(stack_up, i)
print("    sequence: config -q → nginx on init.conf → certbot certonly --webroot --cert-name chatter → up -d --build (prod.conf)")
EOF
ok "no certificate yet: nginx on init.conf, certbot webroot certificate 'chatter' for DOMAIN, stack up"

run_init 0 LETSENCRYPT_STAGING=1
grep -q -- '--staging' "$CALLS" || fail "LETSENCRYPT_STAGING=1 does not reach certbot"
ok "LETSENCRYPT_STAGING=1 → certbot --staging"

INIT_ARGS=(--force)
run_init 0 FAKE_CERT_EXISTS=1
grep -q -- 'certonly.*--force-renewal' "$CALLS" || fail "--force does not request a new certificate"
ok "--force → certbot --force-renewal even with a certificate"

INIT_ARGS=()
run_init 0 FAKE_CERT_EXISTS=1
if grep -q 'certonly' "$CALLS"; then fail "an existing certificate was requested again"; fi
grep -q 'already exists' "$WORK/out.txt" || fail "no message about the existing certificate"
grep -q 'up -d' "$CALLS" || fail "the stack is not started when a certificate exists"
ok "existing certificate: no certbot request, stack started"
