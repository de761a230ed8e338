CREATE TABLE products (
    id          text PRIMARY KEY,
    sku         text     NOT NULL,
    name        text     NOT NULL,
    description text     NOT NULL DEFAULT '',
    price_cents integer  NOT NULL CHECK (price_cents >= 0),
    currency    text     NOT NULL,
    stock       integer  NOT NULL CHECK (stock >= 0),
    category    text     NOT NULL DEFAULT '',
    version     integer  NOT NULL DEFAULT 1,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (sku);
CREATE INDEX products_created_at_id ON products (created_at, id);
CREATE INDEX products_price_cents_id ON products (price_cents, id);
CREATE INDEX products_name_id ON products (name, id);
CREATE INDEX products_category_created_at_id ON products (category, created_at, id);
