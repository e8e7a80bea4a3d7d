#!/usr/bin/env bash
# Compose files: `docker-compose config -q` for the dev and prod stacks (prod with its required
# variables set to dummies, and refused without them), the shape the deployment relies on
# (replicas, health checks, restart policies, limits, mounted files), and the environment each
# Chatter container gets (the Dockerfile's ENV plus compose's) accepted by the real binary's
# `chatter config check` with the intended effective values.
CHECK=compose
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"

need docker-compose docker-compose
need_py yaml pyyaml
cd "$ROOT"

PROD_ENV=(
    DOMAIN=chat.example.test
    JWT_SECRET=dummy-jwt-secret-for-config-checks-only-0123456789
    POSTGRES_PASSWORD=dummy-postgres-password
    REDIS_PASSWORD=dummy-redis-password
    TURN_SECRET=dummy-turn-secret-0123456789
)
# Compose reads .env from the project directory; the checks must not depend on a local one.
compose() { env -i PATH="$PATH" HOME="$WORK" "$@"; }
EMPTY_ENV="$WORK/empty.env"
: >"$EMPTY_ENV"

log "docker-compose -f docker-compose.yaml config -q"
compose docker-compose -f docker-compose.yaml --env-file "$EMPTY_ENV" config -q ||
    fail "docker-compose.yaml is not valid"
ok "docker-compose.yaml is valid ($(docker-compose version --short 2>/dev/null || echo docker-compose))"

log "docker-compose -f docker-compose.prod.yaml config -q (required variables unset)"
if compose docker-compose -f docker-compose.prod.yaml --env-file "$EMPTY_ENV" config -q >"$WORK/prod-unset.out" 2>&1; then
    fail "docker-compose.prod.yaml accepted missing secrets"
fi
grep -q 'JWT_SECRET' "$WORK/prod-unset.out" || fail "the refusal does not name JWT_SECRET: $(cat "$WORK/prod-unset.out")"
ok "prod refuses to start without its secrets: $(sed -n 's/.*: \(set JWT_SECRET.*\)$/\1/p' "$WORK/prod-unset.out" | head -n1)"

log "docker-compose -f docker-compose.prod.yaml config -q (with dummies)"
compose env "${PROD_ENV[@]}" docker-compose -f docker-compose.prod.yaml --env-file "$EMPTY_ENV" config -q ||
    fail "docker-compose.prod.yaml is not valid with its variables set"
ok "docker-compose.prod.yaml is valid"

compose docker-compose -f docker-compose.yaml --env-file "$EMPTY_ENV" config >"$WORK/dev.yaml"
compose env "${PROD_ENV[@]}" docker-compose -f docker-compose.prod.yaml --env-file "$EMPTY_ENV" config >"$WORK/prod.yaml"
compose env "${PROD_ENV[@]}" NGINX_CONF=init.conf docker-compose -f docker-compose.prod.yaml --env-file "$EMPTY_ENV" config >"$WORK/prod-init.yaml"

# Structure, and one env file per chatter service for the binary check below.
python3 - "$WORK" "$ROOT" <<'EOF' || fail "compose structure (above)"
import re, sys, yaml
from pathlib import Path
work, root = Path(sys.argv[1]), Path(sys.argv[2])
dev = yaml.safe_load((work / "dev.yaml").read_text())["services"]
prod = yaml.safe_load((work / "prod.yaml").read_text())["services"]
init = yaml.safe_load((work / "prod-init.yaml").read_text())["services"]
problems = []
def check(cond, message):
    if not cond:
        problems.append(message)

want_dev = {"chatter", "postgres", "redis", "coturn", "prometheus", "grafana", "loki", "promtail", "tempo"}
check(want_dev <= set(dev), f"dev lacks services {sorted(want_dev - set(dev))}")
for name in ("postgres", "redis", "coturn"):
    cond = dev["chatter"].get("depends_on", {}).get(name, {}).get("condition")
    check(cond == "service_healthy", f"dev chatter must wait for {name} to be healthy (got {cond})")
check(any(str(p.get("published")) == "8080" for p in dev["chatter"].get("ports", [])), "dev chatter is not on :8080")

want_prod = {"nginx", "certbot", "chatter", "postgres", "redis", "coturn"}
check(want_prod <= set(prod), f"prod lacks services {sorted(want_prod - set(prod))}")
check(prod["chatter"].get("deploy", {}).get("replicas") == 2, "prod chatter must run 2 replicas")
check("ports" not in prod["chatter"], "prod chatter must not publish ports (nginx does)")
for name, svc in prod.items():
    check("healthcheck" in svc, f"prod {name} has no healthcheck")
    check(svc.get("restart") in ("always", "unless-stopped"), f"prod {name} has no restart policy")
    check(svc.get("deploy", {}).get("resources", {}).get("limits"), f"prod {name} has no resource limits")
for name, svc in prod.items():
    if name == "chatter":
        continue
    if "chatter" in svc.get("depends_on", {}) and name == "nginx":
        check(svc["depends_on"]["chatter"].get("condition") == "service_healthy",
              "nginx must wait for a healthy chatter")
