package web

import "sync"

// ConsoleCSP is the Content-Security-Policy of the console's pages: only
// its own scripts, styles and API; no inline code, no framing.
const ConsoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var consoleAssets = sync.OnceValue(func() map[string]Asset { return loadAssets("admin") })

// ConsoleFile returns the console file at name, relative to /admin/ ("" is
// the page itself, index.html).
func ConsoleFile(name string) (Asset, bool) { return lookup(consoleAssets(), name) }

// ConsoleFiles lists the console's files (relative to /admin/), for tests.
func ConsoleFiles() []string {
	var out []string
	for name := range consoleAssets() {
		out = append(out, name)
	}
	return out
}
