package events

import (
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/natstest"
	"example.com/productapi/platform/testkit/netproxy"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsURL is the real JetStream of the tests (platform/testkit/natstest).
func natsURL(t *testing.T) string { return natstest.URL(t) }

// newProxy puts a stoppable TCP proxy in front of NATS.
func newProxy(t *testing.T, target string) *natsProxy {
	return &natsProxy{netproxy.Start(t, target)}
}

type natsProxy struct{ *netproxy.Proxy }

func (p *natsProxy) url() string { return "nats://" + p.Addr() }
func (p *natsProxy) cut()        { p.SetDown(true) }
func (p *natsProxy) restore()    { p.SetDown(false) }

// testStream is a stream name of this test alone, deleted at cleanup.
func testStream(t *testing.T, natsURL string) string {
	t.Helper()
	name := fmt.Sprintf("PAPI_TEST_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	})
	return name
}

func TestJetStreamEndToEndSurvivesNATSOutage(t *testing.T) {
	target := natsURL(t)
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	d := openStore(t, sqliteStore)
	px := newProxy(t, u.Host)
	cfg := testConfig(t, d)
	cfg.NATSURL = px.url()
	cfg.Stream = testStream(t, target)
	if os.Getenv("EVENTS_DEBUG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	var flakyMu sync.Mutex
	flakyCalls := map[string]int{}
	subscribe := func(b *Bus) {
		b.Subscribe("jsalpha", []string{typPlaced, typOther}, recordEffect(d, "jsalpha"))
		b.Subscribe("jsflaky", []string{typPlaced}, func(ctx context.Context, e Event) error {
			flakyMu.Lock()
			flakyCalls[e.ID]++
			n := flakyCalls[e.ID]
			flakyMu.Unlock()
			if n <= 2 { // every event fails twice first: NAK with delay
				return errors.New("try again")
			}
			return recordEffect(d, "jsflaky")(ctx, e)
		})
		b.Subscribe("jsstrict", []string{typOther}, func(context.Context, Event) error {
			return Permanent(errors.New("refused"))
		})
	}

	// NATS unreachable at start: Start succeeds, the outbox keeps events.
	px.cut()
	b := newBus(t, cfg)
	subscribe(b)
	start(t, b)
	if err := b.Health(context.Background()); err == nil {
		t.Fatal("Health is nil while NATS is unreachable")
	}
	appendN := func(b *Bus, from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := b.Append(context.Background(), typPlaced, fmt.Sprintf("k%d", i%4), payload{i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(b, 0, 10)
	time.Sleep(300 * time.Millisecond)
	if n := count(t, d, `SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL`); n != 10 {
		t.Fatalf("%d unpublished while NATS is down, want 10", n)
	}
	px.restore()
	waitEffects := func(consumer string, want int64) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("%s to reach %d", consumer, want), func() bool {
			rows, _ := countEffects(t, d, consumer)
			return rows >= want
		})
	}
	waitEffects("jsalpha", 10)
	// Every consumer done before the next cut: a NAK lost in a cut is only
	// redelivered after AckWait (HandlerTimeout + 30 s), longer than the
	// waits below. (Correct at-least-once behaviour, not what this checks.)
	waitEffects("jsflaky", 10)
	testkit.Eventually(t, 5*time.Second, "healthy", func() bool { return b.Health(context.Background()) == nil })

	// Cut while running: publishing stops, nothing is lost.
	px.cut()
	testkit.Eventually(t, 5*time.Second, "unhealthy", func() bool { return b.Health(context.Background()) != nil })
	appendN(b, 10, 10)
	other, err := b.Append(context.Background(), typOther, "p-1", payload{99})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	px.restore()
	waitEffects("jsalpha", 21)
	waitEffects("jsflaky", 20)
	testkit.Eventually(t, 10*time.Second, "permanent failure dead-lettered", func() bool {
		return count(t, d, `SELECT COUNT(*) FROM event_dead_letters WHERE consumer = 'jsstrict' AND event_id = ?`, other.ID) == 1
	})

	// A restarted bus resumes the same durable consumers.
	b.Close()
	b2 := newBus(t, cfg)
	subscribe(b2)
	start(t, b2)
	appendN(b2, 20, 5)
	waitEffects("jsalpha", 26)
	waitEffects("jsflaky", 25)
	time.Sleep(500 * time.Millisecond)
	for consumer, want := range map[string]int64{"jsalpha": 26, "jsflaky": 25} {
		if rows, distinct := countEffects(t, d, consumer); rows != want || distinct != want {
			t.Errorf("%s: %d effects of %d events, want %d of %d", consumer, rows, distinct, want, want)
		}
	}
	if n := count(t, d, `SELECT COUNT(*) FROM event_dead_letters`); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
	if n := count(t, d, `SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL`); n != 0 {
		t.Errorf("%d events left unpublished", n)
	}
}
