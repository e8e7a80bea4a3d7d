-- Accounts and device sessions. Ids are UUIDv7 (16-byte BLOBs, so byte order is time order);
-- times are RFC 3339 text in UTC, which sorts chronologically.
CREATE TABLE users (
    id               BLOB PRIMARY KEY NOT NULL,
    username         TEXT NOT NULL,
    email            TEXT,
    display_name     TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    status_text      TEXT NOT NULL DEFAULT '',
    avatar_upload_id BLOB,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_seen_at     TEXT
);
-- Usernames and emails are unique case-insensitively; the same indexes serve prefix search.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_display_name_idx ON users (lower(display_name));

-- One row per signed-in device. Revoking a session deletes its row, which is what the
-- access-token check looks for.
CREATE TABLE sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    refresh_hash BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX sessions_user_device_key ON sessions (user_id, device_id);
CREATE UNIQUE INDEX sessions_refresh_hash_key ON sessions (refresh_hash);

-- Refresh tokens already rotated away. Presenting one again means it leaked: the session dies.
CREATE TABLE retired_refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    retired_at TEXT NOT NULL
);
CREATE INDEX retired_refresh_tokens_session_idx ON retired_refresh_tokens (session_id);
