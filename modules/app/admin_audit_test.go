package app

import (
	"strings"
	"testing"
	"time"
)

// Every admin action lands in the audit trail, including the ones outside
// products, users and flags: shipping (or cancelling) someone's order and
// replaying a dead letter.
func TestAdminOrderAndReplayActionsAreAudited(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, ann := s.register("audited@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 10})["id"].(string)
		placed := s.placeOrder(ann, "audited-1", orderLine{p, 1})
		expect(t, placed, 201)
		order := placed.JSON(t)["id"].(string)
		s.waitStatus(ann, order, "paid", 10*time.Second) // the simulated provider approves

		expect(t, s.do("POST", "/v1/orders/"+order+"/ship", admin, nil), 200)
		dead := consoleDeadLetter(t, s, order)
		expect(t, s.do("POST", "/v1/admin/dead-letters/"+dead+"/replay", admin, nil), 200)

		for action, target := range map[string]string{"orders.ship": order, "events.replay": dead} {
			r := s.do("GET", "/v1/admin/audit?action="+action, admin, nil)
			expect(t, r, 200)
			entries := r.JSON(t)["data"].([]any)
			if len(entries) != 1 || !strings.Contains(string(r.Body), target) {
				t.Fatalf("%s: want one entry for %s, got %s", action, target, r.Body)
			}
			e := entries[0].(map[string]any)
			if e["before"] == nil || e["after"] == nil {
				t.Fatalf("%s entry without before/after: %v", action, e)
			}
		}
		// A customer's own cancel is not an admin action.
		second := s.placeOrder(ann, "audited-2", orderLine{p, 1})
		expect(t, second, 201)
		s.waitStatus(ann, second.JSON(t)["id"].(string), "paid", 10*time.Second)
		expect(t, s.do("POST", "/v1/orders/"+second.JSON(t)["id"].(string)+"/cancel", ann, nil), 200)
		if n := len(s.do("GET", "/v1/admin/audit?action=orders.cancel", admin, nil).JSON(t)["data"].([]any)); n != 0 {
			t.Fatalf("a customer's cancel was audited as an admin action (%d entries)", n)
		}
	})
}
