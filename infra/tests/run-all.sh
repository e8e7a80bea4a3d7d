#!/usr/bin/env bash
# Every deployment check, in order; what CI runs (.ci/run calls this when it exists).
#
#   bash infra/tests/run-all.sh              # all checks
#   bash infra/tests/run-all.sh coturn nginx-proxy   # some of them
#
# Needs root (or the tools already installed) for the Debian packages it installs when missing:
# docker-compose, nginx, coturn, prometheus (promtool), openssl, curl; and python3 with pip for
# websockets and PyYAML. No Docker engine is used. Every check runs on 127.0.0.1 only, in its
# own temp dir, and stops what it started. Exits non-zero when any check fails.
set -uo pipefail
cd "$(dirname "$0")" || exit 1

ALL=(compose dockerfile taskfile letsencrypt nginx-config nginx-proxy prometheus dashboard coturn)
CHECKS=("$@")
((${#CHECKS[@]})) || CHECKS=("${ALL[@]}")

# Install the Debian packages once, up front (each check would otherwise do it on first need).
missing=()
for pair in docker-compose:docker-compose nginx:nginx turnserver:coturn promtool:prometheus \
    openssl:openssl curl:curl; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "run-all: installing ${missing[*]}"
        if ! apt-get update -qq >/dev/null ||
            ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
            echo "run-all: apt-get install ${missing[*]} failed" >&2
            exit 1
        fi
        export APT_UPDATED=1
    else
        echo "run-all: missing ${missing[*]} and cannot install them (not root or no apt-get)" >&2
    fi
fi

passed=()
failed=()
results=()
for check in "${CHECKS[@]}"; do
    script="./$check.sh"
    if [[ ! -f "$script" ]]; then
        echo "run-all: no check named $check (have: ${ALL[*]})" >&2
        failed+=("$check")
        continue
    fi
    printf '\n=== %s\n' "$check"
    start=$SECONDS
    bash "$script"
    status=$?
    took=$((SECONDS - start))
    if ((status == 0)); then
        passed+=("$check")
        results+=("PASS  $check (${took}s)")
    else
        failed+=("$check")
        results+=("FAIL  $check (${took}s, exit $status)")
    fi
done

printf '\n=== deployment checks\n'
printf '%s\n' "${results[@]}"
echo "${#passed[@]} passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
