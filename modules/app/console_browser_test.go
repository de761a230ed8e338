package app

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
	"example.com/productapi/web"
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

// tab is one browser tab under test, with helpers that fail the test (and
// show what the page reported) when a step does not complete in time.
type tab struct {
	t        *testing.T
	ctx      context.Context
	problems func() []string
}

func newTab(t *testing.T) *tab {
	ctx, problems := browserContext(t)
	return &tab{t: t, ctx: ctx, problems: problems}
}

// step is the context of one step: its own deadline.
func (p *tab) step() context.Context {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	p.t.Cleanup(cancel)
	return ctx
}

func (p *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.step(), actions...); err != nil {
		p.t.Fatalf("%s: %v (page problems: %v; status %s)", what, err, p.problems(), p.status())
	}
}

// status is what the page last announced and its error box, if any.
func (p *tab) status() string {
	v, _ := chromedp.Run(p.step(), chromedp.Evaluate[string](
		`JSON.stringify([document.querySelector("#status")?.textContent, document.querySelector("#error")?.textContent])`))
	return v
}

func (p *tab) text(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.step(), chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v (page problems: %v)", sel, err, p.problems())
	}
	return v
}

func (p *tab) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.step(), chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shown says whether the element at sel is rendered (a hidden attribute
// beaten by a display rule would still render it).
func (p *tab) shown(sel string) bool {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`String(document.querySelector(%q).getClientRects().length > 0)`, sel)) == "true"
}

func (p *tab) stored(key string) string {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`sessionStorage.getItem(%q) || ""`, key))
}

// noProblems fails the test if the page reported errors (exceptions, CSP
// violations, failed loads other than the API answers it provoked).
func (p *tab) noProblems() {
	p.t.Helper()
	if pr := p.problems(); len(pr) > 0 {
		p.t.Errorf("the page reported problems:\n%s", strings.Join(pr, "\n"))
	}
}

func flagRow(key string) string { return fmt.Sprintf(`tr[data-flag=%q]`, key) }

func (p *tab) version(key string) int {
	p.t.Helper()
	v, err := chromedp.Run(p.step(), chromedp.AttributeValue(chromedp.CSS(flagRow(key)), "data-version"))
	n, convErr := strconv.Atoi(v.Value)
	if err != nil || convErr != nil {
		p.t.Fatalf("%s row has no version (%q): %v", key, v.Value, err)
	}
	return n
}

// toggle flips a boolean flag's switch (by mouse, or by keyboard: focus and
// Space) and waits for the saved row.
func (p *tab) toggle(key string, wantOn, keyboard bool) {
	p.t.Helper()
	v := p.version(key)
	sw := flagRow(key) + ` input[data-action="toggle"]`
	flip := chromedp.Click(chromedp.CSS(sw))
	if keyboard {
		flip = chromedp.SendKeys(chromedp.CSS(sw), " ")
	}
	p.do("toggle "+key, flip,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s[data-version="%d"]`, flagRow(key), v+1))))
	if got := p.eval(fmt.Sprintf(`String(document.querySelector(%q).checked)`, sw)); got != strconv.FormatBool(wantOn) {
		p.t.Fatalf("%s switch shows checked=%s after toggling, want %v", key, got, wantOn)
	}
}

// signIn types email and password into the console's form (Enter submits)
// and waits for the flags view.
func (p *tab) signIn(email, password string) {
	p.t.Helper()
	p.do("sign in as "+email,
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(flagRow(ordersimpl.CheckoutEnabled))),
	)
}

// The console's session keys in sessionStorage (web/admin/api.js).
const (
	consoleTokenKey   = "productapi.console.token"
	consoleRefreshKey = "productapi.console.refresh"
	consoleRenewKey   = "productapi.console.renew_at"
)

// TestDocsInBrowser: the API reference page renders the operation list
// under its own CSP (it was blank when its script was inline). One store:
// the page only reads /openapi.json.
func TestDocsInBrowser(t *testing.T) {
	p := newTab(t)
	s := newServer(t, sqliteStore)
	p.do("open /docs",
		chromedp.Navigate(s.srv.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(`#op-listProducts h3`)),
		chromedp.WaitVisible(chromedp.CSS(`#toc a[href="#op-listProducts"]`)))
	if h := p.text(`#op-listProducts h3`); !strings.Contains(h, "GET") || !strings.Contains(h, "/v1/products") {
		t.Errorf("the listProducts entry reads %q, want GET /v1/products", h)
	}
	// Every documented operation has its entry.
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(web.OpenAPIJSON(), &spec); err != nil {
		t.Fatal(err)
	}
	ops := 0
	for _, item := range spec.Paths {
		for method := range item {
			if method != "parameters" {
				ops++
			}
		}
	}
	if got := p.eval(`String(document.querySelectorAll("article.op").length)`); got != strconv.Itoa(ops) {
		t.Errorf("the page lists %s operations, the document has %d", got, ops)
	}
	if title := p.eval(`document.title`); !strings.HasSuffix(title, " reference") || title == "API reference" {
		t.Errorf("title %q: the page did not render the document's info", title)
	}
	p.noProblems()
}

