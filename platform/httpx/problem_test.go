package httpx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// A request whose client disconnected is a 499, not a logged 500; the same
// cancellation error while the client is still there stays a 500.
func TestErrorClientClosedRequest(t *testing.T) {
	gin.SetMode(gin.TestMode)
	run := func(ctx context.Context) int {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/orders", nil).WithContext(ctx)
		Error(c, fmt.Errorf("reserve stock: %w", context.Canceled))
		return c.Writer.Status()
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if got := run(gone); got != StatusClientClosedRequest {
		t.Fatalf("client gone: status %d, want 499", got)
	}
	if got := run(context.Background()); got != http.StatusInternalServerError {
		t.Fatalf("client present: status %d, want 500", got)
	}
}
