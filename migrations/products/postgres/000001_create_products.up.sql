CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    price_cents bigint      NOT NULL CHECK (price_cents >= 0),
    currency    char(3)     NOT NULL,
    stock       bigint      NOT NULL CHECK (stock >= 0),
    category    text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (sku);
-- Keyset pagination: one (sort column, id) index per offered sort, plus the
-- category filter combined with the default sort.
CREATE INDEX products_created_at_id ON products (created_at, id);
CREATE INDEX products_price_cents_id ON products (price_cents, id);
CREATE INDEX products_name_id ON products (name, id);
CREATE INDEX products_category_created_at_id ON products (category, created_at, id);
-- q= name search (ILIKE '%term%') uses a trigram index.
CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
