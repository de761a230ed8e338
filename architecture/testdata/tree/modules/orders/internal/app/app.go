// Reaching products through its contract is allowed.
package app

import _ "example.com/productapi/modules/products"
