// Package web holds the static files the service serves: the OpenAPI
// document (the API's source of truth), the API reference page (docs/,
// served at /docs) and the operator console (admin/, served at /admin/).
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml docs admin
var files embed.FS

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: embedded file missing: " + name) // impossible: checked by go:embed at build time
	}
	return b
}

// OpenAPIYAML returns the OpenAPI 3.1 document as written.
func OpenAPIYAML() []byte { return mustRead("openapi.yaml") }

// DocsHTML returns the API reference page (its script renders /openapi.json).
func DocsHTML() []byte { return mustRead("docs/index.html") }

var openAPIJSON = sync.OnceValues(func() ([]byte, error) { return YAMLToJSON(OpenAPIYAML()) })

// OpenAPIJSON returns the OpenAPI document converted to JSON, keeping the
// key order of the YAML (so paths and tags read in the same order). It
// panics if the embedded document is not valid YAML, which the package's
// tests rule out.
func OpenAPIJSON() []byte {
	b, err := openAPIJSON()
	if err != nil {
		panic(err)
	}
	return b
}

// YAMLToJSON converts one YAML document to compact JSON, preserving mapping
// key order. Mapping keys become strings.
func YAMLToJSON(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("web: parse yaml: %w", err)
	}
	if doc.Kind == 0 { // empty input
		return []byte("null"), nil
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("web: line %d: unsupported yaml node kind %d", n.Line, n.Kind)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("web: line %d: %w", n.Line, err)
		}
		if f, ok := v.(float64); ok {
			// JSON has no NaN or infinities; keep them as strings.
			b, err := json.Marshal(f)
			if err != nil {
				b = []byte(strconv.Quote(n.Value))
			}
			buf.Write(b)
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("web: line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	default:
		b, _ := json.Marshal(n.Value)
		buf.Write(b)
		return nil
	}
}
