CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text     NOT NULL,
    name          text     NOT NULL,
    role          text     NOT NULL CHECK (role IN ('customer', 'admin')),
    password_hash text     NOT NULL,
    version       integer  NOT NULL DEFAULT 1,
    created_at    datetime NOT NULL,
    updated_at    datetime NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_email_id ON users (email, id);
CREATE INDEX users_role_created_at_id ON users (role, created_at, id);
