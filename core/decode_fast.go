package core

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
)

// The fast decoder. A typed subscription spends most of its time decoding
// envelopes, and a general JSON library pays on every message for what a
// plan built once per type knows already: which fields there are, where
// they are, of what kind. A fastDecoder walks the message once with
// jsonscan (which validates it as encoding/json does) and writes each
// field in place.
//
// It is one-sided, as the fast schema check: it decodes the messages it
// is sure of exactly as encoding/json would, and gives up on anything
// else (a syntax error, a value of the wrong type, a number out of range,
// a key matching a field only case-insensitively, "data" given twice or
// null, ...). The caller then zeroes the value and decodes the message as
// before, which gives the result or the error. FuzzDecodeEnvelope checks
// that both ways always agree with encoding/json.
//
// Types holding anything else than booleans, numbers, strings, structs,
// pointers and slices of these, and types implementing
// json.Unmarshaler (called as encoding/json calls it), get no fast
// decoder: maps, interfaces, arrays, []byte (base64), embedded structs,
// ",string" fields, encoding.TextUnmarshaler, json.Number.

// fastDecoder decodes envelopes of one struct type. It is safe for
// concurrent use.
type fastDecoder struct {
	plan *structPlan
	// schema is the last "schema" decoded, reused while messages carry the
	// same one, so that most messages allocate no string for it.
	schema atomic.Pointer[string]
}

// fieldOp decodes v, one well-formed JSON value, into the value at p,
// with strings from a; false means unsure.
type fieldOp func(a *strArena, p unsafe.Pointer, v []byte) bool

type structPlan struct {
	byName map[string]int
	fields []planField
}

type planField struct {
	name   []byte
	offset uintptr
	op     fieldOp
	// str: a plain string field; sub: a struct field's plan. Both are
	// decoded from the scanner, without reading the value twice.
	str bool
	sub *structPlan
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
)

// newFastDecoder returns the fast decoder of struct type t, or nil when t
// holds something it does not decode.
func newFastDecoder(t reflect.Type) *fastDecoder {
	if t.Kind() != reflect.Struct {
		return nil
	}
	b := planBuilder{structs: map[reflect.Type]*structPlan{}}
	plan := b.structPlan(t)
	if plan == nil {
		return nil
	}
	return &fastDecoder{plan: plan}
}

type planBuilder struct {
	structs map[reflect.Type]*structPlan // built or being built
}

// op returns the fieldOp of type t, or nil.
func (b *planBuilder) op(t reflect.Type) fieldOp {
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) && t.Kind() != reflect.Pointer {
		return func(_ *strArena, p unsafe.Pointer, v []byte) bool {
			return reflect.NewAt(t, p).Interface().(json.Unmarshaler).UnmarshalJSON(v) == nil
		}
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || t == jsonNumberType {
		return nil // json.Number takes numbers, and only numbers' text
	}
	switch t.Kind() {
	case reflect.String:
		return decodeString
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intOp(t)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintOp(t)
	case reflect.Float32:
		return decodeFloat32
	case reflect.Float64:
		return decodeFloat64
	case reflect.Pointer:
		return b.pointerOp(t)
	case reflect.Slice:
		return b.sliceOp(t)
	case reflect.Struct:
		plan := b.structPlan(t)
		if plan == nil {
			return nil
		}
		return func(a *strArena, p unsafe.Pointer, v []byte) bool {
			switch v[0] {
			case '{':
				return a.reread(v) && plan.decode(a, p, v)
			case 'n':
				return true
			}
			return false
		}
	}
	return nil
}

// structPlan returns the plan of struct type t, or nil.
func (b *planBuilder) structPlan(t reflect.Type) *structPlan {
	if plan, ok := b.structs[t]; ok {
		return plan // complete, or being built higher up: filled in by then
	}
	plan := &structPlan{byName: map[string]int{}}
	b.structs[t] = plan
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return b.fail(t)
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts != "" && strings.Contains(","+opts+",", ",string,") {
			return b.fail(t)
		}
		if !isValidTag(name) {
			name = f.Name
		}
		if _, dup := plan.byName[name]; dup || !isASCII(name) {
			return b.fail(t)
		}
		op := b.op(f.Type)
		if op == nil {
			return b.fail(t)
		}
		pf := planField{name: []byte(name), offset: f.Offset, op: op}
		if !reflect.PointerTo(f.Type).Implements(jsonUnmarshalerType) {
			pf.str = f.Type.Kind() == reflect.String
			if f.Type.Kind() == reflect.Struct {
				pf.sub = b.structs[f.Type]
			}
		}
		plan.byName[name] = len(plan.fields)
		plan.fields = append(plan.fields, pf)
	}
	return plan
}

// fail marks t as not decodable: a plan that refers to it, built while it
// was, has to go too, so the whole builder fails.
func (b *planBuilder) fail(t reflect.Type) *structPlan {
	for k := range b.structs {
		b.structs[k] = nil
	}
	b.structs[t] = nil
	return nil
}

func (b *planBuilder) pointerOp(t reflect.Type) fieldOp {
	elem := t.Elem()
	op := b.op(elem)
	if op == nil {
		return nil
	}
	return func(a *strArena, p unsafe.Pointer, v []byte) bool {
		ptr := (*unsafe.Pointer)(p)
		if v[0] == 'n' {
			*ptr = nil
			return true
		}
		if *ptr == nil {
			*ptr = reflect.New(elem).UnsafePointer()
		}
		return op(a, *ptr, v)
	}
}

