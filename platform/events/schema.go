package events

import (
	"bytes"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ValidatePayload checks payload against a JSON Schema document (any draft
// the library knows; 2020-12 by default). Tests of each event type use it
// to pin the documented payload shape.
func ValidatePayload(schemaJSON []byte, payload []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return fmt.Errorf("events: schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		return fmt.Errorf("events: schema: %w", err)
	}
	sch, err := c.Compile("event.schema.json")
	if err != nil {
		return fmt.Errorf("events: schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("events: payload is not JSON: %w", err)
	}
	return sch.Validate(inst)
}
