package orderstest_test

import (
	"testing"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/orderstest"
)

func TestFakeHonoursTheContract(t *testing.T) {
	orderstest.RunServiceContract(t, func(t *testing.T) orderstest.Subject {
		f := orderstest.NewFake()
		return orderstest.Subject{Service: f, Place: func(_ *testing.T, userID string, items []orders.Item) string {
			return f.Place(userID, "EUR", items).ID
		}}
	})
}
