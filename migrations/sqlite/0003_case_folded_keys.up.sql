-- Case-insensitive matching of emails and display names, folded in Rust (full Unicode):
-- SQLite's lower() and LIKE only fold ASCII, so "Öztürk" and "öztürk" would differ.
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN display_name_key TEXT NOT NULL DEFAULT '';
UPDATE users SET email_key = lower(email), display_name_key = lower(display_name);
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
DROP INDEX users_display_name_idx;
CREATE INDEX users_display_name_idx ON users (display_name_key);
