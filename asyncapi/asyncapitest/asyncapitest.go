// Package asyncapitest validates AsyncAPI documents against the official
// AsyncAPI 3.0.0 JSON Schema: schemas/3.0.0.json of the npm package
// @asyncapi/specs 6.11.1 (Apache-2.0, asyncapi-specs.LICENSE), embedded
// unchanged. It is for tests and CI jobs that check an application's
// contract; it adds some 400 KB to a binary, which is why it is not part
// of package asyncapi. To refresh the schema:
//
//	npm pack @asyncapi/specs@6 && tar xzf asyncapi-specs-*.tgz package/schemas/3.0.0.json
package asyncapitest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
)

//go:embed asyncapi-3.0.0.schema.json
var specSchema []byte

const specID = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	if err := c.AddResource(specID, bytes.NewReader(specSchema)); err != nil {
		return nil, err
	}
	return c.Compile(specID)
})

// Validate returns nil when doc is a valid AsyncAPI 3.0.0 document, and
// otherwise an error listing where it is not.
func Validate(doc *asyncapi.Document) error {
	b, err := doc.JSON()
	if err != nil {
		return err
	}
	return ValidateJSON(b)
}

// ValidateJSON is Validate for a document as JSON.
func ValidateJSON(document []byte) error {
	s, err := compiled()
	if err != nil {
		return fmt.Errorf("asyncapitest: the AsyncAPI 3.0.0 schema does not compile: %w", err)
	}
	var v any
	if err := json.Unmarshal(document, &v); err != nil {
		return fmt.Errorf("asyncapitest: the document is not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("asyncapitest: not a valid AsyncAPI 3.0.0 document: %#v", err)
	}
	return nil
}
