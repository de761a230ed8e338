CREATE TABLE product_reservations (
    reservation_id   text     NOT NULL,
    product_id       text     NOT NULL,
    sku              text     NOT NULL,
    name             text     NOT NULL,
    unit_price_cents integer  NOT NULL,
    currency         text     NOT NULL,
    quantity         integer  NOT NULL CHECK (quantity > 0),
    created_at       datetime NOT NULL,
    released_at      datetime,
    PRIMARY KEY (reservation_id, product_id)
);
