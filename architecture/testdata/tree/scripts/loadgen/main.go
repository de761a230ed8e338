// Must fail: a script that wires a module implementation.
package main

import _ "example.com/productapi/modules/orders/ordersimpl"

func main() {}
