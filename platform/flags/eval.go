package flags

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/diegoholiveira/jsonlogic/v3"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/twmb/murmur3"
)

// flagd's custom JSON Logic operators.
const (
	opFractional = "fractional"
	opStartsWith = "starts_with"
	opEndsWith   = "ends_with"
	opSemVer     = "sem_ver"
)

// Keys of the evaluation data flagd adds for targeting rules.
const (
	flagdProperties = "$flagd"
	flagdFlagKey    = "flagKey"
	flagdTimestamp  = "timestamp"
)

func init() {
	// jsonlogic keeps custom operators in an unsynchronised package map:
	// register them once, before any evaluation can run.
	jsonlogic.AddOperator(opFractional, fractional)
	jsonlogic.AddOperator(opStartsWith, func(values, _ any) any { return stringOp(values, strings.HasPrefix) })
	jsonlogic.AddOperator(opEndsWith, func(values, _ any) any { return stringOp(values, strings.HasSuffix) })
	jsonlogic.AddOperator(opSemVer, semVer)
}

// Result is one evaluation, before it is typed for a caller.
type Result struct {
	Key     string
	Value   any // nil when the caller's default applies (disabled, error)
	Variant string
	Reason  openfeature.Reason
	// ErrorCode is set with Reason ERROR.
	ErrorCode    openfeature.ErrorCode
	ErrorMessage string
	Metadata     map[string]any
	kind         valueKind
}

func errorResult(key string, code openfeature.ErrorCode, format string, args ...any) Result {
	return Result{Key: key, Reason: openfeature.ErrorReason, ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...)}
}

// evaluate resolves flag key for the attributes of an evaluation context
// (targetingKey included), the way flagd does.
func (s *snapshot) evaluate(key string, attrs map[string]any, now time.Time) Result {
	f, ok := s.flags[key]
	if !ok {
		return errorResult(key, openfeature.FlagNotFoundCode, "flag %q not found", key)
	}
	r := Result{Key: key, Metadata: f.metadata, kind: f.kind}
	if f.def.State == StateDisabled {
		r.Reason = openfeature.DisabledReason
		return r
	}
	variant, reason := f.def.DefaultVariant, openfeature.StaticReason
	if f.rule != nil {
		out, err := applyRule(f.rule, evaluationData(key, attrs, now))
		if err != nil {
			r = errorResult(key, openfeature.ParseErrorCode, "targeting of %q failed: %v", key, err)
			r.Metadata = f.metadata
			return r
		}
		switch v := out.(type) {
		case nil:
			reason = openfeature.DefaultReason
		case string:
			if v == "" {
				reason = openfeature.DefaultReason
			} else {
				variant, reason = v, openfeature.TargetingMatchReason
			}
		case bool:
			variant, reason = strconv.FormatBool(v), openfeature.TargetingMatchReason
		default:
			r = errorResult(key, openfeature.ParseErrorCode, "targeting of %q returned %T, not a variant name", key, out)
			r.Metadata = f.metadata
			return r
		}
	}
	value, ok := f.values[variant]
	if !ok {
		r = errorResult(key, openfeature.ParseErrorCode, "targeting of %q returned variant %q, which does not exist", key, variant)
		r.Metadata = f.metadata
		return r
	}
	r.Value, r.Variant, r.Reason = value, variant, reason
	return r
}

// evaluationData is what a targeting rule sees: the context attributes,
// targetingKey and flagd's $flagd.flagKey / $flagd.timestamp.
func evaluationData(key string, attrs map[string]any, now time.Time) map[string]any {
	data := make(map[string]any, len(attrs)+1)
	for k, v := range attrs {
		data[k] = normalise(v)
	}
	data[flagdProperties] = map[string]any{flagdFlagKey: key, flagdTimestamp: float64(now.Unix())}
	return data
}

