-- The products.search_sku_match rollout: q also matches SKU prefixes,
-- case-insensitively (upper(sku) LIKE 'TERM%'). text_pattern_ops makes the
-- prefix LIKE an index range scan whatever the database collation.
CREATE INDEX products_sku_upper_prefix ON products (upper(sku) text_pattern_ops);
