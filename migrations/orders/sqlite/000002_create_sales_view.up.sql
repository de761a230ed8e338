CREATE TABLE order_sales_by_product (
    product_id    text     PRIMARY KEY,
    sku           text     NOT NULL,
    name          text     NOT NULL,
    currency      text     NOT NULL,
    units_sold    integer  NOT NULL DEFAULT 0,
    revenue_cents integer  NOT NULL DEFAULT 0,
    paid_orders   integer  NOT NULL DEFAULT 0,
    updated_at    datetime NOT NULL
);
CREATE INDEX order_sales_revenue_id ON order_sales_by_product (revenue_cents, product_id);
CREATE INDEX order_sales_units_id ON order_sales_by_product (units_sold, product_id);
