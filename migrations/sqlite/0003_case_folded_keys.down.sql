DROP INDEX users_display_name_idx;
DROP INDEX users_email_key;
ALTER TABLE users DROP COLUMN display_name_key;
ALTER TABLE users DROP COLUMN email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_display_name_idx ON users (lower(display_name));