// normalise turns Go values from an evaluation context into the JSON types
// JSON Logic works with.
func normalise(v any) any {
	switch v := v.(type) {
	case nil, bool, string, float64, map[string]any, []any:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case uint:
		return float64(v)
	case uint64:
		return float64(v)
	case uint32:
		return float64(v)
	case float32:
		return float64(v)
	case json.Number:
		f, _ := v.Float64()
		return f
	case time.Time:
		return float64(v.Unix())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// applyRule runs a compiled rule. The rule is decoded afresh each time so
// no evaluation can see (or race with) another's working copy, and any
// panic inside the JSON Logic library becomes an error.
func applyRule(rule []byte, data map[string]any) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	var r any
	if err := json.Unmarshal(rule, &r); err != nil {
		return nil, err
	}
	return jsonlogic.ApplyInterface(r, data)
}

// fractional is flagd's percentage split: the bucketing value (by default
// $flagd.flagKey + targetingKey) is hashed with murmur3 (32 bit) into
// [0, total weight) and the bucket covering that point wins. The same user
// always lands on the same point, so a rollout is sticky, and raising the
// first bucket's weight only adds users to it.
func fractional(values, data any) any {
	args, ok := values.([]any)
	if !ok || len(args) == 0 {
		return nil
	}
	var bucketBy string
	if _, isBucket := args[0].([]any); isBucket {
		dm, _ := data.(map[string]any)
		tk, _ := dm[openfeature.TargetingKey].(string)
		if tk == "" {
			return nil // no one to bucket: the default variant applies
		}
		fk := ""
		if props, ok := dm[flagdProperties].(map[string]any); ok {
			fk, _ = props[flagdFlagKey].(string)
		}
		bucketBy = fk + tk
	} else {
		s, ok := args[0].(string)
		if !ok {
			return nil
		}
		bucketBy, args = s, args[1:]
	}
	type bucket struct {
		variant string
		weight  float64
	}
	buckets := make([]bucket, 0, len(args))
	total := 0.0
	for _, a := range args {
		b, ok := a.([]any)
		if !ok || len(b) == 0 {
			return nil
		}
		name, ok := b[0].(string)
		if !ok {
			return nil
		}
		w := 1.0
		if len(b) > 1 {
			if w, ok = b[1].(float64); !ok || w < 0 {
				return nil
			}
		}
		buckets = append(buckets, bucket{name, w})
		total += w
	}
	if total <= 0 {
		return nil
	}
	return pickBucket(bucketBy, total, func(i int) (string, float64, bool) {
		if i >= len(buckets) {
			return "", 0, false
		}
		return buckets[i].variant, buckets[i].weight, true
	})
}

// pickBucket maps the hash of value onto [0, total) like flagd does.
func pickBucket(value string, total float64, bucket func(int) (string, float64, bool)) any {
	h := int32(murmur3.StringSum32(value))
	ratio := math.Abs(float64(h)) / math.MaxInt32 // [0, 1] (1 only for MinInt32)
	point := ratio * total
	end := 0.0
	last := ""
	for i := 0; ; i++ {
		name, w, ok := bucket(i)
		if !ok {
			break
		}
		end += w
		last = name
		if point < end {
			return name
		}
	}
	return last
}

func stringOp(values any, f func(s, affix string) bool) any {
	a, ok := values.([]any)
	if !ok || len(a) != 2 {
		return false
	}
	s, ok1 := a[0].(string)
	affix, ok2 := a[1].(string)
	return ok1 && ok2 && f(s, affix)
}

var semverOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "^": true, "~": true}

// semVer is flagd's sem_ver: [version, operator, version] with = != < <= >
// >= and ^ (same major) ~ (same major and minor). Invalid input is false.
func semVer(values, _ any) any {
	a, ok := values.([]any)
	if !ok || len(a) != 3 {
		return false
	}
	op, ok := a[1].(string)
	if !ok {
		return false
	}
	l, ok1 := parseSemver(a[0])
	r, ok2 := parseSemver(a[2])
	if !ok1 || !ok2 {
		return false
	}
	c := compareSemver(l, r)
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "^":
		return l.core[0] == r.core[0]
	case "~":
		return l.core[0] == r.core[0] && l.core[1] == r.core[1]
	}
	return false
}

type semver struct {
	core [3]uint64
	pre  []string
}

func parseSemver(v any) (semver, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return semver{}, false
	}
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "v"), "V")
	s, _, _ = strings.Cut(s, "+") // build metadata does not order
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return semver{}, false
	}
	var out semver
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return semver{}, false
		}
		out.core[i] = n
	}
	if hasPre {
		if pre == "" {
			return semver{}, false
		}
		out.pre = strings.Split(pre, ".")
	}
	return out, true
}

func compareSemver(a, b semver) int {
	for i := range a.core {
		if a.core[i] != b.core[i] {
			if a.core[i] < b.core[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1 // a release ranks above its pre-releases
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, errX := strconv.ParseUint(x, 10, 64)
		yn, errY := strconv.ParseUint(y, 10, 64)
		switch {
		case errX == nil && errY == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case errX == nil:
			return -1 // numeric identifiers rank below alphanumeric ones
		case errY == nil:
			return 1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}
