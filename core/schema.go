package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v5"
)

// Schema is a registered data schema: an id and version, the Go type whose
// values it describes, and the JSON Schema generated from that type.
// A Schema is immutable and safe for concurrent use.
type Schema struct {
	// ID names the schema; the envelope carries "ID:Version".
	ID string
	// Version of the schema. Default: 1.
	Version int
	// Retention sets retention.ms of topics created for this schema;
	// zero leaves the broker's default.
	Retention time.Duration
	// Streams are created when the application starts.
	Streams []string

	key      string
	goType   reflect.Type // nil for schemas compiled from a document
	document []byte       // the JSON Schema, compact
	compiled *validator.Schema
	// consumed is compiled without the document's "additionalProperties":
	// false: what consuming validates with (see ValidateConsumed).
	consumed *validator.Schema
	// fast and fastConsumed check the common case before compiled and
	// consumed (schema_fast.go); nil when the documents use more than the
	// fast check knows.
	fast, fastConsumed *fastSchema
	// byConstruction is true when every value of goType, encoded by
	// encoding/json, is known to validate; Publish then skips the
	// validator. See validByConstruction.
	byConstruction bool
}

// SchemaOptions configures a registration. The zero value registers the
// type under its own name, version 1.
type SchemaOptions struct {
	// ID of the schema. Default: the Go type's name, as kafkaesk uses the
	// class name.
	ID string
	// Version of the schema. Default: 1.
	Version int
	// Retention of topics created for this schema. Default: the broker's.
	Retention time.Duration
	// Streams to create when the application starts.
	Streams []string
}

// Key returns "ID:Version", the string the envelope carries.
func (s *Schema) Key() string { return s.key }

// Type returns the Go type the schema was generated from, or nil for a
// schema compiled from a JSON document.
func (s *Schema) Type() reflect.Type { return s.goType }

// JSONSchema returns the JSON Schema document. The caller must not modify it.
func (s *Schema) JSONSchema() []byte { return s.document }

func (s *Schema) String() string { return "<Schema " + s.key + " " + s.describe() + ">" }

func (s *Schema) describe() string {
	if s.goType == nil {
		return "a JSON document"
	}
	return "type " + typeName(s.goType)
}

// Validate checks JSON-encoded data against the schema and returns a
// *ValidationError naming every failing field.
func (s *Schema) Validate(data []byte) error { return s.validate(s.compiled, s.fast, data) }

// ValidateConsumed checks consumed data against the schema as Validate
// does, except that objects may have fields the schema does not know: a
// producer whose model gained a field (a newer deploy, a Python service
// whose pydantic model changed) is read, as pydantic and encoding/json
// read it, and the unknown fields are ignored. Subscriptions validate
// with it; Publish with Validate.
func (s *Schema) ValidateConsumed(data []byte) error {
	return s.validate(s.consumed, s.fastConsumed, data)
}

// validate checks data with fast, then, unless fast is sure that data is
// valid, with compiled, which gives the verdict and the problems.
func (s *Schema) validate(compiled *validator.Schema, fast *fastSchema, data []byte) error {
	if compiled == nil || fast != nil && fast.valid(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep integers exact for minimum/maximum
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, next := dec.Token(); next != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		return &ValidationError{Schema: s.key, Problems: []FieldProblem{{Reason: "not JSON: " + err.Error()}}, Err: err}
	}
	if err := compiled.Validate(v); err != nil {
		return newValidationError(s.key, err)
	}
	return nil
}

// NewSchema builds the schema of T without registering it: a JSON Schema
// generated with invopop/jsonschema, compiled once. Nil pointers, slices
// and maps are allowed to be null, since encoding/json writes them so.
func NewSchema[T any](opts *SchemaOptions) (*Schema, error) {
	var o SchemaOptions
	if opts != nil {
		o = *opts
	}
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if o.ID == "" {
		o.ID = t.Name()
	}
	if o.ID == "" {
		return nil, fmt.Errorf("kafkaesk: type %s has no name: give SchemaOptions.ID", t)
	}
	if err := checkObjectType(t); err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s: %w", o.ID, err)
	}
	if err := checkFields(t, map[reflect.Type]bool{}); err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s: %w", o.ID, err)
	}
	if o.Version == 0 {
		o.Version = 1
	}
	doc, err := generateJSONSchema(t)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s for type %s: %w", o.ID, typeName(t), err)
	}
	s, err := compileSchema(o, doc)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s for type %s: %w", o.ID, typeName(t), err)
	}
	s.goType = t
	s.byConstruction = validByConstruction(t, map[reflect.Type]bool{})
	return s, nil
}

// CompileSchema builds a schema from a JSON Schema document rather than a Go
// type, for data that arrives as JSON (a command line, a file).
func CompileSchema(opts SchemaOptions, document []byte) (*Schema, error) {
	if opts.ID == "" {
		return nil, errors.New("kafkaesk: CompileSchema: SchemaOptions.ID is empty")
	}
	if opts.Version == 0 {
		opts.Version = 1
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, document); err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s: document is not JSON: %w", opts.ID, err)
	}
	s, err := compileSchema(opts, compact.Bytes())
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: schema %s: %w", opts.ID, err)
	}
	return s, nil
}

// Register generates the schema of T and registers it on r (a *Router or
// an *Application). Registering the same schema twice is allowed; the same
// id and version with a different JSON schema, or the same type under a
// second key, is a *SchemaConflictError.
func Register[T any](r Registrar, opts *SchemaOptions) (*Schema, error) {
	s, err := NewSchema[T](opts)
	if err != nil {
		return nil, err
	}
	return r.registry().addSchema(s)
}

