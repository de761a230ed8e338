package flags

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/httpx"
)

// Definition is one flag in the flagd flag-definition format
// (https://flagd.dev/reference/flag-definitions/).
type Definition struct {
	State          string                     `json:"state"`
	Variants       map[string]json.RawMessage `json:"variants"`
	DefaultVariant string                     `json:"defaultVariant"`
	Targeting      json.RawMessage            `json:"targeting,omitempty"`
	Metadata       map[string]any             `json:"metadata,omitempty"`
}

// File is a flagd flag-definition file (configs/flags.json).
type File struct {
	Schema   string                `json:"$schema,omitempty"`
	Flags    map[string]Definition `json:"flags"`
	Metadata map[string]any        `json:"metadata,omitempty"`
}

// Limits keep a definition small enough to evaluate on every request.
const (
	maxVariants     = 100
	maxTargeting    = 64 << 10
	maxRuleDepth    = 32
	maxDescription  = 1000
	maxMetadataKeys = 32
)

// State values.
const (
	StateEnabled  = "ENABLED"
	StateDisabled = "DISABLED"
)

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,127}$`)

// ValidKey reports whether key is an acceptable flag key.
func ValidKey(key string) bool { return keyPattern.MatchString(key) }

// valueKind is the type all variants of a flag share.
type valueKind int

const (
	kindBool valueKind = iota + 1
	kindString
	kindNumber
	kindObject
)

func (k valueKind) String() string {
	switch k {
	case kindBool:
		return "boolean"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindObject:
		return "object"
	}
	return "unknown"
}

func kindOf(v any) valueKind {
	switch v.(type) {
	case bool:
		return kindBool
	case string:
		return kindString
	case float64:
		return kindNumber
	case map[string]any, []any:
		return kindObject
	}
	return 0
}

// declaredKind is the type the code reads key with: every flag of the
// Registry is boolean (Info.Default); 0 for flags the code does not read.
func declaredKind(key string) valueKind {
	if _, ok := Described(key); ok {
		return kindBool
	}
	return 0
}

// keepKind refuses c unless its variants have the type want (0: any type).
// A kill switch given string variants would otherwise evaluate to the
// caller's default in Bool while OFREP serves the strings.
func keepKind(c *compiled, want valueKind, whose string) error {
	if want == 0 || c.kind == want {
		return nil
	}
	return apperr.Validation(apperr.FieldError{Field: "variants",
		Message: fmt.Sprintf("must be %s values: a flag's variants keep its type (%s), found %s", want, whose, c.kind)})
}

// compiled is a validated flag ready to evaluate. It is immutable once built.
type compiled struct {
	key      string
	def      Definition
	kind     valueKind
	values   map[string]any // variant -> decoded value
	rule     []byte         // compacted targeting; nil without targeting
	metadata map[string]any // flag metadata (string, number, bool values)
}

// ParseDefinition strictly decodes one flag definition: unknown fields,
// trailing data and wrong JSON types are a 400-class error.
func ParseDefinition(raw []byte) (Definition, error) {
	var d Definition
	if err := httpx.DecodeJSON(raw, &d); err != nil {
		return Definition{}, err
	}
	return d, nil
}

// ParseFile strictly decodes a flagd flag-definition file.
func ParseFile(raw []byte) (File, error) {
	var f File
	if err := httpx.DecodeJSON(raw, &f); err != nil {
		return File{}, err
	}
	if f.Flags == nil {
		return File{}, apperr.Invalid("flags.file", `flag file has no "flags" object`)
	}
	return f, nil
}

// Compile validates d as the definition of key and returns it ready to
// evaluate, or a KindValidation *apperr.Error listing every problem.
func Compile(key string, d Definition) (*compiled, error) {
	var errs []apperr.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !ValidKey(key) {
		bad("key", "must be 1-128 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	if d.State != StateEnabled && d.State != StateDisabled {
		bad("state", "must be one of: ENABLED, DISABLED")
	}
	c := &compiled{key: key, def: d, values: make(map[string]any, len(d.Variants))}
	switch {
	case len(d.Variants) == 0:
		bad("variants", "must name at least one variant")
	case len(d.Variants) > maxVariants:
		bad("variants", "must have at most %d variants", maxVariants)
	}
	kinds := map[valueKind][]string{}
	for _, name := range slices.Sorted(maps.Keys(d.Variants)) {
		field := "variants." + name
		if name == "" || len(name) > 64 {
			bad("variants", "variant names must be 1-64 characters")
			continue
		}
		var v any
		if err := json.Unmarshal(d.Variants[name], &v); err != nil {
			bad(field, "is not valid JSON")
			continue
		}
		k := kindOf(v)
		if k == 0 {
			bad(field, "must be a boolean, string, number or object (null is not a value)")
			continue
		}
		kinds[k] = append(kinds[k], name)
		c.values[name] = v
	}
	if len(kinds) > 1 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			parts = append(parts, fmt.Sprintf("%s (%s)", k, strings.Join(kinds[k], ", ")))
			c.kind = k
		}
		bad("variants", "all variants must have the same type; found %s", strings.Join(parts, " and "))
	} else {
		for k := range kinds {
			c.kind = k
		}
	}
	switch {
	case d.DefaultVariant == "":
		bad("defaultVariant", "is required")
	case d.Variants != nil && d.Variants[d.DefaultVariant] == nil:
		bad("defaultVariant", "must name one of the variants (%s)", strings.Join(slices.Sorted(maps.Keys(d.Variants)), ", "))
	}
	if t := bytes.TrimSpace(d.Targeting); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if len(t) > maxTargeting {
			bad("targeting", "must be at most %d bytes", maxTargeting)
		} else {
			var rule any
			if err := json.Unmarshal(t, &rule); err != nil {
				bad("targeting", "is not valid JSON")
			} else if m, ok := rule.(map[string]any); !ok {
				bad("targeting", "must be a JSON Logic object")
			} else if len(m) > 0 {
				for _, p := range checkRule(rule, 0) {
					bad("targeting", "%s", p)
				}
				for _, name := range returnedNames(rule) {
					if _, ok := d.Variants[name]; !ok {
						bad("targeting", "names variant %q, which is not one of the variants", name)
					}
				}
				var buf bytes.Buffer
				_ = json.Compact(&buf, t)
				c.rule = buf.Bytes()
			}
		}
	}
	c.metadata = map[string]any{}
	if len(d.Metadata) > maxMetadataKeys {
		bad("metadata", "must have at most %d entries", maxMetadataKeys)
	}
	for _, k := range slices.Sorted(maps.Keys(d.Metadata)) {
		v := d.Metadata[k]
		switch v := v.(type) {
		case string:
			if k == "description" && len(v) > maxDescription {
				bad("metadata.description", "must be at most %d characters", maxDescription)
			}
		case bool, float64:
			if k == "description" {
				bad("metadata.description", "must be a string")
				continue
			}
		default:
			bad("metadata."+k, "must be a string, number or boolean")
			continue
		}
		if k == "" {
			bad("metadata", "keys must not be empty")
			continue
		}
		c.metadata[k] = v
	}
	if len(errs) > 0 {
		return nil, apperr.Validation(errs...)
	}
	return c, nil
}

// operators lists every JSON Logic operator a rule may use: the standard
// set of github.com/diegoholiveira/jsonlogic plus flagd's custom ones.
var operators = map[string]bool{
	"==": true, "===": true, "!=": true, "!==": true, ">": true, ">=": true, "<": true, "<=": true,
	"!": true, "!!": true, "or": true, "and": true, "?:": true, "if": true, "in": true, "in_sorted": true,
	"cat": true, "substr": true, "%": true, "abs": true, "max": true, "min": true,
	"+": true, "-": true, "*": true, "/": true, "merge": true, "missing": true, "missing_some": true,
	"some": true, "all": true, "none": true, "filter": true, "map": true, "reduce": true, "var": true,
	opFractional: true, opStartsWith: true, opEndsWith: true, opSemVer: true,
}

// checkRule walks a JSON Logic rule and returns what is wrong with it:
// unknown operators, objects that are not single-operator rules, malformed
// flagd operators.
func checkRule(rule any, depth int) []string {
	if depth > maxRuleDepth {
		return []string{fmt.Sprintf("is nested more than %d levels deep", maxRuleDepth)}
	}
	switch r := rule.(type) {
	case []any:
		var out []string
		for _, v := range r {
			out = append(out, checkRule(v, depth+1)...)
		}
		return out
	case map[string]any:
		if len(r) != 1 {
			return []string{fmt.Sprintf("every JSON Logic rule is an object with exactly one operator, found one with %d keys", len(r))}
		}
		for op, args := range r {
			if !operators[op] {
				return []string{fmt.Sprintf("uses unknown operator %q", op)}
			}
			var out []string
			switch op {
			case "var":
				return nil // a path or [path, default]: nothing to check
			case opFractional:
				out = append(out, checkFractional(args)...)
			case opSemVer:
				if a, ok := args.([]any); !ok || len(a) != 3 {
					out = append(out, `"sem_ver" takes [version, operator, version]`)
				} else if s, ok := a[1].(string); ok && !semverOps[s] {
					out = append(out, fmt.Sprintf(`"sem_ver" operator %q is not one of =, !=, <, <=, >, >=, ^, ~`, s))
				}
			case opStartsWith, opEndsWith:
				if a, ok := args.([]any); !ok || len(a) != 2 {
					out = append(out, fmt.Sprintf("%q takes two arguments", op))
				}
			case "if", "?:":
				if a, ok := args.([]any); !ok || len(a) < 2 {
					out = append(out, fmt.Sprintf("%q takes [condition, then, ...else]", op))
				}
			}
			return append(out, checkRule(args, depth+1)...)
		}
	}
	return nil
}

// checkFractional validates flagd's fractional arguments: an optional
// bucketing expression, then buckets [variant, weight] (weight >= 0,
// default 1) with a positive total.
func checkFractional(args any) []string {
	a, ok := args.([]any)
	if !ok || len(a) == 0 {
		return []string{`"fractional" takes an optional bucketing value and at least one [variant, weight] bucket`}
	}
	if _, isBucket := a[0].([]any); !isBucket {
		a = a[1:]
	}
	if len(a) == 0 {
		return []string{`"fractional" needs at least one [variant, weight] bucket`}
	}
	var out []string
	total := 0.0
	for i, b := range a {
		bucket, ok := b.([]any)
		if !ok || len(bucket) < 1 || len(bucket) > 2 {
			out = append(out, fmt.Sprintf(`"fractional" bucket %d must be [variant, weight]`, i+1))
			continue
		}
		if _, ok := bucket[0].(string); !ok {
			out = append(out, fmt.Sprintf(`"fractional" bucket %d must start with a variant name`, i+1))
		}
		w := 1.0
		if len(bucket) == 2 {
			f, ok := bucket[1].(float64)
			if !ok || f < 0 || f != float64(int64(f)) {
				out = append(out, fmt.Sprintf(`"fractional" bucket %d weight must be a non-negative integer`, i+1))
				continue
			}
			w = f
		}
		total += w
	}
	if len(out) == 0 && total <= 0 {
		out = append(out, `"fractional" weights must add up to more than 0`)
	}
	return out
}

// returnedNames lists the variant names a rule can return that are known
// without evaluating it: string results of if/?: branches and fractional
// buckets, and booleans (flagd maps true/false results to the variants
// "true" and "false").
func returnedNames(rule any) []string {
	switch r := rule.(type) {
	case string:
		return []string{r}
	case bool:
		if r {
			return []string{"true"}
		}
		return []string{"false"}
	case map[string]any:
		for op, args := range r {
			a, _ := args.([]any)
			switch op {
			case "if", "?:":
				var out []string
				for i := 1; i < len(a); i += 2 {
					out = append(out, returnedNames(a[i])...)
				}
				if len(a) > 2 && len(a)%2 == 1 {
					out = append(out, returnedNames(a[len(a)-1])...)
				}
				return out
			case opFractional:
				var out []string
				for _, b := range a {
					if bucket, ok := b.([]any); ok && len(bucket) > 0 {
						if s, ok := bucket[0].(string); ok {
							out = append(out, s)
						}
					}
				}
				return out
			}
		}
	}
	return nil
}

// readOnlyMetadata are metadata entries the server owns: a client may PUT
// back what it read, and these are dropped from it.
var readOnlyMetadata = []string{"updated_at", "updated_by", "version"}

// Prepare validates d as a new definition of key, without the metadata
// entries the server owns, and returns what is to be fitted (Fit) to the
// stored flag, or a KindValidation *apperr.Error listing every problem.
func Prepare(key string, d Definition) (Definition, error) {
	if d.Metadata != nil {
		md := maps.Clone(d.Metadata)
		for _, k := range readOnlyMetadata {
			delete(md, k)
		}
		d.Metadata = md
	}
	if _, err := Compile(key, d); err != nil {
		return Definition{}, err
	}
	return d, nil
}

// Fit fits the prepared definition d of key to the stored flag (nil when
// there is none) and returns the definition to store: it keeps the stored
// metadata when d has none, and refuses variants of another type than the
// flag's: the registry's declared type first (so a registered flag stored
// with a wrong type can be repaired), else the stored definition's.
func Fit(key string, d Definition, stored *Stored) (Definition, error) {
	comp, err := Compile(key, d)
	if err != nil {
		return Definition{}, err
	}
	want, whose := declaredKind(key), "declared boolean"
	var old *compiled
	if stored != nil {
		if sd, err := ParseDefinition([]byte(stored.Definition)); err == nil {
			old, _ = Compile(key, sd) // nil when hand-edited into something invalid
		}
	}
	if old != nil {
		if want == 0 {
			want, whose = old.kind, "currently "+old.kind.String()
		}
		if comp.def.Metadata == nil && len(old.def.Metadata) > 0 {
			d := comp.def
			d.Metadata = old.def.Metadata
			if comp, err = Compile(key, d); err != nil {
				return Definition{}, err
			}
		}
	}
	if err := keepKind(comp, want, whose); err != nil {
		return Definition{}, err
	}
	return comp.def, nil
}
