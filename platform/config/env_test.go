package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// README's configuration table is the contract of the environment: every
// variable it lists is bound, and every binding is listed, so neither the
// code nor the document can drift alone.
func TestEveryDocumentedVariableIsBound(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	var documented []string
	for line := range strings.Lines(section) {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		firstCell := strings.Split(line, "|")[1]
		for _, m := range name.FindAllStringSubmatch(firstCell, -1) {
			documented = append(documented, m[1])
		}
	}
	if len(documented) == 0 {
		t.Fatal("found no variables in README's configuration table")
	}
	var bound []string
	for _, b := range envBindings {
		if slices.Contains(bound, b.name) {
			t.Errorf("%s is bound twice", b.name)
		}
		bound = append(bound, b.name)
	}
	for _, v := range documented {
		if !slices.Contains(bound, v) {
			t.Errorf("README documents %s but config does not read it (add a row to envBindings)", v)
		}
	}
	for _, v := range bound {
		if !slices.Contains(documented, v) {
			t.Errorf("config reads %s but README's configuration table does not list it", v)
		}
	}
}

// Each binding sets a field of its own: applied in turn, every variable
// changes the configuration; applied once more over the result, none does
// (two variables bound to one field would overwrite each other).
func TestEveryBindingSetsItsOwnSetting(t *testing.T) {
	sample := map[string]string{
		"DATABASE_REPLICA_MAX_LAG": "7s", "DATABASE_READ_YOUR_WRITES_WINDOW": "8s",
		"DATABASE_PGBOUNCER": "true", "AUTO_MIGRATE": "false", "RATELIMIT_ENABLED": "false",
		"OTEL_TRACES_SAMPLER_ARG": "0.5",
	}
	value := func(b envBinding) string {
		if v, ok := sample[b.name]; ok {
			return v
		}
		return "x-" + strings.ToLower(b.name)
	}
	cfg := Defaults()
	for _, pass := range []string{"first", "second"} {
		for _, b := range envBindings {
			before := fmt.Sprintf("%+v", cfg)
			if err := b.apply(&cfg, value(b)); err != nil {
				t.Fatalf("%s=%s: %v", b.name, value(b), err)
			}
			changed := fmt.Sprintf("%+v", cfg) != before
			if pass == "first" && !changed {
				t.Errorf("%s=%s changed nothing", b.name, value(b))
			}
			if pass == "second" && changed {
				t.Errorf("%s shares its setting with another variable", b.name)
			}
		}
	}
}