func (b *planBuilder) sliceOp(t reflect.Type) fieldOp {
	elem := t.Elem()
	if elem.Kind() == reflect.Uint8 {
		return nil // []byte is base64, and its kin too
	}
	op := b.op(elem)
	if op == nil {
		return nil
	}
	if elem.Kind() == reflect.String && !reflect.PointerTo(elem).Implements(jsonUnmarshalerType) {
		return decodeStrings
	}
	size := elem.Size()
	return func(a *strArena, p unsafe.Pointer, v []byte) bool {
		s := reflect.NewAt(t, p).Elem()
		if v[0] == 'n' {
			s.SetZero()
			return true
		}
		if v[0] != '[' || !s.IsNil() || !a.reread(v) || !a.reread(v) {
			return false // a slice already there is reused by encoding/json
		}
		n := countElements(v)
		s.Set(reflect.MakeSlice(t, n, n))
		base := s.UnsafePointer()
		i := 0
		for x := range elements(v) {
			if !op(a, unsafe.Add(base, uintptr(i)*size), x) {
				return false
			}
			i++
		}
		return true
	}
}

// decode decodes v, a well-formed JSON object, into the struct at p.
func (plan *structPlan) decode(a *strArena, p unsafe.Pointer, v []byte) bool {
	s := jsonscan.New(v)
	return plan.scan(a, &s, p)
}

// scan decodes the object at s into the struct at p.
func (plan *structPlan) scan(a *strArena, s *jsonscan.Scanner, p unsafe.Pointer) bool {
	if !s.Object() {
		return false
	}
	next := 0 // members mostly come in the order of the fields
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return false
		}
		if esc {
			key = jsonscan.Unescaped(key, true)
		}
		i, known := next, next < len(plan.fields) && string(plan.fields[next].name) == string(key)
		if !known {
			i, known = plan.byName[string(key)]
		}
		next = i + 1
		if !known {
			if plan.foldMatch(key) || !s.Skip() {
				return false // encoding/json would fill a field
			}
			continue
		}
		f := &plan.fields[i]
		fp := unsafe.Add(p, f.offset)
		switch c := s.Peek(); {
		case f.str && c == '"':
			raw, esc, ok := s.String()
			if !ok {
				return false
			}
			*(*string)(fp) = a.string(raw, esc)
		case f.sub != nil && c == '{':
			if !f.sub.scan(a, s, fp) {
				return false
			}
		default:
			x, ok := s.Value()
			if !ok || !f.op(a, fp, x) {
				return false
			}
		}
	}
	return s.Err() == nil
}

// foldMatch reports whether key might match a field as encoding/json
// matches keys, case-insensitively, with Unicode's foldings ("ſ" is "s").
func (plan *structPlan) foldMatch(key []byte) bool {
	if !isASCII(unsafe.String(unsafe.SliceData(key), len(key))) {
		return true
	}
	for i := range plan.fields {
		if bytes.EqualFold(key, plan.fields[i].name) {
			return true
		}
	}
	return false
}

// decodeEnvelope decodes the envelope value, its data into the T at data,
// and returns its schema; ok false means unsure, with the value at data
// partly written.
func (d *fastDecoder) decodeEnvelope(value []byte, data unsafe.Pointer) (schema string, ok bool) {
	s := jsonscan.New(value)
	s.WS()
	if s.Peek() != '{' {
		return "", false
	}
	s.Object()
	var rawSchema []byte
	var haveData bool
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return "", false
		}
		if esc {
			key = jsonscan.Unescaped(key, true)
		}
		if string(key) == "data" && !haveData && s.Peek() == '{' {
			haveData = true
			if !d.plan.scan(newStrArena(len(value)), &s, data) {
				return "", false
			}
			continue
		}
		v, ok := s.Value()
		if !ok {
			return "", false
		}
		switch string(key) {
		case "schema":
			switch v[0] {
			case '"':
				rawSchema = v
			case 'n':
			default:
				return "", false
			}
		case "data":
			return "", false // null, not an object, or a second time
		default:
			if !isASCII(unsafe.String(unsafe.SliceData(key), len(key))) ||
				bytes.EqualFold(key, []byte("schema")) || bytes.EqualFold(key, []byte("data")) {
				return "", false
			}
		}
	}
	if s.Err() != nil || s.End() != nil || !haveData || len(rawSchema) <= 2 {
		return "", false
	}
	return d.schemaString(rawSchema), true
}

// schemaString returns the text of raw, a JSON string, reusing the last
// one when it is the same.
func (d *fastDecoder) schemaString(raw []byte) string {
	raw = raw[1 : len(raw)-1]
	if last := d.schema.Load(); last != nil && *last == string(raw) {
		return *last
	}
	s := string(jsonscan.Unescaped(raw, bytes.IndexByte(raw, '\\') >= 0))
	if s != string(raw) {
		return s // escaped: not worth keeping
	}
	d.schema.Store(&s)
	return s
}

// decodeData decodes data, the envelope's data (well-formed JSON or not),
// into the T at p; false means unsure.
func (d *fastDecoder) decodeData(data []byte, p unsafe.Pointer) bool {
	s := jsonscan.New(data)
	s.WS()
	v, ok := s.Value()
	if !ok || s.End() != nil || v[0] != '{' {
		return false
	}
	return d.plan.decode(newStrArena(len(v)), p, v)
}
