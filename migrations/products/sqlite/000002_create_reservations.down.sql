DROP TABLE IF EXISTS product_reservations;
