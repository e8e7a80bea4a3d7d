-- Rooms (public channels, private groups, direct messages), memberships, messages with
-- reactions and attachments, read cursors, uploads and bans.

CREATE TABLE rooms (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('public', 'private', 'direct')),
    name             TEXT NOT NULL,
    topic            TEXT NOT NULL DEFAULT '',
    alias            TEXT,
    -- For direct rooms: "<smaller user id>:<larger user id>", unique, so concurrent
    -- get-or-create calls for one pair always meet on the same row.
    dm_key           TEXT,
    created_by       UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    member_count     BIGINT NOT NULL DEFAULT 0,
    -- Messages ever posted; each message carries its number, each member the number it has
    -- read up to, so unread counts are a subtraction, never a COUNT over the room.
    last_seq         BIGINT NOT NULL DEFAULT 0,
    last_message_id  UUID,
    last_activity_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX rooms_alias_key ON rooms (lower(alias));
CREATE UNIQUE INDEX rooms_dm_key ON rooms (dm_key);
CREATE INDEX rooms_directory_idx ON rooms (kind, lower(name), id);

CREATE TABLE room_members (
    room_id         UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at       TIMESTAMPTZ NOT NULL,
    read_seq        BIGINT NOT NULL DEFAULT 0,
    read_message_id UUID,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE room_bans (
    room_id    UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT NOT NULL DEFAULT '',
    until      TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE messages (
    id            UUID PRIMARY KEY,
    room_id       UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    sender_id     UUID REFERENCES users (id) ON DELETE SET NULL,
    content       TEXT NOT NULL,
    reply_to_id   UUID,
    client_msg_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    edited_at     TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    -- Full-text search: 'simple' (no stemming) works for every language alike.
    search        TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED
);
-- History pages: by room, in id (= time) order.
CREATE UNIQUE INDEX messages_room_id_idx ON messages (room_id, id);
CREATE UNIQUE INDEX messages_client_msg_key ON messages (sender_id, client_msg_id);
CREATE INDEX messages_search_idx ON messages USING GIN (search);

CREATE TABLE reactions (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

CREATE TABLE uploads (
    id           UUID PRIMARY KEY,
    uploader_id  UUID REFERENCES users (id) ON DELETE SET NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX uploads_uploader_idx ON uploads (uploader_id);

CREATE TABLE message_attachments (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    upload_id  UUID NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (message_id, upload_id)
);
CREATE INDEX message_attachments_upload_idx ON message_attachments (upload_id);
