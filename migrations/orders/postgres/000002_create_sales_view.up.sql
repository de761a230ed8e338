-- Read model fed only by orders events (CQRS): units sold and revenue per
-- product over paid orders, minus paid orders cancelled later. It can be
-- dropped and rebuilt from the event store at any time.
CREATE TABLE order_sales_by_product (
    product_id    text        PRIMARY KEY,
    sku           text        NOT NULL,
    name          text        NOT NULL,
    currency      char(3)     NOT NULL,
    units_sold    bigint      NOT NULL DEFAULT 0,
    revenue_cents bigint      NOT NULL DEFAULT 0,
    paid_orders   bigint      NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX order_sales_revenue_id ON order_sales_by_product (revenue_cents, product_id);
CREATE INDEX order_sales_units_id ON order_sales_by_product (units_sold, product_id);
