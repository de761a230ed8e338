package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"example.com/productapi/platform/apperr"
)

// providerWith builds a provider serving the given definitions (JSON).
func providerWith(t *testing.T, defs map[string]string) *Provider {
	t.Helper()
	p := newProvider(slog.New(slog.DiscardHandler), func() time.Time { return time.Unix(1700000000, 0) })
	s := emptySnapshot()
	for k, raw := range defs {
		d, err := ParseDefinition([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		c, err := Compile(k, d)
		if err != nil {
			t.Fatalf("%s: %v %+v", k, err, apperr.As(err).Fields)
		}
		s.flags[k] = c
		s.rows[k] = row{flag: c, version: 1}
	}
	p.snap.Store(s)
	return p
}

const boolFlag = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`

func TestEvaluationTable(t *testing.T) {
	p := providerWith(t, map[string]string{
		"static":   boolFlag,
		"disabled": `{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`,
		"admins":   `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[{"==":[{"var":"role"},"admin"]},"on",null]}}`,
		"email":    `{"state":"ENABLED","variants":{"a":"A","b":"B"},"defaultVariant":"a","targeting":{"if":[{"ends_with":[{"var":"email"},"@example.com"]},"b"]}}`,
		"semver":   `{"state":"ENABLED","variants":{"new":"n","old":"o"},"defaultVariant":"old","targeting":{"if":[{"sem_ver":[{"var":"app_version"},">=","2.1.0"]},"new","old"]}}`,
		"prefix":   `{"state":"ENABLED","variants":{"y":true,"n":false},"defaultVariant":"n","targeting":{"if":[{"starts_with":[{"var":"path"},"/v1/admin"]},"y","n"]}}`,
		"flagkey":  `{"state":"ENABLED","variants":{"y":true,"n":false},"defaultVariant":"n","targeting":{"if":[{"==":[{"var":"$flagd.flagKey"},"flagkey"]},"y","n"]}}`,
		"boolrule": `{"state":"ENABLED","variants":{"true":1,"false":0},"defaultVariant":"false","targeting":{"==":[{"var":"targetingKey"},"u1"]}}`,
		"limit":    `{"state":"ENABLED","variants":{"low":10,"high":1000},"defaultVariant":"low"}`,
		"obj":      `{"state":"ENABLED","variants":{"x":{"a":1}},"defaultVariant":"x"}`,
	})
	ctx := context.Background()
	cases := []struct {
		name, key string
		attrs     map[string]any
		typ       string
		def       any
		value     any
		variant   string
		reason    openfeature.Reason
		code      openfeature.ErrorCode
	}{
		{"static", "static", nil, "bool", false, true, "on", openfeature.StaticReason, ""},
		{"disabled returns the caller's default", "disabled", nil, "bool", false, false, "", openfeature.DisabledReason, ""},
		{"targeting match", "admins", map[string]any{"role": "admin"}, "bool", false, true, "on", openfeature.TargetingMatchReason, ""},
		{"targeting null is the default variant", "admins", map[string]any{"role": "customer"}, "bool", true, false, "off", openfeature.DefaultReason, ""},
		{"ends_with", "email", map[string]any{"email": "ann@example.com"}, "string", "", "B", "b", openfeature.TargetingMatchReason, ""},
		{"ends_with no match -> default", "email", map[string]any{"email": "ann@other.org"}, "string", "", "A", "a", openfeature.DefaultReason, ""},
		{"sem_ver newer", "semver", map[string]any{"app_version": "v2.10.0"}, "string", "", "n", "new", openfeature.TargetingMatchReason, ""},
		{"sem_ver pre-release is older", "semver", map[string]any{"app_version": "2.1.0-rc.1"}, "string", "", "o", "old", openfeature.TargetingMatchReason, ""},
		{"starts_with", "prefix", map[string]any{"path": "/v1/admin/flags"}, "bool", false, true, "y", openfeature.TargetingMatchReason, ""},
		{"$flagd.flagKey", "flagkey", nil, "bool", false, true, "y", openfeature.TargetingMatchReason, ""},
		{"boolean rule result names true/false variants", "boolrule", map[string]any{"targetingKey": "u1"}, "int", int64(-1), int64(1), "true", openfeature.TargetingMatchReason, ""},
		{"int", "limit", nil, "int", int64(0), int64(10), "low", openfeature.StaticReason, ""},
		{"object", "obj", nil, "object", nil, map[string]any{"a": 1.0}, "x", openfeature.StaticReason, ""},
		{"not found", "nope", nil, "bool", true, true, "", openfeature.ErrorReason, openfeature.FlagNotFoundCode},
		{"type mismatch", "limit", nil, "bool", true, true, "", openfeature.ErrorReason, openfeature.TypeMismatchCode},
		{"type mismatch string", "static", nil, "string", "d", "d", "", openfeature.ErrorReason, openfeature.TypeMismatchCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flat := openfeature.FlattenedContext{}
			for k, v := range tc.attrs {
				flat[k] = v
			}
			var value any
			var d openfeature.ProviderResolutionDetail
			switch tc.typ {
			case "bool":
				r := p.BooleanEvaluation(ctx, tc.key, tc.def.(bool), flat)
				value, d = r.Value, r.ProviderResolutionDetail
			case "string":
				r := p.StringEvaluation(ctx, tc.key, tc.def.(string), flat)
				value, d = r.Value, r.ProviderResolutionDetail
			case "int":
				r := p.IntEvaluation(ctx, tc.key, tc.def.(int64), flat)
				value, d = r.Value, r.ProviderResolutionDetail
			case "object":
				r := p.ObjectEvaluation(ctx, tc.key, tc.def, flat)
				value, d = r.Value, r.ProviderResolutionDetail
			}
			got := d.ResolutionDetail()
			if fmt.Sprint(value) != fmt.Sprint(tc.value) || got.Variant != tc.variant || got.Reason != tc.reason || got.ErrorCode != tc.code {
				t.Fatalf("got value=%v variant=%q reason=%s code=%s (%s); want %v %q %s %s",
					value, got.Variant, got.Reason, got.ErrorCode, got.ErrorMessage, tc.value, tc.variant, tc.reason, tc.code)
			}
		})
	}
}

// The same through the OpenFeature client of a named domain.
func TestEvaluationThroughOpenFeatureClient(t *testing.T) {
	p := providerWith(t, map[string]string{"static": boolFlag})
	domain := fmt.Sprintf("eval-test-%d", time.Now().UnixNano())
	if err := openfeature.SetNamedProviderWithContextAndWait(context.Background(), domain, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = openfeature.SetNamedProvider(domain, openfeature.NoopProvider{}) })
	c := openfeature.NewClient(domain)
	d, err := c.BooleanValueDetails(context.Background(), "static", false, openfeature.NewEvaluationContext("u1", nil))
	if err != nil || !d.Value || d.Reason != openfeature.StaticReason || d.Variant != "on" {
		t.Fatalf("%+v %v", d, err)
	}
	d, err = c.BooleanValueDetails(context.Background(), "missing", true, openfeature.EvaluationContext{})
	if err == nil || !d.Value || d.ErrorCode != openfeature.FlagNotFoundCode {
		t.Fatalf("%+v %v", d, err)
	}
}

func rollout(share int) string {
	return fmt.Sprintf(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"fractional":[["on",%d],["off",%d]]}}`, share, 100-share)
}

