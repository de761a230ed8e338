-- Accounts provisioned just in time for principals of an external OIDC
-- issuer: "<issuer>|<sub>", unique; NULL for local accounts.
ALTER TABLE users ADD COLUMN external_subject text;
CREATE UNIQUE INDEX users_external_subject_key ON users (external_subject);
