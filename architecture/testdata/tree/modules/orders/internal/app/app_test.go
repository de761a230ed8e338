// Must fail: a test of orders wires the products implementation itself.
package app_test

import _ "example.com/productapi/modules/products/productsimpl"
