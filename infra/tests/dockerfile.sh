#!/usr/bin/env bash
# The Dockerfile without a Docker engine: its stages and their order, that every COPY source
# exists in the build context and is not excluded by .dockerignore, that the dependency layer
# comes before the sources, and what the runtime stage is (slim base, non-root user, data volume,
# curl health check, only the binary and web/dist copied in).
CHECK=dockerfile
# shellcheck source=infra/tests/lib.sh
source "$(dirname "$0")/lib.sh"
need_py yaml pyyaml
cd "$ROOT"

python3 - <<'EOF' || fail "Dockerfile (above)"
import fnmatch, re, sys
from pathlib import Path

text = Path("Dockerfile").read_text()
# Join continuation lines, drop comments.
lines = []
for raw in re.sub(r"\\\n", " ", text).splitlines():
    raw = raw.strip()
    if raw and not raw.startswith("#"):
        lines.append(raw)

ignore = [l.strip() for l in Path(".dockerignore").read_text().splitlines()
          if l.strip() and not l.startswith("#")]

def ignored(path):
    """.dockerignore semantics, enough for this file: later patterns win, ! re-includes,
    a pattern matching a parent directory excludes everything under it."""
    result = False
    parts = path.split("/")
    for pattern in ignore:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        hit = False
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pat) or (
                    pat.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pat[3:])):
                hit = True
        if hit:
            result = not negate
    return result

problems = []
def check(cond, message):
    if not cond:
        problems.append(message)

stages, current = [], None
for line in lines:
    op, _, rest = line.partition(" ")
    op = op.upper()
    if op == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        current = {"base": m.group(1), "name": m.group(2), "ops": []}
        stages.append(current)
    elif current is not None:
        current["ops"].append((op, rest))

names = [s["name"] for s in stages]
print("stages:", ", ".join(f"{s['name']} ({s['base']})" for s in stages))
check(names == ["web", "build", "runtime"], f"stages should be web, build, runtime: {names}")
by = {s["name"]: s for s in stages}
check(by["web"]["base"].startswith("node:${NODE_VERSION}") and "NODE_VERSION=20" in text, "web stage: node 20")
check(by["build"]["base"].startswith("rust:"), "build stage: rust image")
check(by["runtime"]["base"] == "debian:bookworm-slim", "runtime stage: debian:bookworm-slim")

# COPY sources from the build context exist and are not ignored.
for stage in stages:
    for op, rest in stage["ops"]:
        if op != "COPY" or "--from=" in rest:
            continue
        args = [a for a in rest.split() if not a.startswith("--")]
        for src in args[:-1]:
            src = src.rstrip("/")
            check(Path(src).exists(), f"{stage['name']}: COPY {src} does not exist")
            check(not ignored(src), f"{stage['name']}: COPY {src} is excluded by .dockerignore")
            print(f"{stage['name']}: COPY {src} (in the context)")

# Dependencies cached in their own layer: manifest + lock, dummy build, then the sources.
ops = by["build"]["ops"]
def index(pred):
    return next((i for i, o in enumerate(ops) if pred(o)), None)
i_manifest = index(lambda o: o[0] == "COPY" and "Cargo.toml" in o[1] and "Cargo.lock" in o[1])
i_dummy = index(lambda o: o[0] == "RUN" and "fn main() {}" in o[1] and "cargo build --release" in o[1])
i_src = index(lambda o: o[0] == "COPY" and o[1].split()[0] == "src")
i_final = max((i for i, o in enumerate(ops) if o[0] == "RUN" and "--bin chatter" in o[1]), default=None)
check(None not in (i_manifest, i_dummy, i_src, i_final) and i_manifest < i_dummy < i_src < i_final,
      f"build stage order should be manifest, dummy build, sources, release build: {i_manifest, i_dummy, i_src, i_final}")
for d in ("src", "migrations", "config", "assets"):
    check(any(o[0] == "COPY" and o[1].split()[0] == d for o in ops), f"build stage does not copy {d}/")
