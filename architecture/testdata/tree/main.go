// The composition root may import every *impl.
package main

import (
	_ "example.com/productapi/modules/orders/ordersimpl"
	_ "example.com/productapi/modules/products/productsimpl"
)

func main() {}
