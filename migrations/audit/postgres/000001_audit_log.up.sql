-- Append-only audit trail of admin actions. Rows are only ever inserted:
-- the trigger below rejects UPDATE, DELETE and TRUNCATE for every role
-- (table owner included), so a bug or a stolen application credential
-- cannot rewrite history. Retention, if ever needed, is an operator task
-- (drop the trigger in a reviewed migration).
CREATE TABLE audit_log (
    id          text        PRIMARY KEY, -- UUIDv7: time-ordered
    occurred_at timestamptz NOT NULL,
    actor_id    text        NOT NULL DEFAULT '',
    actor_role  text        NOT NULL DEFAULT '',
    action      text        NOT NULL,
    target_type text        NOT NULL,
    target_id   text        NOT NULL,
    "before"    jsonb,
    "after"     jsonb,
    request_id  text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
