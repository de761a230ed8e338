-- Stock reservations keyed by the caller's reservation ID (an order ID).
-- The priced lines are kept so a repeated Reserve returns the first answer;
-- released_at makes Release happen once. No foreign key to products: a
-- reservation outlives a deleted product, and orders never join this table.
CREATE TABLE product_reservations (
    reservation_id   text        NOT NULL,
    product_id       uuid        NOT NULL,
    sku              text        NOT NULL,
    name             text        NOT NULL,
    unit_price_cents bigint      NOT NULL,
    currency         char(3)     NOT NULL,
    quantity         bigint      NOT NULL CHECK (quantity > 0),
    created_at       timestamptz NOT NULL,
    released_at      timestamptz,
    PRIMARY KEY (reservation_id, product_id)
);
