-- A login starts a session family; every refresh rotates the token inside
-- it. Reusing a spent token revokes the family (revoked_at).
CREATE TABLE user_sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        text        NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id);
-- Refresh tokens are random; only their SHA-256 is stored.
CREATE TABLE user_refresh_tokens (
    token_hash text PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX user_refresh_tokens_session_id ON user_refresh_tokens (session_id);
