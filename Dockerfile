# Chatter: one image with the server binary and the built web app.
#
#   docker build -t chatter .
#   docker run -p 8080:8080 -v chatter-data:/app/data chatter
#
# Stages: web (node: web/ → web/dist), build (rust: dependencies in their own cached layer, then
# the chatter binary), runtime (debian slim: the binary, web/dist, CA certificates, curl for the
# health check; runs as an unprivileged user).

ARG RUST_VERSION=1
ARG NODE_VERSION=20

# --- web app ------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /web
# Dependencies first: this layer is reused until package*.json change.
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# --- server binary ------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies only: a dummy crate with the real manifest and lock file compiles every dependency
# into a layer that is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin chatter \
    && rm -rf src target/release/.fingerprint/chatter-* target/release/deps/chatter-* \
       target/release/deps/libchatter-* target/release/chatter*
# The real sources (config/default.yaml, assets/ and migrations/ are compiled into the binary).
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY assets ./assets
RUN cargo build --release --locked --bin chatter \
    && strip target/release/chatter \
    && ./target/release/chatter --version

# --- runtime ------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to PostgreSQL, Redis and the OTLP collector; curl: the HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 chatter \
    && useradd --system --uid 10001 --gid chatter --home-dir /app --shell /usr/sbin/nologin chatter
WORKDIR /app
COPY --from=build /src/target/release/chatter /usr/local/bin/chatter
COPY --from=web /web/dist /app/web/dist
# SQLite database (when no DATABASE_URL), uploads (data/uploads) and the generated development
# JWT secret live here: keep it on a volume.
RUN mkdir -p /app/data && chown chatter:chatter /app/data
VOLUME ["/app/data"]

ENV CHATTER__SERVER__HOST=0.0.0.0 \
    CHATTER__DATA_DIR=/app/data \
    CHATTER__SERVER__WEB_DIR=/app/web/dist

USER chatter:chatter
EXPOSE 8080
# /health answers while the process serves; PORT moves the listener, so the check follows it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-8080}/health" || exit 1

ENTRYPOINT ["chatter"]
CMD ["serve"]
