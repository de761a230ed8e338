DROP TABLE order_erased_users;
