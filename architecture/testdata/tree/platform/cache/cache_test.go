// Must fail: a platform test that knows a module.
package cache

import _ "example.com/productapi/modules/products"
