// The composition root may import every *impl.
package app

import (
	_ "example.com/productapi/modules/orders/ordersimpl"
	_ "example.com/productapi/modules/products/productsimpl"
)
