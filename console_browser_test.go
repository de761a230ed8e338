package main

// The operator console in a real browser: headless Chromium driven over the
// DevTools protocol (chromedp). Skipped when /usr/bin/chromium is missing,
// unless REQUIRE_BROWSER=1 (CI), which turns that into a failure.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/ordersimpl"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/testkit"
)

const chromiumPath = "/usr/bin/chromium"

// browserContext starts a fresh headless Chromium for one test and returns a
// tab context plus a function listing the JavaScript errors, CSP violations
// and failed loads the page reported.
func browserContext(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		testkit.Unavailable(t, "REQUIRE_BROWSER", chromiumPath+" is missing: apt-get install -y chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first Do starts the browser and binds it to ctx (no timeout);
	// each step of the test gets its own deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Exceptions, console.error and browser-log errors (CSP
			// violations among them). Network errors are left out: the
			// flow provokes 4xx/5xx API answers on purpose.
			if m.Type == chromedp.ConsoleException || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// screenshotPath is where the console screenshot goes: CONSOLE_SCREENSHOT,
// else testdata-out/console.png under the OS temp directory.
func screenshotPath() string {
	if p := os.Getenv("CONSOLE_SCREENSHOT"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "testdata-out", "console.png")
}

func TestConsoleInBrowser(t *testing.T) {
	browser, pageProblems := browserContext(t)
	s := newServer(t, sqliteStore) // one store is enough: the console only uses the API
	admin := s.adminToken()
	_, customer := s.register("console-customer@example.com")
	pid := s.createProduct(admin, map[string]any{"name": "Console lamp", "stock": 10})["id"].(string)
	order := orderBody(orderLine{pid, 1})

	step := func(what string) context.Context {
		ctx, cancel := context.WithTimeout(browser, 20*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(step(what), actions...); err != nil {
			t.Fatalf("%s: %v (page problems: %v)", what, err, pageProblems())
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(step("text"), chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v (page problems: %v)", sel, err, pageProblems())
		}
		return v
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(step("eval"), chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	flagRow := func(key string) string { return fmt.Sprintf(`tr[data-flag=%q]`, key) }
	version := func(key string) int {
		t.Helper()
		v, err := chromedp.Run(step("version"), chromedp.AttributeValue(chromedp.CSS(flagRow(key)), "data-version"))
		n, convErr := strconv.Atoi(v.Value)
		if err != nil || convErr != nil {
			t.Fatalf("%s row has no version (%q): %v", key, v.Value, err)
		}
		return n
	}
	// toggle flips a boolean flag's switch (by mouse, or by keyboard:
	// focus and Space) and waits for the saved row.
	toggle := func(key string, wantOn, keyboard bool) {
		t.Helper()
		v := version(key)
		sw := flagRow(key) + ` input[data-action="toggle"]`
		flip := chromedp.Click(chromedp.CSS(sw))
		if keyboard {
			flip = chromedp.SendKeys(chromedp.CSS(sw), " ")
		}
		do("toggle "+key, flip,
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s[data-version="%d"]`, flagRow(key), v+1))))
		if got := eval(fmt.Sprintf(`String(document.querySelector(%q).checked)`, sw)); got != strconv.FormatBool(wantOn) {
			t.Fatalf("%s switch shows checked=%s after toggling, want %v", key, got, wantOn)
		}
	}

	// Sign in as the bootstrap admin (Enter submits the form).
	do("open the console and sign in",
		chromedp.Navigate(s.srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), adminPassword+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(flagRow("orders.checkout_enabled"))),
	)
	if eval(`sessionStorage.getItem("productapi.console.token") || ""`) == "" {
		t.Fatal("no token in sessionStorage after sign-in")
	}

	// Checkout off through the UI: the API refuses orders with 503 + Retry-After.
	toggle("orders.checkout_enabled", false, false)
	off := s.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "console-1")
	expect(t, off, 503)
	if off.Header.Get("Retry-After") == "" {
		t.Fatal("checkout switched off in the console: 503 without Retry-After")
	}
	if status := text(`#status`); !strings.Contains(status, "orders.checkout_enabled switched off") {
		t.Errorf("status after switching off: %q", status)
	}
	// And back on, by keyboard this time: checkout works again.
	toggle("orders.checkout_enabled", true, true)
	placed := s.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "console-1")
	expect(t, placed, 201)
	deadLetter := consoleDeadLetter(t, s, placed.JSON(t)["id"].(string))

	// Rollout: 10 % -> 35 % of users get products.search_sku_match "on".
	const sku = "products.search_sku_match"
	pct := chromedp.CSS(flagRow(sku) + ` input[data-action="rollout-pct"]`)
	apply := chromedp.CSS(flagRow(sku) + ` button[data-action="rollout-apply"]`)
	v := version(sku)
	do("set the rollout share",
		chromedp.SetValue(pct, "35"),
		chromedp.Click(apply),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s[data-version="%d"]`, flagRow(sku), v+1))),
	)
	got := s.do("GET", "/v1/admin/flags/"+sku, admin, nil)
	expect(t, got, 200)
	var def struct {
		Targeting struct {
			Fractional []any `json:"fractional"`
		} `json:"targeting"`
	}
	if err := json.Unmarshal(got.Body, &def); err != nil {
		t.Fatal(err)
	}
	if want := []any{[]any{"on", 35.0}, []any{"off", 65.0}}; !reflect.DeepEqual(def.Targeting.Fractional, want) {
		t.Fatalf("fractional after the console set 35 %%: %v, want %v", def.Targeting.Fractional, want)
	}
	// An invalid share is refused in the page, before any request.
	do("refuse 150 %", chromedp.SetValue(pct, "150"), chromedp.Click(apply), chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if after := version(sku); after != v+1 {
		t.Fatalf("an invalid share changed the flag (version %d -> %d)", v+1, after)
	}

	// Health: the view renders numbers from /v1/admin/stats.
	do("open health",
		chromedp.Click(chromedp.CSS(`a[data-view="health"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#health-summary dd[data-k="request_rate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#health-routes tbody tr th`)),
	)
	number := regexp.MustCompile(`^\d+(\.\d+)?( %)?$`)
	for _, sel := range []string{`#health-summary dd[data-k="request_rate"]`, `#health-summary dd[data-k="error_rate"]`,
		`#health-breakers dd[data-k="limit"]`} {
		if v := strings.TrimSpace(text(sel)); !number.MatchString(v) {
			t.Errorf("health %s shows %q, not a number", sel, v)
		}
	}
	// The rollout change was made a moment ago, well inside the ~30 s window.
	if routes := text(`#health-routes tbody`); !strings.Contains(routes, "PUT /v1/admin/flags/:key") {
		t.Errorf("health routes table lacks the request just made:\n%s", routes)
	}

	// Screenshot of the health view for the CI artifact.
	png, err := chromedp.Run(step("screenshot"), chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	path := screenshotPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshot: %s (%d bytes)", path, len(png))
	fmt.Printf("console screenshot: %s\n", path)

	// Audit trail: the flag changes just made, newest first.
	do("open the audit trail",
		chromedp.Click(chromedp.CSS(`a[data-view="audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit-table tbody tr`)))
	if trail := text(`#audit-table tbody tr:first-child`); !strings.Contains(trail, "flags.update") || !strings.Contains(trail, sku) {
		t.Errorf("newest audit entry is not the rollout change: %q", trail)
	}
	// Dead letters: replay the one recorded above from the page.
	dlRow := fmt.Sprintf(`#dead-table tr[data-id=%q]`, deadLetter)
	do("replay the dead letter",
		chromedp.Click(chromedp.CSS(`a[data-view="dead-letters"]`)),
		chromedp.WaitVisible(chromedp.CSS(dlRow+` button[data-action="replay"]`)),
		chromedp.Click(chromedp.CSS(dlRow+` button[data-action="replay"]`)),
		// The row is redrawn from the answer (the button alone is disabled
		// at once, while the request runs).
		chromedp.WaitVisible(chromedp.CSS(dlRow+`[data-replayed] button[data-action="replay"][disabled]`)))
	if status := text(`#status`); !strings.Contains(status, "Replayed "+orders.EventOrderPlaced) {
		t.Errorf("status after replay: %q", status)
	}
	if dl := s.do("GET", "/v1/admin/dead-letters/"+deadLetter, admin, nil).JSON(t); dl["replayed_at"] == nil {
		t.Errorf("dead letter not replayed after the console's replay: %v", dl)
	}

	// Sign out drops the token and shows the form again.
	do("sign out", chromedp.Click(chromedp.CSS(`#sign-out`)), chromedp.WaitVisible(chromedp.CSS(`#email`)))
	if eval(`sessionStorage.getItem("productapi.console.token") || ""`) != "" {
		t.Error("token still in sessionStorage after sign-out")
	}
	if p := pageProblems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// consoleDeadLetter records a dead letter of the payments consumer for the
// order_placed event of order, as the bus would after the last failed
// attempt, once the consumer has handled the event (so a replay succeeds).
func consoleDeadLetter(t *testing.T, s *testServer, order string) string {
	t.Helper()
	gdb := s.app.db.Gorm
	var ev struct{ ID, Type, Key, Payload string }
	if err := gdb.Raw("SELECT id, type, key, payload FROM event_outbox WHERE type = ? AND key = ?", orders.EventOrderPlaced, order).Scan(&ev).Error; err != nil || ev.ID == "" {
		t.Fatalf("order_placed event of %s: %v (%+v)", order, err, ev)
	}
	waitFor(t, 10*time.Second, "the payments consumer handles order_placed", func() bool {
		var n int64
		if err := gdb.Raw("SELECT count(*) FROM event_inbox WHERE consumer = ? AND event_id = ?", ordersimpl.ConsumerPayments, ev.ID).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	id := ids.New()
	if err := gdb.Exec(`INSERT INTO event_dead_letters (id, consumer, event_id, event_type, event_key, payload, error, attempts, failed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, ordersimpl.ConsumerPayments, ev.ID, ev.Type, ev.Key, ev.Payload, "console test: simulated failure", 8, time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	return id
}
