-- TOTP (RFC 6238). secret is AES-256-GCM sealed with a key derived from the
-- signing key; enabled_at is NULL until the first code confirms it.
-- last_step is the last accepted 30 s time step: a code at or before it is
-- a replay.
CREATE TABLE user_mfa (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text        NOT NULL,
    enabled_at timestamptz,
    last_step  bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL
);
-- One-time recovery codes, SHA-256 hashed (they are random, 50 bits+).
CREATE TABLE user_mfa_recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
