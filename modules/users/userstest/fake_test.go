package userstest_test

import (
	"testing"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/userstest"
)

func TestFakeHonoursTheContract(t *testing.T) {
	userstest.RunServiceContract(t, func(t *testing.T) userstest.Subject {
		f := userstest.NewFake()
		return userstest.Subject{Service: f, Register: func(_ *testing.T, email, name string) users.User {
			return f.Register(email, name)
		}}
	})
}