func TestConsoleInBrowser(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		p := newTab(t)
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("console-customer@example.com")
		pid := s.createProduct(admin, map[string]any{"name": "Console lamp", "stock": 10})["id"].(string)
		order := orderBody(orderLine{pid, 1})

		// Before anyone signs in there is nothing to sign out of.
		p.do("open the console", chromedp.Navigate(s.srv.URL+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"]`)))
		for _, sel := range []string{`#sign-out`, `#nav`, `#mfa-form`} {
			if p.shown(sel) {
				t.Errorf("%s is shown before sign-in", sel)
			}
		}

		// Sign in as the bootstrap admin (Enter submits the form).
		p.signIn(adminEmail, adminPassword)
		if p.stored(consoleTokenKey) == "" || p.stored(consoleRefreshKey) == "" {
			t.Fatal("no tokens in sessionStorage after sign-in")
		}
		if !p.shown(`#sign-out`) || p.shown(`#sign-in-form`) {
			t.Errorf("after sign-in: Sign out shown %v, sign-in form shown %v", p.shown(`#sign-out`), p.shown(`#sign-in-form`))
		}

		// Checkout off through the UI: the API refuses orders with 503 + Retry-After.
		p.toggle(ordersimpl.CheckoutEnabled, false, false)
		off := s.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "console-1")
		expect(t, off, 503)
		if off.Header.Get("Retry-After") == "" {
			t.Fatal("checkout switched off in the console: 503 without Retry-After")
		}
		if status := p.text(`#status`); !strings.Contains(status, "orders.checkout_enabled switched off") {
			t.Errorf("status after switching off: %q", status)
		}
		// And back on, by keyboard this time: checkout works again.
		p.toggle(ordersimpl.CheckoutEnabled, true, true)
		placed := s.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "console-1")
		expect(t, placed, 201)
		deadLetter := consoleDeadLetter(t, s, placed.JSON(t)["id"].(string))

		// Rollout: 10 % -> 35 % of users get products.search_sku_match "on".
		const sku = "products.search_sku_match"
		pct := chromedp.CSS(flagRow(sku) + ` input[data-action="rollout-pct"]`)
		apply := chromedp.CSS(flagRow(sku) + ` button[data-action="rollout-apply"]`)
		v := p.version(sku)
		p.do("set the rollout share",
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
		p.do("refuse 150 %", chromedp.SetValue(pct, "150"), chromedp.Click(apply), chromedp.WaitVisible(chromedp.CSS(`#error`)))
		if after := p.version(sku); after != v+1 {
			t.Fatalf("an invalid share changed the flag (version %d -> %d)", v+1, after)
		}

		// Health: the view renders numbers from /v1/admin/stats.
		p.do("open health",
			chromedp.Click(chromedp.CSS(`a[data-view="health"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#health-summary dd[data-k="request_rate"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#health-routes tbody tr th`)),
		)
		number := regexp.MustCompile(`^\d+(\.\d+)?( %)?$`)
		for _, sel := range []string{`#health-summary dd[data-k="request_rate"]`, `#health-summary dd[data-k="error_rate"]`,
			`#health-breakers dd[data-k="limit"]`} {
			if v := strings.TrimSpace(p.text(sel)); !number.MatchString(v) {
				t.Errorf("health %s shows %q, not a number", sel, v)
			}
		}
		// The rollout change was made a moment ago, well inside the ~30 s window.
		if routes := p.text(`#health-routes tbody`); !strings.Contains(routes, "PUT /v1/admin/flags/:key") {
			t.Errorf("health routes table lacks the request just made:\n%s", routes)
		}

		// Screenshot of the health view for the CI artifact (of the last
		// store to run).
		png, err := chromedp.Run(p.step(), chromedp.FullScreenshot(100)) // quality 100: PNG
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
		p.do("open the audit trail",
			chromedp.Click(chromedp.CSS(`a[data-view="audit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#audit-table tbody tr`)))
		if trail := p.text(`#audit-table tbody tr:first-child`); !strings.Contains(trail, "flags.update") || !strings.Contains(trail, sku) {
			t.Errorf("newest audit entry is not the rollout change: %q", trail)
		}
		// Dead letters: replay the one recorded above from the page.
		dlRow := fmt.Sprintf(`#dead-table tr[data-id=%q]`, deadLetter)
		p.do("replay the dead letter",
			chromedp.Click(chromedp.CSS(`a[data-view="dead-letters"]`)),
			chromedp.WaitVisible(chromedp.CSS(dlRow+` button[data-action="replay"]`)),
			chromedp.Click(chromedp.CSS(dlRow+` button[data-action="replay"]`)),
			// The row is redrawn from the answer (the button alone is disabled
			// at once, while the request runs).
			chromedp.WaitVisible(chromedp.CSS(dlRow+`[data-replayed] button[data-action="replay"][disabled]`)))
		if status := p.text(`#status`); !strings.Contains(status, "Replayed "+orders.EventOrderPlaced) {
			t.Errorf("status after replay: %q", status)
		}
		if dl := s.do("GET", "/v1/admin/dead-letters/"+deadLetter, admin, nil).JSON(t); dl["replayed_at"] == nil {
			t.Errorf("dead letter not replayed after the console's replay: %v", dl)
		}

		// Sign out drops the session, revokes its refresh token and shows
		// the form again (and no Sign out).
		refresh := p.stored(consoleRefreshKey)
		p.do("sign out", chromedp.Click(chromedp.CSS(`#sign-out`)), chromedp.WaitVisible(chromedp.CSS(`#email`)))
		if p.stored(consoleTokenKey) != "" || p.stored(consoleRefreshKey) != "" {
			t.Error("tokens still in sessionStorage after sign-out")
		}
		if p.shown(`#sign-out`) {
			t.Error("Sign out still shown after signing out")
		}
		expect(t, s.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh}), 401)

		// An admin with a second factor signs in in two steps: a wrong code
		// is refused in the page, the current TOTP code lets them in.
		const mfaAdmin, mfaPassword = "mfa-admin@example.com", "customer-pass-1"
		id, tok := s.register(mfaAdmin)
		expect(t, s.do("PATCH", "/v1/users/"+id, admin, map[string]string{"role": "admin"}), 200)
		secret, _ := s.enableMFA(tok)
		p.do("password step",
			chromedp.SetValue(chromedp.CSS(`#email`), mfaAdmin), // the form kept the last email typed
			chromedp.SendKeys(chromedp.CSS(`#password`), mfaPassword+kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`#mfa-code`)))
		if p.shown(`#sign-in-form`) || p.shown(`#sign-out`) {
			t.Error("the code step shows the password form or Sign out")
		}
		p.do("wrong code", chromedp.SendKeys(chromedp.CSS(`#mfa-code`), wrongCode(t, secret)+kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`#error`)))
		if p.stored(consoleTokenKey) != "" {
			t.Fatal("a wrong code signed in")
		}
		p.eval(`document.querySelector("#mfa-code").value = ""`)
		p.do("right code",
			chromedp.SendKeys(chromedp.CSS(`#mfa-code`), codeAt(t, secret, 0)+kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`#sign-out`)),
			// The tab is still on the view the last session left open.
			chromedp.Click(chromedp.CSS(`a[data-view="flags"]`)),
			chromedp.WaitVisible(chromedp.CSS(flagRow(ordersimpl.CheckoutEnabled))))
		if who := p.text(`#who`); who != mfaAdmin {
			t.Errorf("signed in as %q, want %s", who, mfaAdmin)
		}
		if !p.shown(`#sign-out`) || p.shown(`#mfa-form`) {
			t.Error("after the code step: Sign out hidden or the code form still shown")
		}
		p.noProblems()
	})
}

