package query

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse validates a list request's query string against spec. Every
// parameter must be one of fields, include, sort, limit, cursor or a
// filter of the spec, and appear at most once: a typo must not silently
// return unfiltered data. Errors are *apperr.Error of KindInvalid naming the
// offending parameter or value.
func Parse(spec Spec, values url.Values) (Params, error) {
	if err := checkNames(spec, values, true); err != nil {
		return Params{}, err
	}
	p, err := parseShape(spec, values)
	if err != nil {
		return Params{}, err
	}
	if p.Sort, err = parseSort(spec, values); err != nil {
		return Params{}, err
	}
	if p.Limit, err = parseLimit(spec, values); err != nil {
		return Params{}, err
	}
	if raw, ok := get(values, ParamCursor); ok {
		if raw == "" {
			return Params{}, invalid(CodeCursor, "cursor must not be empty; omit it to start at the first page")
		}
		// Decoded later (DecodeCursor) because verifying needs the codec.
		p.Cursor = raw
	}
	if p.Filters, err = parseFilters(spec, values); err != nil {
		return Params{}, err
	}
	return p, nil
}

// ParseFields validates a single-resource request (GET by id): only fields
// and include are accepted there; anything else is a 400 naming it.
func ParseFields(spec Spec, values url.Values) (Params, error) {
	if err := checkNames(spec, values, false); err != nil {
		return Params{}, err
	}
	return parseShape(spec, values)
}

// checkNames rejects unknown and repeated parameters. When several are
// bad, the alphabetically first is reported so the answer is deterministic
// despite map iteration order (and without allocating to sort the keys).
func checkNames(spec Spec, values url.Values, list bool) error {
	var worst string
	var unknown, found bool
	for name, vs := range values {
		known := name == ParamFields || name == ParamInclude
		if list && !known {
			_, isFilter := spec.Filters[name]
			known = isFilter || name == ParamSort || name == ParamLimit || name == ParamCursor
		}
		if known && len(vs) <= 1 {
			continue
		}
		if !found || name < worst {
			worst, unknown, found = name, !known, true
		}
	}
	switch {
	case !found:
		return nil
	case unknown && !list:
		return invalid(CodeParameter, "query parameter %s is not supported when reading a single resource; only fields and include are",
			quote(worst))
	case unknown:
		return invalid(CodeParameter, "unknown query parameter %s; allowed: %s", quote(worst), allowedParams(spec))
	default:
		return invalid(CodeParameter, "query parameter %s is repeated; give it once", quote(worst))
	}
}

func allowedParams(spec Spec) string {
	names := slices.Sorted(maps.Keys(spec.Filters))
	return strings.Join(append(slices.Clone(reserved), names...), ", ")
}

