package core

import (
	"encoding/json"
	"strings"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
)

// The fast check. Validating a message with santhosh-tekuri/jsonschema
// means decoding it into a map of interfaces, then walking the compiled
// schema over it: about 14 µs for a 300-byte message, most of the cost of
// a validated subscription. But the schemas generated from Go types
// mostly use a few keywords ("type", "properties", "required", "items",
// "additionalProperties", "anyOf" with null, "$ref" to "$defs"), which
// can be checked on the JSON text itself in one walk, without building
// anything.
//
// A fastSchema is compiled from the same document as the validator. Its
// check is one-sided: true means the validator accepts the data too;
// false means "not sure", and the validator runs, giving the verdict and
// the error as before. So the fast check changes what is accepted only
// if it accepts something the validator refuses: FuzzFastSchema checks
// that it never does. Anything it does not know (another keyword, "$id",
// a draft other than 2020-12, a number that is an integer only by its
// value, such as 1.0, a key given twice) makes it unsure.

// fastSchema checks data against the subset of JSON Schema described
// above. It is immutable and safe for concurrent use.
type fastSchema struct {
	root *fastNode
}

// JSON types, as bits of fastNode.types.
const (
	fastNull = 1 << iota
	fastBoolean
	fastObject
	fastArray
	fastNumber
	fastInteger
	fastString
)

var fastTypes = map[string]uint8{
	"null": fastNull, "boolean": fastBoolean, "object": fastObject, "array": fastArray,
	"number": fastNumber, "integer": fastInteger, "string": fastString,
}

// fastAnnotations are keywords that never fail a value: the validator's
// default asserts neither "format" nor the "content" keywords in 2020-12.
var fastAnnotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "format": true,
	"contentEncoding": true, "contentMediaType": true,
}

// fastNode is one schema. The zero value accepts everything, as the
// schema true.
type fastNode struct {
	// unsure: the schema has a keyword outside the subset, or is false.
	unsure bool
	// types allowed ("type"); zero: any.
	types uint8
	// ref is the "$ref" target, resolved after compiling.
	ref     *fastNode
	refName string
	anyOf   []*fastNode
	// object: the index of each key in "properties" or "required", the
	// schema of each (nil: any), and a bit per required key.
	object     bool
	keys       map[string]int
	properties []*fastNode
	required   uint64
	// closed: "additionalProperties" is false; additional is its schema
	// otherwise (nil: any).
	closed     bool
	additional *fastNode
	// array: "items" (nil: any) and the bounds ("minItems", "maxItems"; -1:
	// none).
	array              bool
	items              *fastNode
	minItems, maxItems int
}

// draft2020 is the only "$schema" the fast check knows.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// newFastSchema compiles doc, or returns nil when the document is not one
// the fast check can use at all.
func newFastSchema(doc []byte) *fastSchema {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok || m["$schema"] != draft2020 {
		return nil
	}
	c := fastCompiler{defs: map[string]*fastNode{}}
	defs, _ := m["$defs"].(map[string]any)
	if _, isDefs := m["$defs"]; isDefs && defs == nil {
		return nil
	}
	for name, d := range defs {
		c.defs[name] = c.node(d)
	}
	root := c.node(v)
	if c.failed {
		return nil
	}
	for _, n := range c.refs {
		target, ok := c.defs[n.refName]
		if !ok {
			return nil
		}
		n.ref = target
	}
	return &fastSchema{root: root}
}

type fastCompiler struct {
	defs   map[string]*fastNode
	refs   []*fastNode // nodes whose ref is to resolve
	failed bool        // the document cannot be used at all ("$id" ...)
}

func (c *fastCompiler) node(v any) *fastNode {
	n := &fastNode{minItems: -1, maxItems: -1}
	switch v := v.(type) {
	case bool:
		n.unsure = !v
		return n
	case map[string]any:
		for k, x := range v {
			if !c.keyword(n, k, x) {
				n.unsure = true
			}
		}
		return n
	}
	n.unsure = true
	return n
}

// keyword compiles one keyword of a schema object into n; false means it
// is outside the subset.
func (c *fastCompiler) keyword(n *fastNode, k string, x any) bool {
	switch k {
	case "$schema", "$defs":
		return true // the root's, read by newFastSchema
	case "$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$vocabulary":
		c.failed = true
		return false
	case "$ref":
		s, _ := x.(string)
		name, ok := strings.CutPrefix(s, "#/$defs/")
		if !ok || strings.ContainsAny(name, "/~%") {
			return false
		}
		n.refName = name
		c.refs = append(c.refs, n)
		return true
	case "type":
		return fastTypeKeyword(n, x)
	case "anyOf":
		list, ok := x.([]any)
		if !ok || len(list) == 0 {
			return false
		}
		for _, b := range list {
			n.anyOf = append(n.anyOf, c.node(b))
		}
		return true
	case "properties":
		props, ok := x.(map[string]any)
		if !ok {
			return false
		}
		n.object = true
		for name, p := range props {
			n.properties[n.key(name)] = c.node(p)
		}
		return len(n.keys) <= 64
	case "required":
		list, ok := x.([]any)
		if !ok {
			return false
		}
		n.object = true
		for _, r := range list {
			name, ok := r.(string)
			if !ok {
				return false
			}
			n.required |= 1 << n.key(name)
		}
		return len(n.keys) <= 64
	case "additionalProperties":
		n.object = true
		if b, ok := x.(bool); ok && !b {
			n.closed = true
			return true
		}
		n.additional = c.node(x)
		return true
	case "items":
		n.array = true
		n.items = c.node(x)
		return true
	case "minItems", "maxItems":
		f, ok := x.(float64)
		if !ok || f < 0 || f != float64(int(f)) {
			return false
		}
		n.array = true
		if k == "minItems" {
			n.minItems = int(f)
		} else {
			n.maxItems = int(f)
		}
		return true
	}
	return fastAnnotations[k]
}