// MustRegister is Register for package initialisation, tests and
// examples: it panics on error.
func MustRegister[T any](r Registrar, opts *SchemaOptions) *Schema {
	s, err := Register[T](r, opts)
	if err != nil {
		panic(err)
	}
	return s
}

func compileSchema(o SchemaOptions, doc []byte) (*Schema, error) {
	if o.Version < 1 {
		return nil, fmt.Errorf("version %d is less than allowed 1", o.Version)
	}
	if strings.Contains(o.ID, ":") {
		return nil, fmt.Errorf("id %q contains ':', which separates id and version", o.ID)
	}
	if !utf8.ValidString(o.ID) || strings.ContainsFunc(o.ID, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
		return nil, fmt.Errorf("id %q contains a character the envelope would have to escape", o.ID)
	}
	if o.Retention < 0 {
		return nil, fmt.Errorf("retention %v is negative", o.Retention)
	}
	key := o.ID + ":" + strconv.Itoa(o.Version)
	compiled, err := compileDocument(doc)
	if err != nil {
		return nil, err
	}
	consumed := compiled
	fast := newFastSchema(doc)
	fastConsumed := fast
	if open, changed := withoutClosedObjects(doc); changed {
		if consumed, err = compileDocument(open); err != nil {
			return nil, err
		}
		fastConsumed = newFastSchema(open)
	}
	return &Schema{
		ID:           o.ID,
		Version:      o.Version,
		Retention:    o.Retention,
		Streams:      slices.Clone(o.Streams),
		key:          key,
		document:     doc,
		compiled:     compiled,
		consumed:     consumed,
		fast:         fast,
		fastConsumed: fastConsumed,
	}, nil
}

// compileDocument compiles a JSON Schema document.
func compileDocument(doc []byte) (*validator.Schema, error) {
	c := validator.NewCompiler()
	const url = "kafkaesk:///schema.json" // one document per compiler; the id may hold any character
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, fmt.Errorf("load JSON schema: %w", err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile JSON schema: %w", err)
	}
	return compiled, nil
}

// withoutClosedObjects returns doc with every "additionalProperties":
// false removed, and whether there was one. A document that does not
// parse is returned as it is (compiling it reports why).
func withoutClosedObjects(doc []byte) ([]byte, bool) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return doc, false
	}
	var changed bool
	var open func(v any)
	open = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ap, ok := v["additionalProperties"].(bool); ok && !ap {
				delete(v, "additionalProperties")
				changed = true
			}
			for _, x := range v {
				open(x)
			}
		case []any:
			for _, x := range v {
				open(x)
			}
		}
	}
	open(v)
	if !changed {
		return doc, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return doc, false
	}
	return out, true
}

// adHocSchema is the schema of an unregistered type: published as
// "TypeName:1", as kafkaesk does, and not validated.
func adHocSchema(t reflect.Type) (*Schema, error) {
	if t.Name() == "" {
		return nil, fmt.Errorf("kafkaesk: cannot publish a value of unnamed type %s: register it with a SchemaOptions.ID", t)
	}
	if err := checkObjectType(t); err != nil {
		return nil, fmt.Errorf("kafkaesk: cannot publish: %w", err)
	}
	return &Schema{ID: t.Name(), Version: 1, key: t.Name() + ":1", goType: t, byConstruction: true}, nil
}

// checkObjectType accepts types that encode as a JSON object, as the
// envelope's data always is (kafkaesk's models are pydantic classes).
func checkObjectType(t reflect.Type) error {
	if t.Kind() == reflect.Struct || t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
		return nil
	}
	return fmt.Errorf("type %s is a %s; data must encode as a JSON object: use a struct", typeName(t), t.Kind())
}

func generateJSONSchema(t reflect.Type) (doc []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // invopop panics on chan, func, complex, uintptr
			err = fmt.Errorf("cannot describe type %s: %v", typeName(t), p)
		}
	}()
	root := reflector().ReflectFromType(t)
	allowNil(root, t, root.Definitions, map[*jsonschema.Schema]bool{})
	return json.Marshal(root)
}

func newValidationError(key string, err error) error {
	var ve *validator.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Schema: key, Problems: []FieldProblem{{Reason: err.Error()}}, Err: err}
	}
	var problems []FieldProblem
	var leaves func(e *validator.ValidationError)
	leaves = func(e *validator.ValidationError) {
		if len(e.Causes) == 0 {
			problems = append(problems, FieldProblem{Field: e.InstanceLocation, Reason: e.Message})
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	// A nullable value that fails reports both branches of its anyOf; the
	// "expected null" branch only restates that it is not null, when the
	// real problem is at the value or inside it.
	problems = slices.DeleteFunc(problems, func(p FieldProblem) bool {
		if !strings.HasPrefix(p.Reason, "expected null") {
			return false
		}
		return slices.ContainsFunc(problems, func(q FieldProblem) bool {
			within := q.Field == p.Field || strings.HasPrefix(q.Field, p.Field+"/")
			return within && !strings.HasPrefix(q.Reason, "expected null")
		})
	})
	// The validator walks maps; sort so that the same data always reports
	// the same way.
	slices.SortStableFunc(problems, func(a, b FieldProblem) int { return strings.Compare(a.Field, b.Field) })
	return &ValidationError{Schema: key, Problems: problems, Err: err}
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "<nil>"
	}
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}
