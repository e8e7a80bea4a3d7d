#!/usr/bin/env bash
# Taskfile.yml with the real go-task (v3; from PyPI's go-task-bin when `task` is not installed):
# it parses, has the documented tasks, `task test` is the README's `cargo test`, and the
# migrate:* tasks really drive the chatter binary (CHATTER=… override) on a temp SQLite database.
CHECK=taskfile
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"

TASK="$(command -v task || true)"
# `task` may be another program (taskwarrior); go-task answers --version with a semver.
if [[ -z "$TASK" ]] || ! "$TASK" --version 2>/dev/null | grep -qE '(^|[^0-9])3\.[0-9]+'; then
    TASK_PREFIX="${GO_TASK_PREFIX:-/var/tmp/chatter-go-task}"
    TASK="$TASK_PREFIX/bin/task"
    if [[ ! -x "$TASK" ]]; then
        log "installing go-task (PyPI go-task-bin) into $TASK_PREFIX"
        python3 -m pip install --quiet --disable-pip-version-check --target "$TASK_PREFIX" go-task-bin >/dev/null 2>&1 ||
            fail "pip install go-task-bin failed"
    fi
fi
[[ -x "$TASK" ]] || fail "no go-task binary"
# go-task colours its output when CI=true is set; plain text is what is parsed below.
export NO_COLOR=1
log "go-task $("$TASK" --version)"
cd "$ROOT"

"$TASK" --list-all >"$WORK/list.txt" 2>&1 || { cat "$WORK/list.txt" >&2; fail "task --list-all"; }
for t in dev:up dev:down migrate:up migrate:down migrate:status test bench web:dev web:build lint run; do
    grep -qE "^\* $t:" "$WORK/list.txt" || fail "Taskfile.yml has no task '$t'"
done
ok "Taskfile.yml parses; tasks: $(grep -oE '^\* [a-z:]+' "$WORK/list.txt" | cut -c3- | sed 's/:$//' | tr '\n' ' ')"

"$TASK" --dry test >"$WORK/test.txt" 2>&1 || fail "task --dry test"
grep -qxE 'task: \[test\] cargo test *' "$WORK/test.txt" || fail "task test does not run 'cargo test': $(cat "$WORK/test.txt")"
ok "task test → $(sed 's/^task: \[test\] //' "$WORK/test.txt")"
for t in dev:up dev:down lint bench web:build; do
    "$TASK" --dry "$t" 2>&1 | sed 's/^/    /'
    [[ ${PIPESTATUS[0]} -eq 0 ]] || fail "task --dry $t"
done

resolve_chatter
mapfile -t unset_args < <(chatter_env)
run_task() {
    env "${unset_args[@]}" CHATTER__DATA_DIR="$WORK/data" "$TASK" --silent "$@" CHATTER="$CHATTER"
}
mkdir -p "$WORK/data"
run_task migrate:status >"$WORK/status0.txt" 2>&1 || fail "task migrate:status: $(cat "$WORK/status0.txt")"
grep -q pending "$WORK/status0.txt" || fail "a fresh database should have pending migrations: $(cat "$WORK/status0.txt")"
run_task migrate:up >"$WORK/up.txt" 2>&1 || fail "task migrate:up: $(cat "$WORK/up.txt")"
run_task migrate:status >"$WORK/status1.txt" 2>&1 || fail "task migrate:status"
grep -q pending "$WORK/status1.txt" && fail "still pending after migrate:up: $(cat "$WORK/status1.txt")"
run_task migrate:down >"$WORK/down.txt" 2>&1 || fail "task migrate:down: $(cat "$WORK/down.txt")"
run_task migrate:status >"$WORK/status2.txt" 2>&1 || fail "task migrate:status"
[[ $(grep -c pending "$WORK/status2.txt") == 1 ]] || fail "one pending migration expected after migrate:down: $(cat "$WORK/status2.txt")"
sed 's/^/    /' "$WORK/status2.txt"
ok "task migrate:status / migrate:up / migrate:down drive the binary (fresh → $(grep -c applied "$WORK/status1.txt") applied → down → 1 pending)"
