// Package asyncapi describes a kafkaesk application as an AsyncAPI 3.0.0
// document: the contract of what flows through its topics, for other
// teams and for tools (code generators, schema registries, catalogues).
//
// The document comes from the application itself, since only the program
// knows its types: its registered schemas (id, version, JSON Schema,
// retention), what it declares it publishes (core.Produces), its
// subscriptions (consumer groups, streams and glob patterns) and its
// brokers (security without secrets). Every message is described in the
// kafkaesk envelope, {"schema": "Order:1", "data": {...}}, with its key
// and trace headers.
//
//	doc, err := asyncapi.Build(app, &asyncapi.Options{Title: "orders", Version: "1.4.0"})
//	b, _ := doc.JSON()                                  // or doc.YAML()
//	mux.Handle("/asyncapi/", asyncapi.Handler(doc))     // asyncapi.json, asyncapi.yaml, docs
//
// Output is deterministic (every object's keys sorted), so that a CI job
// can diff it.
package asyncapi

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Version is the AsyncAPI version of the documents.
const Version = "3.0.0"

// Options describes the application in the document's info object. The
// zero value is valid.
type Options struct {
	// Title of the application. Default: "kafkaesk application".
	Title string
	// Version of the application's API. Default: "1.0.0".
	Version string
	// Description, in CommonMark. Default: none.
	Description string
	// LogStreams are streams the application logs to through sloghandler:
	// each gets a channel carrying kafkaesk's log event
	// (PydanticLogModel:1), which a collector consumes. Default: none.
	LogStreams []string
}

// Document is an AsyncAPI 3.0.0 document. It is immutable.
type Document struct {
	tree map[string]any
}

// JSON returns the document as indented JSON, keys sorted.
func (d *Document) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.tree); err != nil {
		return nil, fmt.Errorf("asyncapi: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// YAML returns the document as YAML, keys sorted.
func (d *Document) YAML() ([]byte, error) {
	b, err := d.JSON()
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(b)
	if err != nil {
		return nil, fmt.Errorf("asyncapi: YAML: %w", err)
	}
	return y, nil
}

// Map returns a copy of the document as decoded JSON: maps, slices,
// strings, float64 numbers and booleans.
func (d *Document) Map() map[string]any {
	b, _ := d.JSON()
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
