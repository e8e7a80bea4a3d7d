-- Rooms (public channels, private groups, direct messages), memberships, messages with
-- reactions and attachments, read cursors, uploads and bans.

CREATE TABLE rooms (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('public', 'private', 'direct')),
    name             TEXT NOT NULL,
    topic            TEXT NOT NULL DEFAULT '',
    alias            TEXT,
    -- For direct rooms: "<smaller user id>:<larger user id>", unique, so concurrent
    -- get-or-create calls for one pair always meet on the same row.
    dm_key           TEXT,
    created_by       BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    member_count     INTEGER NOT NULL DEFAULT 0,
    -- Messages ever posted; each message carries its number, each member the number it has
    -- read up to, so unread counts are a subtraction, never a COUNT over the room.
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_message_id  BLOB,
    last_activity_at TEXT NOT NULL
);
CREATE UNIQUE INDEX rooms_alias_key ON rooms (lower(alias));
CREATE UNIQUE INDEX rooms_dm_key ON rooms (dm_key);
CREATE INDEX rooms_directory_idx ON rooms (kind, lower(name), id);

CREATE TABLE room_members (
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at     TEXT NOT NULL,
    read_seq      INTEGER NOT NULL DEFAULT 0,
    read_message_id BLOB,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE room_bans (
    room_id    BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT NOT NULL DEFAULT '',
    until      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE messages (
    id            BLOB PRIMARY KEY NOT NULL,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    sender_id     BLOB REFERENCES users (id) ON DELETE SET NULL,
    content       TEXT NOT NULL,
    reply_to_id   BLOB,
    client_msg_id TEXT,
    created_at    TEXT NOT NULL,
    edited_at     TEXT,
    deleted_at    TEXT
);
-- History pages: by room, in id (= time) order.
CREATE UNIQUE INDEX messages_room_id_idx ON messages (room_id, id);
CREATE UNIQUE INDEX messages_client_msg_key ON messages (sender_id, client_msg_id);

CREATE TABLE reactions (
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

CREATE TABLE uploads (
    id           BLOB PRIMARY KEY NOT NULL,
    uploader_id  BLOB REFERENCES users (id) ON DELETE SET NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX uploads_uploader_idx ON uploads (uploader_id);

CREATE TABLE message_attachments (
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    upload_id  BLOB NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (message_id, upload_id)
);
CREATE INDEX message_attachments_upload_idx ON message_attachments (upload_id);

-- Full-text search (FTS5, external content: the text lives once, in messages).
CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', content_rowid = 'rowid');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
