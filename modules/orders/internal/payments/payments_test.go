package payments

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPaymentChargeClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		delay     time.Duration
		approved  bool
		transient bool
	}{
		{"succeeded 200", 200, `{"id":"ch_1","status":"succeeded"}`, 0, true, false},
		{"succeeded 201", 201, `{"id":"ch_1","status":"succeeded"}`, 0, true, false},
		{"failed 200", 200, `{"id":"ch_1","status":"failed"}`, 0, false, false},
		{"402", 402, `{"message":"card declined"}`, 0, false, false},
		{"500", 500, ``, 0, false, true},
		{"503", 503, `oops`, 0, false, true},
		{"429", 429, ``, 0, false, true},
		{"unreadable 2xx", 200, `{"status":"weird"}`, 0, false, true},
		{"timeout", 200, `{"status":"succeeded"}`, 300 * time.Millisecond, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotKey, gotBody atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "POST" || r.URL.Path != "/v1/charges" {
					t.Errorf("%s %s", r.Method, r.URL.Path)
				}
				gotKey.Store(r.Header.Get("Idempotency-Key"))
				var c Charge
				_ = json.NewDecoder(r.Body).Decode(&c)
				gotBody.Store(c)
				select {
				case <-time.After(tt.delay):
				case <-r.Context().Done():
					return
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			h := NewHTTP(srv.URL+"/", Options{Timeout: 100 * time.Millisecond})
			res, err := h.Charge(context.Background(), Charge{OrderID: "o-1", AmountCents: 1250, Currency: "EUR"})
			if tt.transient {
				if !errors.Is(err, ErrTransient) {
					t.Fatalf("err = %v, want transient", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Approved != tt.approved {
				t.Fatalf("approved = %v", res.Approved)
			}
			if gotKey.Load() != "o-1" || gotBody.Load() != (Charge{OrderID: "o-1", AmountCents: 1250, Currency: "EUR"}) {
				t.Fatalf("request: key %v body %+v", gotKey.Load(), gotBody.Load())
			}
		})
	}
}

func TestPaymentBreakerOpensAndRecovers(t *testing.T) {
	var down atomic.Bool
	var calls atomic.Int32
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if down.Load() {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte(`{"id":"ch","status":"succeeded"}`))
	}))
	defer srv.Close()
	var states []string
	var closes atomic.Int32
	h := NewHTTP(srv.URL, Options{Timeout: time.Second, BreakerFailures: 3, BreakerCooldown: 100 * time.Millisecond,
		OnClose: func() { closes.Add(1) }})
	h.opts.OnStateChange = nil
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := h.Charge(ctx, Charge{OrderID: "o"}); !errors.Is(err, ErrTransient) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	states = append(states, h.State())
	if _, err := h.Charge(ctx, Charge{OrderID: "o"}); !errors.Is(err, ErrOpen) {
		t.Fatalf("open breaker called through: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("provider saw %d calls, want 3", calls.Load())
	}
	down.Store(false)
	time.Sleep(150 * time.Millisecond)
	states = append(states, h.State())
	res, err := h.Charge(ctx, Charge{OrderID: "o"})
	if err != nil || !res.Approved {
		t.Fatalf("probe: %+v %v", res, err)
	}
	states = append(states, h.State())
	if states[0] != "open" || states[1] != "half-open" || states[2] != "closed" {
		t.Fatalf("states = %v", states)
	}
	// The probe's success is the provider's return, told once.
	if n := closes.Load(); n != 1 {
		t.Fatalf("OnClose called %d times, want 1", n)
	}
	// Declines do not open the breaker.
	decl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(402) }))
	defer decl.Close()
	h2 := NewHTTP(decl.URL, Options{BreakerFailures: 2})
	for i := 0; i < 5; i++ {
		if res, err := h2.Charge(ctx, Charge{OrderID: "o"}); err != nil || res.Approved {
			t.Fatalf("decline %d: %+v %v", i, res, err)
		}
	}
	if h2.State() != "closed" {
		t.Fatalf("declines opened the breaker")
	}
}

func TestPaymentRefusedConnectionIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := NewHTTP(url, Options{Timeout: time.Second}).Charge(context.Background(), Charge{OrderID: "o"})
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v", err)
	}
}
