package ordersimpl

import _ "example.com/productapi/modules/orders/internal/app"
