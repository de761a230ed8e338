package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"path"
	"strings"
)

// Asset is one static file of a page the service ships (the operator
// console in admin/, the API reference in docs/), ready to serve: there is
// no build step, the files are served as written.
type Asset struct {
	Body        []byte
	ContentType string
	ETag        string // strong, from the content
}

// assetTypes are the content types of the file kinds the pages ship; an
// explicit table, because the system MIME database varies by machine.
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// loadAssets reads every servable file under dir, keyed by its path
// relative to dir.
func loadAssets(dir string) map[string]Asset {
	out := map[string]Asset{}
	_ = fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := assetTypes[path.Ext(p)]
		if !ok {
			return nil // not served
		}
		body := mustRead(p)
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, dir+"/")] = Asset{Body: body, ContentType: ct,
			ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return out
}

// lookup finds name in assets ("" and "/" are the page, index.html).
func lookup(assets map[string]Asset, name string) (Asset, bool) {
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	a, ok := assets[name]
	return a, ok
}
