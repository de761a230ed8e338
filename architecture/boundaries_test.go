// Package architecture keeps the architecture as code, in the spirit of the
// standard library's go/build/deps_test.go: a table of import rules checked
// against `go list` output of the whole tree, tests included, with must-fail
// fixtures under testdata/ proving that every rule bites.
package architecture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// module is the import path of the tree (go.mod); fixtures use it too.
const module = "example.com/productapi"

// compositionRoots are the packages that assemble the modules and so alone
// may import their *impl packages: modules/app (its in-package tests are the
// integration suite). The root package is only main.go and imports no *impl.
var compositionRoots = []string{"modules/app"}

// contractDeps are the only packages of the tree a module contract
// (modules/<m>) may import: a contract is a leaf, so a module can become a
// service that its callers reach through the same contract.
var contractDeps = map[string]string{
	// The contracts' typed errors (NotFound, Conflict, ...) that every caller
	// and the HTTP layer map the same way; it imports nothing of the tree.
	"platform/apperr": "typed errors of the contracts",
}

// Gin belongs to the HTTP layers: the composition root, every httpapi
// package, platform/httpx and a module's *impl (its Routes hook). The
// exceptions below are the platform packages that serve HTTP: middleware,
// and the HTTP face of a mechanism, kept in its own <name>http package so
// the mechanism itself imports no Gin. An exception that no longer imports
// Gin fails the test, so the list only shrinks.
var ginExceptions = map[string]string{
	"platform/audit/audithttp":   "the audit trail's admin API and request-ID middleware",
	"platform/events/eventshttp": "the dead-letter admin API",
	"platform/flags/flagshttp":   "the flag admin API, OFREP and the evaluation-context middleware",
	"platform/auth":              "the Bearer and MFA middleware",
	"platform/consistency":       "the read-your-writes middleware",
	"platform/health":            "the /livez and /readyz handlers",
	"platform/observability":     "request logging, metrics and tracing middleware",
	"platform/ratelimit":         "the rate-limit middleware",
	"platform/resilience":        "the load-shedding middleware",
	"platform/routemeta":         "route registration with each route's limits",
	"scripts/bare":               "the bare-Gin baseline of the read-path benchmark",
}

// GORM belongs to the stores: the composition root, every internal/store
// package, platform/db, platform/migrate and a module's *impl (its Deps hand
// the pool to its stores). The exceptions below are today's other users,
// checked like ginExceptions.
var gormExceptions = map[string]string{
	"platform/audit":                    "debt: the audit trail writes its own rows",
	"platform/flags/flagstore":          "the flag table and its audited writes",
	"platform/events":                   "the outbox, inbox and dead-letter tables",
	"platform/query":                    "the keyset helper builds every store's GORM list clauses",
	"platform/observability":            "counts queries with a GORM callback",
	"modules/orders/internal/salesview": "the sales read model: a store fed by events",
}

// edge is one direct import: From imports To (both full import paths), from
// a test file of From when InTests.
type edge struct {
	From, To string
	InTests  bool
}

// rule forbids some edges. Rules are tried in table order and an edge
// breaks at most one: the first that forbids it.
type rule struct {
	name    string
	why     string
	forbids func(e edge) bool
}

var rules = []rule{
	{"contract-leaf", "a module contract is a leaf: no other module or platform package (see contractDeps)",
		func(e edge) bool {
			to, local := rel(e.To)
			return isContract(e.From) && local && e.To != e.From && contractDeps[to] == ""
		}},
	{"platform-no-modules", "platform is mechanism only and knows no module",
		func(e edge) bool { return under(e.From, "platform") && moduleOf(e.To) != "" }},
	{"scripts-no-internals", "scripts use the tree's public packages only: no *impl, no internal package",
		func(e edge) bool {
			_, local := rel(e.To)
			return under(e.From, "scripts") && (isImpl(e.To) || local && isInternal(e.To))
		}},
	{"impl-only-in-root", "only the composition root imports a module's *impl",
		func(e edge) bool { return isImpl(e.To) && e.To != e.From && !isRoot(e.From) }},
	{"peer-via-contract", "a module reaches another module through its contract only (tests may use its <m>test fake)",
		func(e edge) bool {
			m, peer := moduleOf(e.From), moduleOf(e.To)
			return m != "" && peer != "" && m != peer && !isContract(e.To) && !(e.InTests && isFake(e.To))
		}},
	{"gin-only-in-http", "Gin only in the HTTP layers (see ginExceptions)",
		func(e edge) bool { return isGin(e.To) && !ginAllowed(e.From) }},
	{"gorm-only-in-stores", "GORM only in the stores (see gormExceptions)",
		func(e edge) bool { return isGorm(e.To) && !gormAllowed(e.From) }},
}

