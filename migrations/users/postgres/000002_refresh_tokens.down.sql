DROP TABLE IF EXISTS user_refresh_tokens;
DROP TABLE IF EXISTS user_sessions;
