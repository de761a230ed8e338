package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestModuleBoundaries enforces the architecture as code, in the spirit of
// the standard library's deps_test.go:
//   - platform/ never imports a module;
//   - a module never imports another module's impl or internals (only its
//     contract package), so any module can be split into a service.
func TestModuleBoundaries(t *testing.T) {
	const root = "example.com/productapi/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := strings.TrimPrefix(fields[0], root), fields[1:]
		owner := moduleOf(pkg)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, root) {
				continue
			}
			imp = strings.TrimPrefix(imp, root)
			checked++
			target := moduleOf(imp)
			switch {
			case strings.HasPrefix(pkg, "platform/") && target != "":
				t.Errorf("%s imports module package %s: platform must not know modules", pkg, imp)
			case owner != "" && target != "" && owner != target && imp != "modules/"+target:
				t.Errorf("%s imports %s: modules may only use a peer's contract package modules/%s", pkg, imp, target)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no internal imports inspected: the check is not running")
	}
}

// moduleOf names the module a package belongs to ("" outside modules/).
func moduleOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, "modules/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
