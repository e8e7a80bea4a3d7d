DROP TABLE retired_refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
