-- Transactional outbox: rows are written in the same transaction as the
-- change they describe. seq gives the delivery order; published rows are
-- kept (retention is an operator decision, see docs/events.md) so a
-- consumer's read model can be rebuilt with Bus.Redeliver.
CREATE TABLE event_outbox (
    seq          bigserial   PRIMARY KEY,
    id           text        NOT NULL UNIQUE,
    type         text        NOT NULL,
    key          text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      text        NOT NULL,
    published_at timestamptz
);
-- The relay only ever scans unpublished rows.
CREATE INDEX event_outbox_unpublished ON event_outbox (seq) WHERE published_at IS NULL;
-- Redeliver walks one type in order.
CREATE INDEX event_outbox_type_seq ON event_outbox (type, seq);

-- Pending in-process work: one row per (consumer, event) until handled or
-- dead-lettered. lease/locked_until let an instance claim a row without
-- holding a transaction while the handler runs.
CREATE TABLE event_deliveries (
    consumer        text        NOT NULL,
    event_id        text        NOT NULL,
    seq             bigint      NOT NULL,
    event_key       text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    lease           text        NOT NULL DEFAULT '',
    locked_until    timestamptz,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX event_deliveries_due ON event_deliveries (next_attempt_at, seq);
CREATE INDEX event_deliveries_key ON event_deliveries (consumer, event_key, seq);

-- Processed event IDs per consumer: the idempotency record.
CREATE TABLE event_inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Deliveries that failed MaxAttempts times or permanently.
CREATE TABLE event_dead_letters (
    id          text        PRIMARY KEY,
    consumer    text        NOT NULL,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    event_key   text        NOT NULL,
    payload     text        NOT NULL,
    error       text        NOT NULL,
    attempts    integer     NOT NULL,
    failed_at   timestamptz NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX event_dead_letters_consumer ON event_dead_letters (consumer, id);
CREATE INDEX event_dead_letters_open ON event_dead_letters (id) WHERE replayed_at IS NULL;
