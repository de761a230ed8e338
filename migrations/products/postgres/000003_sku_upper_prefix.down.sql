DROP INDEX IF EXISTS products_sku_upper_prefix;