// get returns the single value of a parameter (checkNames has ruled out
// repeats) and whether it was present.
func get(values url.Values, name string) (string, bool) {
	vs := values[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// nextItem pops the next trimmed entry of a comma list; more reports
// whether a comma followed it (so "a," yields a final empty entry).
func nextItem(list string) (item, rest string, more bool) {
	item, rest, more = strings.Cut(list, ",")
	return strings.TrimSpace(item), rest, more
}

// parseShape handles include and fields, the parameters shared by lists
// and single resources. include goes first: dotted fields depend on it.
func parseShape(spec Spec, values url.Values) (Params, error) {
	p := Params{Resource: spec.Resource, allFields: spec.Fields}
	if raw, ok := get(values, ParamInclude); ok {
		if err := p.parseInclude(spec, raw); err != nil {
			return Params{}, err
		}
	}
	if raw, ok := get(values, ParamFields); ok {
		if err := p.parseFields(spec, raw); err != nil {
			return Params{}, err
		}
	}
	return p, nil
}

func (p *Params) parseInclude(spec Spec, raw string) error {
	if strings.TrimSpace(raw) == "" {
		return invalid(CodeInclude, "include must not be empty; omit it or name a relation")
	}
	for rest, more := raw, true; more; {
		var name string
		name, rest, more = nextItem(rest)
		if name == "" {
			return invalid(CodeInclude, "include has an empty entry; separate names with single commas")
		}
		if _, ok := spec.Includes[name]; !ok {
			if len(spec.Includes) == 0 {
				return invalid(CodeInclude, "unknown include %s; %s has nothing to include", quote(name), spec.Resource)
			}
			return invalid(CodeInclude, "unknown include %s; allowed: %s", quote(name),
				strings.Join(slices.Sorted(maps.Keys(spec.Includes)), ", "))
		}
		if !slices.Contains(p.Include, name) {
			p.Include = append(p.Include, name)
		}
	}
	slices.Sort(p.Include)
	p.Nested = make(map[string][]string, len(p.Include))
	for _, name := range p.Include {
		p.Nested[name] = nil
	}
	return nil
}

func (p *Params) parseFields(spec Spec, raw string) error {
	if strings.TrimSpace(raw) == "" {
		return invalid(CodeFields, "fields must not be empty; omit it for all fields or list names separated by commas")
	}
	if len(raw) > MaxFieldsParam {
		return invalid(CodeFields, "fields must be at most %d characters", MaxFieldsParam)
	}
	// Mark selections by Spec index so Fields comes out in canonical Spec
	// order (equal fieldsets give equal cache keys) without a map. The
	// array stays on the stack for any realistic Spec.
	var small [64]bool
	var sel []bool
	if len(spec.Fields) <= len(small) {
		sel = small[:len(spec.Fields)]
	} else {
		sel = make([]bool, len(spec.Fields))
	}
	idOutside := !slices.Contains(spec.Fields, "id") // "id" is always selectable
	wantID := false
	var nested map[string][]string
	for rest, more := raw, true; more; {
		var name string
		name, rest, more = nextItem(rest)
		if name == "" {
			return invalid(CodeFields, "fields has an empty entry; separate names with single commas")
		}
		switch rel, sub, dotted := strings.Cut(name, "."); {
		case dotted:
			allowed, ok := spec.Includes[rel]
			if !ok || !slices.Contains(allowed, sub) {
				return p.unknownField(spec, name)
			}
			if !p.Includes(rel) {
				return invalid(CodeFields, "field %s in fields needs include=%s", quote(name), rel)
			}
			if nested == nil {
				nested = map[string][]string{}
			}
			if !slices.Contains(nested[rel], sub) {
				nested[rel] = append(nested[rel], sub)
			}
		default:
			if i := slices.Index(spec.Fields, name); i >= 0 {
				sel[i] = true
			} else if name == "id" && idOutside {
				wantID = true
			} else if _, ok := spec.Includes[name]; ok {
				// A bare relation name means "all of it"; it only makes
				// sense together with include.
				if !p.Includes(name) {
					return invalid(CodeFields, "field %s in fields needs include=%s", quote(name), name)
				}
			} else {
				return p.unknownField(spec, name)
			}
		}
	}
	n := 0
	for _, s := range sel {
		if s {
			n++
		}
	}
	if wantID {
		n++
	}
	p.Fields = make([]string, 0, n)
	if wantID {
		p.Fields = append(p.Fields, "id")
	}
	for i, s := range sel {
		if s {
			p.Fields = append(p.Fields, spec.Fields[i])
		}
	}
	for rel, subs := range nested {
		// Canonical nested order: the Spec's.
		ordered := make([]string, 0, len(subs))
		for _, f := range spec.Includes[rel] {
			if slices.Contains(subs, f) {
				ordered = append(ordered, f)
			}
		}
		p.Nested[rel] = ordered
	}
	return nil
}

func (p *Params) unknownField(spec Spec, name string) error {
	allowed := spec.Fields
	if !slices.Contains(allowed, "id") {
		allowed = append([]string{"id"}, allowed...)
	}
	list := strings.Join(allowed, ", ")
	for _, rel := range p.Include {
		list += ", " + rel + ".{" + strings.Join(spec.Includes[rel], ",") + "}"
	}
	return invalid(CodeFields, "unknown field %s in fields; allowed: %s", quote(name), list)
}

func parseSort(spec Spec, values url.Values) (Sort, error) {
	raw, ok := get(values, ParamSort)
	if !ok {
		return spec.defaultSort(), nil
	}
	v := strings.TrimSpace(raw)
	field, desc := strings.CutPrefix(v, "-")
	switch {
	case field == "":
		return Sort{}, invalid(CodeSort, "sort must name a field, e.g. sort=%s", sortExample(spec))
	case strings.Contains(field, ","):
		return Sort{}, invalid(CodeSort, "sort takes a single field (got %s); the id is always the tie-breaker", quote(raw))
	case !slices.Contains(spec.Sorts, field):
		if len(spec.Sorts) == 0 {
			return Sort{}, invalid(CodeSort, "unknown sort field %s; %s cannot be sorted", quote(field), spec.Resource)
		}
		return Sort{}, invalid(CodeSort, "unknown sort field %s; allowed: %s (prefix - for descending)",
			quote(field), strings.Join(spec.Sorts, ", "))
	}
	return Sort{Field: field, Desc: desc}, nil
}

func sortExample(spec Spec) string {
	if len(spec.Sorts) > 0 {
		return "-" + spec.Sorts[0]
	}
	return "-id"
}

func parseLimit(spec Spec, values url.Values) (int, error) {
	def, max := spec.limits()
	raw, ok := get(values, ParamLimit)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, invalid(CodeLimit, "limit must be an integer from 1 to %d, got %s", max, quote(raw))
	}
	return n, nil
}

// parseFilters types every present filter. If several are bad the
// alphabetically first is reported (deterministic despite map order).
func parseFilters(spec Spec, values url.Values) (map[string]any, error) {
	var out map[string]any
	var firstBad string
	var firstErr error
	for name, kind := range spec.Filters {
		raw, ok := get(values, name)
		if !ok {
			continue
		}
		v, err := parseFilter(name, kind, raw)
		if err != nil {
			if firstErr == nil || name < firstBad {
				firstBad, firstErr = name, err
			}
			continue
		}
		if out == nil {
			out = make(map[string]any, len(values))
		}
		out[name] = v
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func parseFilter(name string, kind FilterKind, raw string) (any, error) {
	switch kind {
	case FilterInt:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, invalid(CodeFilter, "filter %s must be a base-10 integer, got %s", name, quote(raw))
		}
		return n, nil
	case FilterNonNegInt:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return nil, invalid(CodeFilter, "filter %s must be a base-10 integer >= 0, got %s", name, quote(raw))
		}
		return n, nil
	case FilterBool:
		switch raw {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, invalid(CodeFilter, "filter %s must be true or false, got %s", name, quote(raw))
	case FilterID:
		if raw == "" || len(raw) > MaxIDFilter || !visibleASCII(raw) {
			return nil, invalid(CodeFilter, "filter %s must be an id of 1 to %d visible ASCII characters, got %s",
				name, MaxIDFilter, quote(raw))
		}
		return raw, nil
	default: // FilterString
		switch {
		case raw == "":
			return nil, invalid(CodeFilter, "filter %s must not be empty; omit it to match everything", name)
		case !utf8.ValidString(raw) || strings.IndexByte(raw, 0) >= 0:
			return nil, invalid(CodeFilter, "filter %s must be valid UTF-8 text without NUL characters", name)
		case utf8.RuneCountInString(raw) > MaxStringFilter:
			return nil, invalid(CodeFilter, "filter %s must be at most %d characters", name, MaxStringFilter)
		}
		return raw, nil
	}
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
