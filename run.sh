#!/usr/bin/env bash
# One command to start Chatter on this machine: builds the web app when needed, then serves
# it with the API on http://localhost:8080 (SQLite in ./data). Extra arguments go to chatter.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f web/package.json ]; then
  if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html web/package.json -newer web/dist/index.html 2>/dev/null | head -n1)" ]; then
    command -v npm >/dev/null || { echo "npm (Node 20+) is needed to build the web app" >&2; exit 1; }
    echo "building the web app…"
    npm --prefix web ci --no-audit --no-fund --loglevel=error
    npm --prefix web run build
  fi
fi
exec cargo run --release --bin chatter -- "$@"
