package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"path"
	"strings"
	"sync"
)

// ConsoleAsset is one file of the operator console (web/admin), ready to
// serve: the console has no build step, the files are served as written.
type ConsoleAsset struct {
	Body        []byte
	ContentType string
	ETag        string // strong, from the content
}

// ConsoleCSP is the Content-Security-Policy of the console's pages: only
// its own scripts, styles and API; no inline code, no framing.
const ConsoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// consoleTypes are the content types of the file kinds the console ships;
// an explicit table, because the system MIME database varies by machine.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

var consoleAssets = sync.OnceValue(func() map[string]ConsoleAsset {
	out := map[string]ConsoleAsset{}
	_ = fs.WalkDir(files, "admin", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := consoleTypes[path.Ext(p)]
		if !ok {
			return nil // not served
		}
		body := mustRead(p)
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "admin/")] = ConsoleAsset{Body: body, ContentType: ct,
			ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return out
})

// ConsoleFile returns the console file at name, relative to /admin/ ("" is
// the page itself, index.html).
func ConsoleFile(name string) (ConsoleAsset, bool) {
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	a, ok := consoleAssets()[name]
	return a, ok
}

// ConsoleFiles lists the console's files (relative to /admin/), for tests.
func ConsoleFiles() []string {
	var out []string
	for name := range consoleAssets() {
		out = append(out, name)
	}
	return out
}
