package productstest_test

import (
	"testing"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/productstest"
)

func TestFakeHonoursTheContract(t *testing.T) {
	productstest.RunServiceContract(t, func(t *testing.T) productstest.Subject {
		f := productstest.NewFake()
		return productstest.Subject{Service: f, Add: func(_ *testing.T, p products.Product) products.Product { return f.Add(p) }}
	})
}
