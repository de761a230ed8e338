-- Feature flag definitions (flagd flag-definition JSON, one flag per row).
-- version starts at 1 and grows by one on every change of the row, so the
-- pair (count(*), sum(version)) changes whenever any flag changes: that is
-- what every instance polls to notice writes made by other instances.
CREATE TABLE feature_flags (
    key        text        PRIMARY KEY,
    definition text        NOT NULL,
    version    bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL DEFAULT ''
);
