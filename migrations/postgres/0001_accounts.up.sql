-- Accounts and device sessions. Ids are UUIDv7, so their order is creation order.
CREATE TABLE users (
    id               UUID PRIMARY KEY,
    username         TEXT NOT NULL,
    email            TEXT,
    display_name     TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    status_text      TEXT NOT NULL DEFAULT '',
    avatar_upload_id UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ
);
-- Usernames and emails are unique case-insensitively; text_pattern_ops lets the same
-- indexes serve `lower(x) LIKE 'prefix%'` search.
CREATE UNIQUE INDEX users_username_key ON users (lower(username) text_pattern_ops);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_display_name_idx ON users (lower(display_name) text_pattern_ops);

-- One row per signed-in device. Revoking a session deletes its row, which is what the
-- access-token check looks for.
CREATE TABLE sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    refresh_hash BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sessions_user_device_key ON sessions (user_id, device_id);
CREATE UNIQUE INDEX sessions_refresh_hash_key ON sessions (refresh_hash);

-- Refresh tokens already rotated away. Presenting one again means it leaked: the session dies.
CREATE TABLE retired_refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    retired_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX retired_refresh_tokens_session_idx ON retired_refresh_tokens (session_id);
