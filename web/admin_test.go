package web

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestConsoleSelfContained: the console loads nothing from another origin
// and has no inline code, so it works offline and under ConsoleCSP
// (script-src 'self', style-src 'self').
func TestConsoleSelfContained(t *testing.T) {
	names := ConsoleFiles()
	sort.Strings(names)
	for _, want := range []string{"index.html", "app.js", "api.js", "console.css"} {
		if _, ok := ConsoleFile(want); !ok {
			t.Fatalf("console file %s missing (have %v)", want, names)
		}
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|import\s+[^;]*from\s+["'](https?:)?//`)
	for _, name := range names {
		a, _ := ConsoleFile(name)
		if m := external.Find(a.Body); m != nil {
			t.Errorf("%s loads an external resource: %q", name, m)
		}
		if a.ETag == "" || a.ContentType == "" {
			t.Errorf("%s: no ETag or content type", name)
		}
	}
	page, _ := ConsoleFile("")
	html := string(page.Body)
	scripts := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], `src="/admin/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html has an inline script: %q", m[0])
		}
	}
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)\son[a-z]+\s*=`), regexp.MustCompile(`(?i)\sstyle\s*=`), regexp.MustCompile(`(?i)<style`), regexp.MustCompile(`(?i)javascript:`)} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("index.html has inline code or style (blocked by the CSP): %q", m)
		}
	}
	// Every local file the page references is served.
	ref := regexp.MustCompile(`(?:src|href)="/admin/([^"]+)"`)
	for _, m := range ref.FindAllStringSubmatch(html, -1) {
		if _, ok := ConsoleFile(m[1]); !ok {
			t.Errorf("index.html references /admin/%s, which is not embedded", m[1])
		}
	}
	// Accessibility basics of the markup.
	for _, want := range []string{`<html lang="en"`, "<main", "<nav", `aria-live="polite"`, `role="alert"`, `<label for="email"`, `<label for="password"`, "Skip to content"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	// Scripts import their modules by relative path only.
	imp := regexp.MustCompile(`from\s+"([^"]+)"`)
	for _, name := range names {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		a, _ := ConsoleFile(name)
		for _, m := range imp.FindAllStringSubmatch(string(a.Body), -1) {
			if _, ok := ConsoleFile(strings.TrimPrefix(m[1], "./")); !strings.HasPrefix(m[1], "./") || !ok {
				t.Errorf("%s imports %q: not a relative path to an embedded file", name, m[1])
			}
		}
		if strings.Contains(string(a.Body), "innerHTML") || strings.Contains(string(a.Body), "eval(") {
			t.Errorf("%s uses innerHTML or eval", name)
		}
	}
}

func TestConsoleFileLookup(t *testing.T) {
	for _, name := range []string{"", "/", "index.html", "/app.js"} {
		if _, ok := ConsoleFile(name); !ok {
			t.Errorf("ConsoleFile(%q) not found", name)
		}
	}
	for _, name := range []string{"../openapi.yaml", "nope.js", "admin/index.html", "/../docs.html"} {
		if _, ok := ConsoleFile(name); ok {
			t.Errorf("ConsoleFile(%q) found", name)
		}
	}
	js, _ := ConsoleFile("app.js")
	if js.ContentType != "text/javascript; charset=utf-8" {
		t.Errorf("app.js content type %q", js.ContentType)
	}
}
