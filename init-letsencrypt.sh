#!/usr/bin/env bash
# Gets the first Let's Encrypt certificate for the production stack (docker-compose.prod.yaml),
# then starts the whole stack. Run once on the server, from the repository root, after filling
# in .env (see .env.example) and pointing DOMAIN's DNS records at this machine:
#
#   ./init-letsencrypt.sh            # issue the certificate (if none yet) and start
#   ./init-letsencrypt.sh --force    # issue a new certificate even if one exists
#   LETSENCRYPT_STAGING=1 ./init-letsencrypt.sh   # try against the staging CA first
#
# How: nginx starts with infra/nginx/init.conf (plain HTTP, serves /.well-known/acme-challenge/
# from the certbot-www volume), certbot --webroot gets the certificate into the certbot-conf
# volume under the fixed name "chatter" (/etc/letsencrypt/live/chatter/), and nginx is recreated
# with infra/nginx/prod.conf. Renewal is then the certbot service's loop (twice a day) plus
# nginx's periodic reload.
set -euo pipefail
cd "$(dirname "$0")"

FILE=docker-compose.prod.yaml
force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { echo "init-letsencrypt: $*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
    compose() { docker compose -f "$FILE" "$@"; }
elif command -v docker-compose >/dev/null 2>&1; then
    compose() { docker-compose -f "$FILE" "$@"; }
else
    die "neither 'docker compose' nor 'docker-compose' is installed"
fi

[ -f .env ] || die ".env is missing: cp .env.example .env and fill it in"
# Values from .env, unless already set in the environment.
env_value() {
    local name=$1 value
    value="${!name:-}"
    if [ -z "$value" ]; then
        value="$(sed -n "s/^${name}=//p" .env | tail -n1 | sed -e 's/^["'\'']//' -e 's/["'\'']$//')"
    fi
    printf '%s' "$value"
}
DOMAIN="$(env_value DOMAIN)"
EMAIL="$(env_value EMAIL)"
STAGING="$(env_value LETSENCRYPT_STAGING)"
[ -n "$DOMAIN" ] || die "DOMAIN is not set in .env"
[ -n "$EMAIL" ] || die "EMAIL is not set in .env"
case "$DOMAIN" in *example.com) die "DOMAIN is still the example ($DOMAIN)" ;; esac
for name in JWT_SECRET POSTGRES_PASSWORD REDIS_PASSWORD TURN_SECRET; do
    [ -n "$(env_value "$name")" ] || die "$name is not set in .env"
done
# The whole file must interpolate (required variables) before anything starts.
compose config -q

if [ "$force" = 0 ] &&
    compose run --rm --no-deps --entrypoint sh certbot -c 'test -s /etc/letsencrypt/live/chatter/fullchain.pem' 2>/dev/null; then
    echo "A certificate already exists (certbot-conf volume); starting the stack."
    echo "Use --force to request a new one."
    compose up -d
    exit 0
fi

echo "### Starting nginx with the bootstrap configuration (HTTP only)"
NGINX_CONF=init.conf compose up -d --no-deps --force-recreate nginx
for _ in $(seq 1 30); do
    if compose exec -T nginx wget -q -O /dev/null http://127.0.0.1/nginx-health 2>/dev/null; then
        break
    fi
    sleep 1
done
compose exec -T nginx wget -q -O /dev/null http://127.0.0.1/nginx-health ||
    die "nginx did not come up with infra/nginx/init.conf"

echo "### Requesting a certificate for $DOMAIN"
staging_arg=()
if [ "${STAGING:-0}" = 1 ]; then
    staging_arg=(--staging)
    echo "    (staging CA: the certificate will not be trusted by browsers)"
fi
force_arg=()
[ "$force" = 1 ] && force_arg=(--force-renewal)
compose run --rm --no-deps --entrypoint certbot certbot certonly \
    --webroot -w /var/www/certbot \
    --cert-name chatter -d "$DOMAIN" \
    --email "$EMAIL" --agree-tos --no-eff-email --non-interactive \
    --key-type ecdsa \
    "${staging_arg[@]}" "${force_arg[@]}"

echo "### Starting the stack with TLS (infra/nginx/prod.conf)"
# nginx's mounted configuration changes back to prod.conf, so compose recreates it.
compose up -d --build
echo "Done: https://$DOMAIN"