check("--bin chatter" in ops[i_final][1] and "--release" in ops[i_final][1], "release build of --bin chatter")
# The dummy build's own artefacts must go, or cargo would keep the empty main.
check("fingerprint/chatter-" in ops[i_dummy][1], "the dummy build's fingerprints are not removed")
# What the crate embeds at compile time must be in the build stage.
for rs in Path("src").rglob("*.rs"):
    for m in re.finditer(r'include_str!\("([^"]+)"\)|migrate!\("([^"]+)"\)', rs.read_text()):
        rel = m.group(1) or m.group(2)
        target = (rs.parent / rel).resolve() if m.group(1) else Path(rel).resolve()
        top = target.relative_to(Path.cwd().resolve()).parts[0]
        if top == "tests":
            continue  # #[cfg(test)] fixtures, not part of the release build
        check(any(o[0] == "COPY" and o[1].split()[0] == top for o in ops),
              f"{rs} embeds {rel}, but the build stage does not copy {top}/")

rt = by["runtime"]["ops"]
rt_text = "\n".join(f"{o} {r}" for o, r in rt)
copies = [r for o, r in rt if o == "COPY"]
check(len(copies) == 2 and any("--from=build" in c and "target/release/chatter" in c for c in copies)
      and any("--from=web" in c and "/web/dist" in c for c in copies),
      f"runtime copies only the binary and web/dist: {copies}")
check(re.search(r"apt-get install[^\n]*ca-certificates", rt_text) and re.search(r"apt-get install[^\n]*curl", rt_text),
      "runtime installs ca-certificates and curl")
check("rm -rf /var/lib/apt/lists" in rt_text, "runtime cleans the apt lists")
users = [r for o, r in rt if o == "USER"]
check(users and not users[-1].startswith(("root", "0")), f"runtime runs as a non-root user: {users}")
check(any(o == "WORKDIR" and r == "/app" for o, r in rt), "WORKDIR /app")
check(any(o == "VOLUME" and "/app/data" in r for o, r in rt), "VOLUME /app/data")
check(any(o == "ENV" and "CHATTER__SERVER__HOST=0.0.0.0" in r for o, r in rt), "ENV CHATTER__SERVER__HOST=0.0.0.0")
hc = [r for o, r in rt if o == "HEALTHCHECK"]
check(hc and "curl" in hc[0] and "/health" in hc[0], f"HEALTHCHECK with curl on /health: {hc}")
check(any(o == "EXPOSE" and "8080" in r for o, r in rt), "EXPOSE 8080")

for path in ("target", "web/node_modules", "web/dist", "data", ".git", ".env"):
    check(ignored(path), f".dockerignore does not exclude {path}")
check(not ignored("web/src") and not ignored("web/package.json") and not ignored("src/main.rs"),
      ".dockerignore excludes sources the build needs")

if problems:
    print("\n".join(f"problem: {p}" for p in problems))
    sys.exit(1)
print("runtime: debian:bookworm-slim, user", users[-1], "| copies:", "; ".join(copies))
print("healthcheck:", hc[0])
EOF
ok "Dockerfile stages, layer order, context and runtime"

# The dependency layer's dummy crate (Cargo.toml + Cargo.lock + empty main/lib) resolves with
# --locked, as `cargo build --release --locked` in that layer needs: a Cargo.lock out of step with
# Cargo.toml would break the image build.
if command -v cargo >/dev/null 2>&1; then
    mkdir -p "$WORK/dummy/src"
    cp Cargo.toml Cargo.lock "$WORK/dummy/"
    echo 'fn main() {}' >"$WORK/dummy/src/main.rs"
    : >"$WORK/dummy/src/lib.rs"
    (cd "$WORK/dummy" && { cargo metadata --locked --offline --format-version 1 2>"$WORK/meta.err" ||
        cargo metadata --locked --format-version 1 2>"$WORK/meta.err"; }) >"$WORK/meta.json" ||
        fail "the dependency layer's dummy crate does not resolve with --locked: $(tail -n 5 "$WORK/meta.err")"
    targets="$(python3 - "$WORK/meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
package = next(p for p in m["packages"] if p["id"] in m["workspace_members"])
print(" ".join(f"{t['name']}({t['kind'][0]})" for t in package["targets"]))
PY
)"
    [[ $targets == *"chatter(bin)"* ]] || fail "the dummy crate has no chatter binary: $targets"
    ok "dependency layer: Cargo.toml + Cargo.lock + dummy src resolve with --locked (targets: $targets)"
else
    log "cargo not installed: skipped the --locked resolution of the dependency layer"
fi