func TestFractionalStickyDistributedAndMonotonic(t *testing.T) {
	const n = 10000
	ctx := context.Background()
	p10 := providerWith(t, map[string]string{"roll": rollout(10)})
	p30 := providerWith(t, map[string]string{"roll": rollout(30)})
	on10, on30 := 0, 0
	for i := 0; i < n; i++ {
		flat := openfeature.FlattenedContext{openfeature.TargetingKey: fmt.Sprintf("user-%d", i)}
		a := p10.BooleanEvaluation(ctx, "roll", false, flat)
		again := p10.BooleanEvaluation(ctx, "roll", false, flat)
		if a.Value != again.Value {
			t.Fatalf("user-%d not sticky", i)
		}
		if a.Reason != openfeature.TargetingMatchReason {
			t.Fatalf("reason %s", a.Reason)
		}
		b := p30.BooleanEvaluation(ctx, "roll", false, flat)
		if a.Value {
			on10++
			if !b.Value {
				t.Fatalf("user-%d was in the 10%% rollout but not in the 30%% one", i)
			}
		}
		if b.Value {
			on30++
		}
	}
	for _, c := range []struct{ got, want int }{{on10, 10}, {on30, 30}} {
		share := float64(c.got) / n * 100
		if math.Abs(share-float64(c.want)) > 2 {
			t.Fatalf("share %.2f%%, want %d%% +-2", share, c.want)
		}
	}
	// Without a targeting key there is no one to bucket: default variant.
	r := p10.BooleanEvaluation(ctx, "roll", true, openfeature.FlattenedContext{})
	if r.Value || r.Reason != openfeature.DefaultReason || r.Variant != "off" {
		t.Fatalf("%+v", r)
	}
}

// The same user lands differently on different flags (flag key is hashed in).
func TestFractionalUsesFlagKey(t *testing.T) {
	p := providerWith(t, map[string]string{"a": rollout(50), "b": rollout(50)})
	same := 0
	for i := 0; i < 1000; i++ {
		flat := openfeature.FlattenedContext{openfeature.TargetingKey: fmt.Sprintf("u%d", i)}
		if p.Evaluate("a", flat).Variant == p.Evaluate("b", flat).Variant {
			same++
		}
	}
	if same > 600 || same < 400 {
		t.Fatalf("flags are correlated: %d/1000 equal", same)
	}
}

