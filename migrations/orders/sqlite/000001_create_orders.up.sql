CREATE TABLE orders (
    id                  text     PRIMARY KEY,
    user_id             text     NOT NULL,
    status              text     NOT NULL CHECK (status IN ('pending','paid','shipped','cancelled','payment_failed')),
    total_cents         integer  NOT NULL CHECK (total_cents >= 0),
    currency            text     NOT NULL,
    version             integer  NOT NULL DEFAULT 1,
    created_at          datetime NOT NULL,
    updated_at          datetime NOT NULL,
    payment_attempts    integer  NOT NULL DEFAULT 0,
    payment_next_at     datetime,
    payment_lease_until datetime
);
CREATE INDEX orders_created_at_id ON orders (created_at, id);
CREATE INDEX orders_total_cents_id ON orders (total_cents, id);
CREATE INDEX orders_user_created_at_id ON orders (user_id, created_at, id);
CREATE INDEX orders_user_total_cents_id ON orders (user_id, total_cents, id);
CREATE INDEX orders_status_created_at_id ON orders (status, created_at, id);
CREATE INDEX orders_pending_created_at ON orders (created_at) WHERE status = 'pending';

CREATE TABLE order_items (
    order_id         text    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    product_id       text    NOT NULL,
    sku              text    NOT NULL,
    name             text    NOT NULL,
    unit_price_cents integer NOT NULL CHECK (unit_price_cents >= 0),
    quantity         integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_idempotency_keys (
    user_id         text     NOT NULL,
    idem_key        text     NOT NULL,
    request_hash    text     NOT NULL,
    order_id        text     NOT NULL,
    response_status integer  NOT NULL DEFAULT 0,
    response_body   text     NOT NULL DEFAULT '',
    created_at      datetime NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX order_idempotency_keys_created_at ON order_idempotency_keys (created_at);
