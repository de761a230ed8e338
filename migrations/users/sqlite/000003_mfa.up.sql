CREATE TABLE user_mfa (
    user_id    text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text     NOT NULL,
    enabled_at datetime,
    last_step  integer  NOT NULL DEFAULT 0,
    created_at datetime NOT NULL
);
CREATE TABLE user_mfa_recovery_codes (
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at   datetime,
    PRIMARY KEY (user_id, code_hash)
);