func fastTypeKeyword(n *fastNode, x any) bool {
	names := []any{x}
	if list, ok := x.([]any); ok {
		names = list
	}
	for _, name := range names {
		s, _ := name.(string)
		bit, ok := fastTypes[s]
		if !ok {
			return false
		}
		n.types |= bit
	}
	return len(names) > 0
}

// key returns the index of an object key, adding it (with schema any) if
// it is new; past 64 keys the index is meaningless and the caller fails.
func (n *fastNode) key(name string) int {
	if n.keys == nil {
		n.keys = map[string]int{}
	}
	i, ok := n.keys[name]
	if !ok {
		i = len(n.keys) % 64
		n.keys[name] = i
		n.properties = append(n.properties, nil)
	}
	return i
}

// valid reports whether data is sure to validate; false means unsure.
func (f *fastSchema) valid(data []byte) bool {
	s := jsonscan.New(data)
	s.WS()
	v, ok := s.Value()
	if !ok || s.End() != nil {
		return false
	}
	budget := fastBudget(len(data))
	return f.root.valid(v, 0, &budget)
}

// fastBudget is how many bytes the fast check or the fast decoder may read
// for a message of n bytes, counting each value as many times as it is
// read: a value read again under each of nested "anyOf"s or arrays could
// otherwise take exponential time. Past it, they are unsure.
func fastBudget(n int) int { return 8*n + 1024 }

// maxRefHops bounds "$ref"s followed without reading deeper into the
// value: a loop of references is the validator's to report.
const maxRefHops = 64

// valid checks v, one JSON value known to be well formed, within budget.
func (n *fastNode) valid(v []byte, hops int, budget *int) bool {
	if n == nil {
		return true
	}
	if *budget -= len(v); n.unsure || *budget < 0 {
		return false
	}
	if n.ref != nil {
		if hops++; hops > maxRefHops || !n.ref.valid(v, hops, budget) {
			return false
		}
	}
	if n.types != 0 && !n.typeValid(v) {
		return false
	}
	if len(n.anyOf) > 0 && !n.anyValid(v, hops, budget) {
		return false
	}
	switch {
	case n.object && v[0] == '{':
		return n.objectValid(v, budget)
	case n.array && v[0] == '[':
		return n.arrayValid(v, budget)
	}
	return true
}

func (n *fastNode) anyValid(v []byte, hops int, budget *int) bool {
	for _, b := range n.anyOf {
		if b.valid(v, hops, budget) {
			return true
		}
	}
	return false
}

func (n *fastNode) typeValid(v []byte) bool {
	var t uint8
	switch v[0] {
	case 'n':
		t = fastNull
	case 't', 'f':
		t = fastBoolean
	case '{':
		t = fastObject
	case '[':
		t = fastArray
	case '"':
		t = fastString
	default:
		if n.types&fastNumber != 0 {
			return true
		}
		// An integer by its spelling; 1.0 and 1e3 are too, by value, and
		// left to the validator.
		t = fastInteger
		for _, c := range v {
			if c == '.' || c == 'e' || c == 'E' {
				return false
			}
		}
	}
	return n.types&t != 0
}

func (n *fastNode) objectValid(v []byte, budget *int) bool {
	s := jsonscan.New(v)
	s.Object()
	var seen uint64
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return false
		}
		key = jsonscan.Unescaped(key, esc) // invalid UTF-8 too, as encoding/json reads it
		x, ok := s.Value()
		if !ok {
			return false
		}
		i, known := n.keys[string(key)]
		if !known {
			if n.closed || !n.additional.valid(x, 0, budget) {
				return false
			}
			continue
		}
		if seen&(1<<i) != 0 {
			return false // a repeated key: the validator sees the last
		}
		seen |= 1 << i
		if !n.properties[i].valid(x, 0, budget) {
			return false
		}
	}
	return s.Err() == nil && seen&n.required == n.required
}

func (n *fastNode) arrayValid(v []byte, budget *int) bool {
	count := 0
	for i := jsonscanWS(v, 1); v[i] != ']'; {
		s := jsonscan.New(v[i:])
		x, ok := s.Value()
		if !ok || !n.items.valid(x, 0, budget) {
			return false
		}
		count++
		if i = jsonscanWS(v, i+s.Pos()); v[i] == ',' {
			i = jsonscanWS(v, i+1)
		}
	}
	return count >= n.minItems && (n.maxItems < 0 || count <= n.maxItems)
}

// jsonscanWS returns the offset of the first byte at or after i of
// well-formed JSON b that is not whitespace.
func jsonscanWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
