-- Users who exercised the right to erasure (from users.user_erased.v1), by
-- pseudonym only (erased:<hex sha256(user id)>): checkout refuses them.
CREATE TABLE order_erased_users (
    pseudonym  text PRIMARY KEY,
    erased_at  timestamptz NOT NULL
);
