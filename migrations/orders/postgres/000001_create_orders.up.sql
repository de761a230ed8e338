-- Orders and their lines. No foreign keys to other modules' tables:
-- product_id and user_id are plain values (the module can move out with its data).
CREATE TABLE orders (
    id                  uuid        PRIMARY KEY,
    user_id             text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('pending','paid','shipped','cancelled','payment_failed')),
    total_cents         bigint      NOT NULL CHECK (total_cents >= 0),
    currency            char(3)     NOT NULL,
    version             bigint      NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- Payment bookkeeping (not part of the representation, so it does not
    -- bump version): attempts made, when the reconciler may try again, and
    -- a lease that marks a charge in flight.
    payment_attempts    integer     NOT NULL DEFAULT 0,
    payment_next_at     timestamptz,
    payment_lease_until timestamptz
);
-- Keyset pagination: (sort, id) per offered sort, for all orders (admin)
-- and per user (customers, admin ?user_id=).
CREATE INDEX orders_created_at_id ON orders (created_at, id);
CREATE INDEX orders_total_cents_id ON orders (total_cents, id);
CREATE INDEX orders_user_created_at_id ON orders (user_id, created_at, id);
CREATE INDEX orders_user_total_cents_id ON orders (user_id, total_cents, id);
CREATE INDEX orders_status_created_at_id ON orders (status, created_at, id);
-- The payment reconciler scans pending orders only.
CREATE INDEX orders_pending_created_at ON orders (created_at) WHERE status = 'pending';

CREATE TABLE order_items (
    order_id         uuid   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    product_id       text   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    quantity         bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

-- Idempotency keys of POST /v1/orders, scoped per user. The row is claimed
-- in the checkout transaction and holds the response to replay.
CREATE TABLE order_idempotency_keys (
    user_id         text        NOT NULL,
    idem_key        text        NOT NULL,
    request_hash    text        NOT NULL,
    order_id        uuid        NOT NULL,
    response_status integer     NOT NULL DEFAULT 0,
    response_body   text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX order_idempotency_keys_created_at ON order_idempotency_keys (created_at);
