package productsimpl

import _ "example.com/productapi/modules/products"
