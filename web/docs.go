package web

import "sync"

// DocsCSP is the Content-Security-Policy of the API reference page and its
// files: its own script and style only (no inline code: an inline script
// is what left the page blank under the old default-src 'self'), fetches
// to its own origin (/openapi.json), no framing.
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

var docsAssets = sync.OnceValue(func() map[string]Asset { return loadAssets("docs") })

// DocsFile returns a file of the API reference page at name, relative to
// /docs/ ("" is the page itself, index.html).
func DocsFile(name string) (Asset, bool) { return lookup(docsAssets(), name) }
