CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('customer', 'admin')),
    password_hash text        NOT NULL,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- Emails are stored normalised (lower-case), so a plain unique index suffices.
CREATE UNIQUE INDEX users_email_key ON users (email);
-- Keyset pagination: every sort is (column, id) so each page is a range scan.
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_email_id ON users (email, id);
CREATE INDEX users_role_created_at_id ON users (role, created_at, id);
