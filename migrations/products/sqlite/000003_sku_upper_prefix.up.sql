-- The products.search_sku_match rollout: q also matches SKU prefixes
-- (upper(sku) LIKE 'TERM%'). SQLite's LIKE is case-insensitive and cannot use
-- this index for a bound pattern, but the catalogue scan it joins (name
-- LIKE '%term%') is a scan anyway; the index keeps both dialects' schemas alike.
CREATE INDEX products_sku_upper_prefix ON products (upper(sku));
