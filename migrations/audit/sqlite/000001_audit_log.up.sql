-- Append-only audit trail of admin actions. Rows are only ever inserted:
-- the triggers below reject UPDATE and DELETE.
CREATE TABLE audit_log (
    id          text     PRIMARY KEY, -- UUIDv7: time-ordered
    occurred_at datetime NOT NULL,
    actor_id    text     NOT NULL DEFAULT '',
    actor_role  text     NOT NULL DEFAULT '',
    action      text     NOT NULL,
    target_type text     NOT NULL,
    target_id   text     NOT NULL,
    "before"    text,
    "after"     text,
    request_id  text     NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed');
END;