func TestInvalidDefinitionsListEveryProblem(t *testing.T) {
	cases := []struct {
		name, raw string
		want      []string // substrings of "field: message"
	}{
		{"everything", `{"state":"ON","variants":{},"defaultVariant":"x"}`, []string{"state:", "variants: must name at least one", "defaultVariant: must name one"}},
		{"mixed types", `{"state":"ENABLED","variants":{"a":true,"b":"x"},"defaultVariant":"a"}`, []string{"variants: all variants must have the same type"}},
		{"null variant", `{"state":"ENABLED","variants":{"a":null},"defaultVariant":"a"}`, []string{"variants.a:"}},
		{"unknown operator", `{"state":"ENABLED","variants":{"a":true},"defaultVariant":"a","targeting":{"frobnicate":[1]}}`, []string{`unknown operator "frobnicate"`}},
		{"unknown variant in targeting", `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","targeting":{"if":[true,"maybe","off"]}}`, []string{`names variant "maybe"`}},
		{"unknown variant in fractional", `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","targeting":{"fractional":[["on",50],["of",50]]}}`, []string{`names variant "of"`}},
		{"bad weights", `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","targeting":{"fractional":[["on",-1]]}}`, []string{"weight"}},
		{"two keys", `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","targeting":{"==":[1,1],"!=":[1,2]}}`, []string{"exactly one operator"}},
		{"targeting not object", `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","targeting":"on"}`, []string{"targeting: must be a JSON Logic object"}},
		{"bad sem_ver op", `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","targeting":{"sem_ver":["1.0.0","=>","1.0.0"]}}`, []string{"sem_ver"}},
		{"metadata object", `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","metadata":{"x":{"y":1}}}`, []string{"metadata.x:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDefinition([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile("k", d)
			e := apperr.As(err)
			if err == nil || e.Kind != apperr.KindValidation {
				t.Fatalf("accepted or wrong kind: %v", err)
			}
			var all []string
			for _, f := range e.Fields {
				all = append(all, f.Field+": "+f.Message)
			}
			joined := strings.Join(all, "\n")
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Fatalf("problems %q do not mention %q", joined, w)
				}
			}
		})
	}
	// Unknown top-level fields are refused by the strict decoder.
	if _, err := ParseDefinition([]byte(`{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","extra":1}`)); apperr.KindOf(err) != apperr.KindInvalid {
		t.Fatalf("unknown field: %v", err)
	}
}

// FuzzDefinition: parsing and compiling never panic, and whatever compiles
// is really valid (every variant same kind, default exists) and evaluates
// without panicking.
func FuzzDefinition(f *testing.F) {
	for _, s := range []string{boolFlag, rollout(10),
		`{"state":"ENABLED","variants":{"a":"x","b":"y"},"defaultVariant":"a","targeting":{"if":[{"in":[{"var":"email"},["a","b"]]},"b",null]}}`,
		`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","targeting":{"sem_ver":[{"var":"v"},"^","1.0.0"]}}`,
		`{"state":"DISABLED","variants":{"n":1.5},"defaultVariant":"n","metadata":{"description":"d"}}`,
		`{"targeting":{"?:":[1]}}`, `{"variants":{"a":[1]},"defaultVariant":"a","state":"ENABLED","targeting":{"some":[[1],{"var":""}]}}`,
	} {
		f.Add([]byte(s), "u1")
	}
	f.Fuzz(func(t *testing.T, raw []byte, tk string) {
		d, err := ParseDefinition(raw)
		if err != nil {
			return
		}
		c, err := Compile("fuzz", d)
		if err != nil {
			if apperr.KindOf(err) != apperr.KindValidation {
				t.Fatalf("compile error of kind %d: %v", apperr.KindOf(err), err)
			}
			return
		}
		if d.State != StateEnabled && d.State != StateDisabled {
			t.Fatalf("accepted state %q", d.State)
		}
		if _, ok := c.values[d.DefaultVariant]; !ok {
			t.Fatalf("accepted missing default variant %q", d.DefaultVariant)
		}
		for _, v := range c.values {
			if kindOf(v) != c.kind {
				t.Fatalf("accepted mixed variant kinds")
			}
		}
		b, _ := json.Marshal(c.def)
		if _, err := ParseDefinition(b); err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		s := emptySnapshot()
		s.flags["fuzz"] = c
		s.evaluate("fuzz", map[string]any{"targetingKey": tk, "email": tk, "v": tk}, time.Now())
	})
}

// configs/flags.json is valid, and so is every registry default it does
// not override.
func TestRepoSeedFile(t *testing.T) {
	raw, err := os.ReadFile("../../configs/flags.json")
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParseFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	for k, d := range file.Flags {
		if _, err := Compile(k, d); err != nil {
			t.Fatalf("%s: %v %+v", k, err, apperr.As(err).Fields)
		}
	}
	for _, info := range Registered() {
		if info.Description == "" {
			t.Fatalf("%s undescribed", info.Key)
		}
		if _, err := Compile(info.Key, info.defaultDefinition()); err != nil {
			t.Fatalf("registry default of %s: %v", info.Key, err)
		}
	}
}