// The access token lives seconds here (auth.access_token_ttl), and the
// console keeps working past several lifetimes: it refreshes before the
// token expires, rotating the refresh token each time (the second refresh
// would fail, and revoke the session, if it presented the first one
// again), and it recovers from a 401 by refreshing once and retrying.
func TestConsoleSessionRefresh(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		p := newTab(t)
		cfg := testConfig(t, kind)
		cfg.Auth.AccessTokenTTL = 5 * time.Second // seconds, yet with room for a loaded -race run
		s := startServer(t, cfg)
		p.do("open the console", chromedp.Navigate(s.srv.URL+"/admin/"))
		p.signIn(adminEmail, adminPassword)

		// expired waits until the service refuses the access token.
		expired := func(token string) {
			t.Helper()
			testkit.Eventually(t, 15*time.Second, "the access token expires", func() bool {
				return s.do("GET", "/v1/users/me", token, nil).Status == 401
			})
		}
		seen := map[string]bool{}
		for round, keyboard := range []bool{false, true, false} {
			token, refresh := p.stored(consoleTokenKey), p.stored(consoleRefreshKey)
			if seen[token] || seen[refresh] {
				t.Fatalf("round %d: a token came back (access %v, refresh %v)", round, seen[token], seen[refresh])
			}
			seen[token], seen[refresh] = true, true
			expired(token)
			if round == 2 {
				// The console believes its token still good: the request
				// goes out with it, gets a 401, and is retried once after
				// a refresh.
				p.eval(fmt.Sprintf(`sessionStorage.setItem(%q, String(Date.now() + 3600e3)), "ok"`, consoleRenewKey))
			}
			p.toggle(ordersimpl.CheckoutEnabled, round%2 == 1, keyboard)
			if p.shown(`#error`) || p.shown(`#sign-in-form`) {
				t.Fatalf("round %d: after the token expired the console shows an error or signed out: %q", round, p.text(`#status`))
			}
			if now := p.stored(consoleTokenKey); now == token || p.stored(consoleRefreshKey) == refresh {
				t.Fatalf("round %d: the console did not refresh its tokens", round)
			}
		}
		// The health view polls on past the token's lifetime too.
		p.do("open health", chromedp.Click(chromedp.CSS(`a[data-view="health"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#health-summary dd[data-k="request_rate"]`)))
		expired(p.stored(consoleTokenKey))
		before := p.text(`#health-updated`)
		if _, err := chromedp.Run(p.step(), chromedp.Poll[bool](fmt.Sprintf(`document.querySelector("#health-updated").textContent !== %q`, before))); err != nil {
			t.Fatalf("the health view did not refresh after the token expired: %v (page problems: %v)", err, p.problems())
		}
		if p.shown(`#error`) || p.shown(`#sign-in-form`) {
			t.Fatalf("the health view lost the session: %q", p.text(`#status`))
		}
		p.noProblems()
	})
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
	testkit.Eventually(t, 10*time.Second, "the payments consumer handles order_placed", func() bool {
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