// listedPackage is what the rules read from `go list -json`: the direct
// imports of a package, of its in-package tests and of its external _test
// package. Direct imports, as in deps_test.go: a transitive dependency is
// someone's direct one and is checked there.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// violation is an edge a rule forbids, printed with paths relative to the
// module.
type violation struct {
	Pkg    string // the importing package
	Files  string // "" (the package), "test" (in-package tests) or "xtest" (its _test package)
	Import string
	Rule   string
}

func (v violation) String() string {
	files := ""
	if v.Files != "" {
		files = " (" + v.Files + ")"
	}
	return fmt.Sprintf("%s%s imports %s: %s", v.Pkg, files, v.Import, v.Rule)
}

// check applies the rules to every direct import of pkgs and returns the
// violations. It is pure, so fixtures are plain go list output.
func check(pkgs []listedPackage) []violation {
	var out []violation
	for _, p := range pkgs {
		for _, set := range []struct {
			files   string
			imports []string
		}{{"", p.Imports}, {"test", p.TestImports}, {"xtest", p.XTestImports}} {
			for _, imp := range set.imports {
				e := edge{From: p.ImportPath, To: imp, InTests: set.files != ""}
				for _, r := range rules {
					if r.forbids(e) {
						out = append(out, violation{short(p.ImportPath), set.files, short(imp), r.name})
						break
					}
				}
			}
		}
	}
	return out
}

// rel is p relative to the module ("." for the root) and whether p is in it.
func rel(p string) (string, bool) {
	if p == module {
		return ".", true
	}
	return strings.CutPrefix(p, module+"/")
}

// short is p relative to the module when it is in it, else p.
func short(p string) string {
	r, _ := rel(p)
	return r
}

// under reports whether p is dir (relative to the module) or inside it.
func under(p, dir string) bool {
	r, ok := rel(p)
	return ok && (r == dir || strings.HasPrefix(r, dir+"/"))
}

func isRoot(p string) bool {
	r, ok := rel(p)
	return ok && slices.Contains(compositionRoots, r)
}

// moduleOf names the module p belongs to ("" outside modules/, and for
// the composition root: it lives under modules/ but is no module).
func moduleOf(p string) string {
	r, ok := rel(p)
	if !ok || isRoot(p) {
		return ""
	}
	rest, ok := strings.CutPrefix(r, "modules/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// isContract: modules/<m>, the module's leaf contract package.
func isContract(p string) bool {
	m := moduleOf(p)
	return m != "" && short(p) == "modules/"+m
}

// isImpl: modules/<m>/<m>impl, the module's implementation and wiring.
func isImpl(p string) bool {
	m := moduleOf(p)
	return m != "" && short(p) == path.Join("modules", m, m+"impl")
}

// isFake: modules/<m>/<m>test, an in-memory fake of the module's contract.
func isFake(p string) bool {
	m := moduleOf(p)
	return m != "" && short(p) == path.Join("modules", m, m+"test")
}

func isInternal(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "internal")
}

func isGin(p string) bool {
	for _, prefix := range []string{
		"github.com/gin-gonic/", "github.com/gin-contrib/",
		"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/",
	} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func isGorm(p string) bool { return strings.HasPrefix(p, "gorm.io/") }

func ginAllowed(p string) bool {
	r, ok := rel(p)
	return ok && (isRoot(p) || slices.Contains(strings.Split(r, "/"), "httpapi") ||
		r == "platform/httpx" || isImpl(p) || ginExceptions[r] != "")
}

func gormAllowed(p string) bool {
	r, ok := rel(p)
	return ok && (isRoot(p) || strings.HasSuffix(r, "/internal/store") ||
		r == "platform/db" || r == "platform/migrate" || isImpl(p) || gormExceptions[r] != "")
}

// goList runs `go list` over the module in dir. TestImports and
// XTestImports are listed without -test, and -deps is not needed: the
// rules are about direct imports of the tree's own packages.
func goList(t *testing.T, dir string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.Bytes())
	}
	return decode(t, bytes.NewReader(out))
}

