DROP TABLE IF EXISTS order_sales_by_product;