check(set(p["published"] for p in prod["nginx"]["ports"]) >= {80, 443} or
      set(str(p["published"]) for p in prod["nginx"]["ports"]) >= {"80", "443"}, "nginx must publish 80 and 443")

# Every file mounted from the repository exists (prod.conf, and init.conf in bootstrap mode).
for label, services in (("dev", dev), ("prod", prod), ("prod with NGINX_CONF=init.conf", init)):
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = vol.get("source") if isinstance(vol, dict) else vol.split(":")[0]
            kind = vol.get("type") if isinstance(vol, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
            if kind == "bind" and str(src).startswith(str(root)):
                check(Path(src).exists(), f"{label} {name} mounts {src}, which does not exist")
nginx_src = [v for v in init["nginx"]["volumes"] if "default.conf" in (v["target"] if isinstance(v, dict) else v)]
check(nginx_src and "init.conf" in str(nginx_src[0]), f"NGINX_CONF=init.conf does not mount init.conf: {nginx_src}")

# The secret reaches coturn on its command line, the same one Chatter gets.
for label, services in (("dev", dev), ("prod", prod)):
    command = " ".join(services["coturn"].get("command", []))
    secret = services["chatter"]["environment"].get("CHATTER__RTC__TURN_SECRET")
    check(f"--static-auth-secret={secret}" in command, f"{label} coturn's static-auth-secret differs from chatter's")
    check("turnserver.conf" in command, f"{label} coturn does not use infra/coturn/turnserver.conf")

for label, services in (("dev", dev), ("prod", prod)):
    env = services["chatter"]["environment"]
    (work / f"{label}.env").write_text("".join(f"{k}={'' if v is None else v}\n" for k, v in env.items()))
    print(f"{label} chatter environment: {', '.join(sorted(env))}")

if problems:
    for p in problems:
        print("problem:", p)
    sys.exit(1)
print(f"dev services: {', '.join(sorted(dev))}")
print(f"prod services: {', '.join(sorted(prod))}; chatter replicas: {prod['chatter']['deploy']['replicas']}")
EOF
ok "compose structure: services, health checks, restart policies, limits, mounts, secrets"

# The runtime stage's ENV, as the container starts with it.
dockerfile_env() {
    awk '/^FROM .* AS runtime/{rt=1} rt' Dockerfile |
        sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep '^ENV ' | sed 's/^ENV //' | tr -s ' ' '\n' | grep '='
}
mapfile -t IMAGE_ENV < <(dockerfile_env)
((${#IMAGE_ENV[@]} > 0)) || fail "no ENV in the Dockerfile's runtime stage"
log "Dockerfile runtime ENV: ${IMAGE_ENV[*]}"

resolve_chatter
for stack in dev prod; do
    mapfile -t STACK_ENV <"$WORK/$stack.env"
    mkdir -p "$WORK/app-$stack"
    # The image's WORKDIR is /app; config check reads no file there but must not need one.
    if ! (cd "$WORK/app-$stack" && env -i PATH="$PATH" "${IMAGE_ENV[@]}" "${STACK_ENV[@]}" \
        "$CHATTER" config check) >"$WORK/$stack-config.json" 2>"$WORK/$stack-config.err"; then
        fail "chatter config check refuses the $stack environment: $(cat "$WORK/$stack-config.err")"
    fi
    python3 - "$stack" "$WORK/$stack-config.json" <<'EOF' || fail "$stack: effective configuration (above)"
import json, sys
stack, path = sys.argv[1], sys.argv[2]
c = json.load(open(path))
want = {
    "server.host": "0.0.0.0",
    "server.port": 8080,
    "data_dir": "/app/data",
    "server.web_dir": "/app/web/dist",
    "log.format": "json",
}
if stack == "dev":
    want |= {
        "environment": "development",
        "telemetry.otlp_endpoint": "http://tempo:4318",
        "database.url": "postgres://chatter:********@postgres:5432/chatter",
        "redis.url": "redis://redis:6379",
        "rtc.turn_urls": ["turn:localhost:3478?transport=udp", "turn:localhost:3478?transport=tcp"],
        "rtc.stun_urls": ["stun:localhost:3478"],
        "rtc.turn_secret": "********",
    }
else:
    want |= {
        "environment": "production",
        "auth.jwt_secret": "********",
        "server.trust_proxy_headers": True,
        "server.public_url": "https://chat.example.test",
        "server.allowed_origins": ["https://chat.example.test"],
        "database.url": "postgres://chatter:********@postgres:5432/chatter",
        "database.migrate_on_start": True,
        "redis.url": "redis://:********@redis:6379/0",
        "telemetry.otlp_endpoint": "",
        "rtc.turn_urls": ["turn:chat.example.test:3478?transport=udp", "turn:chat.example.test:3478?transport=tcp"],
        "rtc.turn_secret": "********",
    }
bad = []
for key, expected in want.items():
    v = c
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v != expected:
        bad.append(f"{key} = {v!r}, expected {expected!r}")
if bad:
    print("\n".join(f"{stack}: {b}" for b in bad))
    sys.exit(1)
print(f"{stack}: {len(want)} effective settings as intended ({', '.join(sorted(want))})")
EOF
done
ok "chatter config check accepts the dev and prod container environments"
