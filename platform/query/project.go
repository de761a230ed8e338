package query

import "maps"

// Project shapes an already-built JSON object to the request's fieldset:
// the selected top-level fields, plus every included relation (which the
// client asked for explicitly), itself reduced to its selected nested
// fields. A relation value may be []map[string]any, []any of maps, or a
// single map[string]any; other values pass through untouched.
//
// Without a fieldset or nested restriction, full itself is returned (no
// copy), so the common case costs nothing; callers must not modify it.
func Project(full map[string]any, p Params) map[string]any {
	restricted := false
	for _, sub := range p.Nested {
		if sub != nil {
			restricted = true
			break
		}
	}
	if p.Fields == nil && !restricted {
		return full
	}
	var out map[string]any
	if p.Fields == nil {
		out = maps.Clone(full)
	} else {
		out = make(map[string]any, len(p.Fields)+len(p.Include))
		for _, f := range p.Fields {
			if v, ok := full[f]; ok {
				out[f] = v
			}
		}
	}
	for _, rel := range p.Include {
		v, ok := full[rel]
		if !ok {
			continue
		}
		if sub := p.Nested[rel]; sub != nil {
			v = projectValue(v, sub)
		}
		out[rel] = v
	}
	return out
}

func projectValue(v any, fields []string) any {
	switch v := v.(type) {
	case map[string]any:
		return pick(v, fields)
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, m := range v {
			out[i] = pick(m, fields)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			if m, ok := e.(map[string]any); ok {
				out[i] = pick(m, fields)
			} else {
				out[i] = e
			}
		}
		return out
	default:
		return v
	}
}

func pick(m map[string]any, fields []string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return out
}