// decode reads a stream of go list JSON objects.
func decode(t *testing.T, r io.Reader) []listedPackage {
	t.Helper()
	var pkgs []listedPackage
	for dec := json.NewDecoder(r); ; {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

func TestModuleBoundaries(t *testing.T) {
	pkgs := goList(t, "..")
	for _, v := range check(pkgs) {
		t.Errorf("%v (%s)", v, why(v.Rule))
	}

	// A rename (modules/ -> svc/, a new module path) would make every rule
	// vacuous: insist that each kind of package the rules name exists.
	kinds := map[string]int{}
	imports := map[string]map[string]bool{} // package -> direct imports, tests included
	for _, p := range pkgs {
		for kind, is := range map[string]func(string) bool{
			"root": isRoot, "contract": isContract, "impl": isImpl, "fake": isFake,
			"platform": func(p string) bool { return under(p, "platform") },
			"scripts":  func(p string) bool { return under(p, "scripts") },
		} {
			if is(p.ImportPath) {
				kinds[kind]++
			}
		}
		set := map[string]bool{}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			set[imp] = true
		}
		imports[short(p.ImportPath)] = set
	}
	for _, kind := range []string{"root", "contract", "impl", "fake", "platform", "scripts"} {
		if kinds[kind] == 0 {
			t.Errorf("no %s package in go list output: the rules check nothing", kind)
		}
	}

	// An exception that is no longer needed must leave its list.
	uses := func(pkg string, is func(string) bool) bool {
		for imp := range imports[pkg] {
			if is(imp) {
				return true
			}
		}
		return false
	}
	for pkg := range ginExceptions {
		if !uses(pkg, isGin) {
			t.Errorf("ginExceptions: %s no longer imports Gin; delete its entry", pkg)
		}
	}
	for pkg := range gormExceptions {
		if !uses(pkg, isGorm) {
			t.Errorf("gormExceptions: %s no longer imports GORM; delete its entry", pkg)
		}
	}
	for dep := range contractDeps {
		used := false
		for pkg, set := range imports {
			used = used || isContract(module+"/"+pkg) && set[module+"/"+dep]
		}
		if !used {
			t.Errorf("contractDeps: no contract imports %s; delete its entry", dep)
		}
	}
}

// TestLintMirrorsTheExceptions keeps .golangci.yml's depguard rules (which
// show a forbidden Gin or GORM import in the editor) in step with the
// exception lists here: each package a rule exempts by name must be one of
// ours, and each of ours exempted.
func TestLintMirrorsTheExceptions(t *testing.T) {
	raw, err := os.ReadFile("../.golangci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Linters struct {
			Settings struct {
				Depguard struct {
					Rules map[string]struct{ Files []string }
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf(".golangci.yml: %v", err)
	}
	for _, c := range []struct {
		rule       string
		exceptions map[string]string
		byDesign   []string // exempted by name in both places, not exceptions
	}{
		{"gin", ginExceptions, slices.Concat(compositionRoots, []string{"platform/httpx"})},
		{"gorm", gormExceptions, slices.Concat(compositionRoots, []string{"platform/db", "platform/migrate"})},
	} {
		var exempt []string // "!${config-path}/<dir>/*.go" without a wildcard in <dir>
		for _, f := range cfg.Linters.Settings.Depguard.Rules[c.rule].Files {
			rest, negated := strings.CutPrefix(f, "!${config-path}/")
			dir, onePackage := strings.CutSuffix(rest, "/*.go")
			if negated && onePackage && !strings.Contains(dir, "*") {
				exempt = append(exempt, dir)
			}
		}
		want := slices.Concat(c.byDesign, slices.Collect(maps.Keys(c.exceptions)))
		slices.Sort(exempt)
		slices.Sort(want)
		if !slices.Equal(exempt, want) {
			t.Errorf("depguard rule %s exempts %q, want %q (%sExceptions plus %q)", c.rule, exempt, want, c.rule, c.byDesign)
		}
	}
}

// TestBoundaryRulesBite runs the checker over must-fail fixtures: go list
// output (testdata/golist/*.json, written by hand) and a fake module tree
// (testdata/tree, listed by the real go list, so reading test imports is
// proven end to end). Each must report exactly its violations.
func TestBoundaryRulesBite(t *testing.T) {
	cases := []struct {
		fixture string
		want    []string
	}{
		{"golist/allowed.json", nil},
		{"golist/contract-imports-contract.json",
			[]string{"modules/orders imports modules/products: contract-leaf"}},
		{"golist/contract-imports-platform.json",
			[]string{"modules/products imports platform/db: contract-leaf"}},
		{"golist/platform-test-imports-module.json",
			[]string{"platform/cache (xtest) imports modules/products: platform-no-modules"}},
		{"golist/scripts-import-impl.json",
			[]string{"scripts/loadgen imports modules/orders/ordersimpl: scripts-no-internals"}},
		{"golist/scripts-import-internal.json",
			[]string{"scripts/bare imports platform/db/internal/pool: scripts-no-internals"}},
		{"golist/test-imports-peer-impl.json",
			[]string{"modules/orders/internal/app (test) imports modules/products/productsimpl: impl-only-in-root"}},
		// main only calls modules/app: wiring an *impl there is a second root.
		{"golist/main-imports-impl.json",
			[]string{". imports modules/products/productsimpl: impl-only-in-root"}},
		{"golist/impl-imports-peer-impl.json",
			[]string{"modules/orders/ordersimpl imports modules/users/usersimpl: impl-only-in-root"}},
		{"golist/peer-internal.json",
			[]string{"modules/orders/internal/app imports modules/products/internal/store: peer-via-contract"}},
		{"golist/peer-fake-outside-tests.json",
			[]string{"modules/orders/internal/app imports modules/products/productstest: peer-via-contract"}},
		{"golist/gin-outside-http.json",
			[]string{"modules/products/internal/app imports github.com/gin-gonic/gin: gin-only-in-http",
				"platform/cache (test) imports github.com/gin-gonic/gin/binding: gin-only-in-http"}},
		{"golist/gorm-outside-stores.json",
			[]string{"modules/products/internal/httpapi imports gorm.io/gorm: gorm-only-in-stores",
				"platform/httpx imports gorm.io/gorm/clause: gorm-only-in-stores"}},
		{"tree", []string{
			"modules/orders/internal/app (xtest) imports modules/products/productsimpl: impl-only-in-root",
			"platform/cache (test) imports modules/products: platform-no-modules",
			"scripts/loadgen imports modules/orders/ordersimpl: scripts-no-internals",
		}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			fixture := filepath.Join("testdata", c.fixture)
			var pkgs []listedPackage
			if strings.HasSuffix(fixture, ".json") {
				f, err := os.Open(fixture)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				pkgs = decode(t, f)
			} else {
				pkgs = goList(t, fixture)
			}
			var got []string
			for _, v := range check(pkgs) {
				got = append(got, v.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("violations:\n  got  %q\n  want %q", got, c.want)
			}
		})
	}
}

func why(name string) string {
	for _, r := range rules {
		if r.name == name {
			return r.why
		}
	}
	return ""
}
