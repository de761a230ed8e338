CREATE TABLE user_sessions (
    id         text PRIMARY KEY,
    user_id    text     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        text     NOT NULL,
    created_at datetime NOT NULL,
    revoked_at datetime
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id);
CREATE TABLE user_refresh_tokens (
    token_hash text PRIMARY KEY,
    session_id text     NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    expires_at datetime NOT NULL,
    used_at    datetime,
    created_at datetime NOT NULL
);
CREATE INDEX user_refresh_tokens_session_id ON user_refresh_tokens (session_id);
