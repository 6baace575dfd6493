package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Types whose every encoding/json output validates by construction.

type (
	genString string
	genInt    int16
	genFloat  float32
	genBool   bool
	genBytes  []byte
)

type genScalars struct {
	B       bool
	I       int
	I8      int8
	I16     int16
	I32     int32
	I64     int64
	U       uint
	U8      uint8
	U16     uint16
	U32     uint32
	U64     uint64
	F32     float32
	F64     float64
	S       string
	NamedS  genString
	NamedI  genInt
	NamedF  genFloat
	NamedB  genBool
	Renamed string `json:"renamed"`
	Unicode string `json:"ünï cödé/ключ~"`
	Annot   int    `json:"annot" jsonschema:"title=An int,description=Any int,example=3,default=1"`
	AnnotS  string `json:"annot_s" jsonschema:"title=T,description=D,example=x,default=y,readOnly=true"`
}

type genLeaf struct {
	S string   `json:"s"`
	N *int     `json:"n"`
	L []string `json:"l"`
}

type genContainers struct {
	Strings    []string
	Ints       []int64
	Bytes      []byte
	NamedBytes genBytes
	Arr        [3]int
	ByteArr    [4]byte
	PtrArr     [2]*int
	Nested     [][]string
	Map        map[string]int
	NamedKey   map[genString]string
	MapSlices  map[string][]float64
	MapPtrs    map[string]*genLeaf
	MapMaps    map[string]map[string]bool
	Ptr        *int
	PtrPtr     **string
	PtrSlice   *[]int
	PtrMap     *map[string]int
	PtrStruct  *genLeaf
	SlicePtrs  []*genLeaf
	Structs    []genLeaf
	ArrStructs [2]genLeaf
}

type genAny struct {
	Any      any
	AnySlice []any
	AnyMap   map[string]any
	AnyPtr   *any
	Stringer interface{ String() string }
}

type genDeepEmbedded struct {
	Deep *float64 `json:"deep"`
}

type genEmbedded struct {
	E1 string `json:"e1"`
	E2 []int  `json:"e2"`
	genDeepEmbedded
}

type GenEmbeddedPtr struct {
	P1 int8              `json:"p1"`
	P2 map[string]string `json:"p2"`
}

type GenEmbeddedNamed struct {
	N []string `json:"n"`
}

type genNested struct {
	genEmbedded
	*GenEmbeddedPtr
	GenEmbeddedNamed `json:"named_embedded"`

	Leaf    genLeaf  `json:"leaf"`
	LeafPtr *genLeaf `json:"leaf_ptr"`
	Anon    struct {
		A []int `json:"a"`
		B *bool `json:"b"`
	} `json:"anon"`

	Opt         string         `json:"opt,omitempty"`
	OptSlice    []int          `json:"opt_slice,omitempty"`
	OptMap      map[string]int `json:"opt_map,omitempty"`
	OptPtr      *genLeaf       `json:"opt_ptr,omitempty"`
	OptStruct   genLeaf        `json:"opt_struct,omitempty"`
	OptZero     genLeaf        `json:"opt_zero,omitzero"`
	OptZeroTime time.Time      `json:"opt_zero_time,omitzero"`
	OptZeroPtr  *int           `json:"opt_zero_ptr,omitzero"`

	T         time.Time            `json:"t"`
	Times     []time.Time          `json:"times"`
	TimeMap   map[string]time.Time `json:"time_map"`
	TimeArray [1]time.Time         `json:"time_array"`

	Skipped    chan int        `json:"-"`
	SkippedRaw json.RawMessage `json:"-"`
	unexported []int
	unexpIP    net.IP
}

type genNode struct {
	Name     string
	Children []*genNode
	ByName   map[string]*genNode
	Values   []genNode
	Parent   *genNode
}

// genMutualA and genMutualB are recursive through each other.
type genMutualA struct {
	B *genMutualB `json:"b"`
}

type genMutualB struct {
	As []genMutualA `json:"as"`
}

// Types that are not valid by construction: the schema says more than the
// Go type does.

type (
	genMinimum struct {
		N int `jsonschema:"minimum=1"`
	}
	genMaximum struct {
		N float64 `jsonschema:"maximum=1"`
	}
	genExclusive struct {
		N int `jsonschema:"exclusiveMinimum=0"`
	}
	genMultiple struct {
		N int `jsonschema:"multipleOf=2"`
	}
	genPattern struct {
		S string `jsonschema:"pattern=^a$"`
	}
	genEnum struct {
		S string `jsonschema:"enum=a,enum=b"`
	}
	genMinLength struct {
		S string `jsonschema:"minLength=1"`
	}
	genMaxLength struct {
		S string `jsonschema:"maxLength=1"`
	}
	genFormat struct {
		S string `jsonschema:"format=email"`
	}
	genRequired struct {
		S string `json:",omitempty" jsonschema:"required"`
	}
	genMinItems struct {
		L []int `jsonschema:"minItems=1"`
	}
	genTypeTag struct {
		S string `jsonschema:"type=integer"`
	}
	genIgnoredBySchema struct {
		S string `jsonschema:"-"`
	}
	genStringOpt struct {
		N int `json:"n,string"`
	}
	genExtras struct {
		S string `jsonschema_extras:"x=1"`
	}
	genDeepConstraint struct {
		Leaves []map[string]*genMinimum
	}
)

type genMarshalJSON struct{ V int }

func (genMarshalJSON) MarshalJSON() ([]byte, error) { return []byte(`"v"`), nil }

type genPtrMarshalJSON struct{ V int }

func (*genPtrMarshalJSON) MarshalJSON() ([]byte, error) { return []byte(`"v"`), nil }

type genMarshalText int

func (genMarshalText) MarshalText() ([]byte, error) { return []byte("t"), nil }

type genSchemaHook struct{ V int }

func (genSchemaHook) JSONSchema() *jsonschema.Schema { return &jsonschema.Schema{Type: "object"} }

type genSchemaExtend struct{ V int }

func (genSchemaExtend) JSONSchemaExtend(s *jsonschema.Schema) { s.MinProperties = new(uint64(1)) }

func TestValidByConstruction(t *testing.T) {
	for _, tt := range []struct {
		name string
		typ  reflect.Type
		want bool
	}{
		{"basic kinds", reflect.TypeFor[genScalars](), true},
		{"containers", reflect.TypeFor[genContainers](), true},
		{"interfaces", reflect.TypeFor[genAny](), true},
		{"nested, embedded, omitempty, time, ignored fields", reflect.TypeFor[genNested](), true},
		{"recursive", reflect.TypeFor[genNode](), true},
		{"mutually recursive", reflect.TypeFor[genMutualA](), true},
		{"time.Time", reflect.TypeFor[time.Time](), true},
		{"map with string keys", reflect.TypeFor[map[string][]int](), true},
		{"map with named string keys", reflect.TypeFor[map[genString]int](), true},
		{"pointer", reflect.TypeFor[*genLeaf](), true},
		{"annotation tags", reflect.TypeFor[struct {
			A int `jsonschema:"title=a,description=b,example=1,default=2"`
		}](), true},
		{"nullable tag", reflect.TypeFor[struct {
			A string `jsonschema:"nullable"`
		}](), true},
		{"ignored field of a custom type", reflect.TypeFor[struct {
			M genMarshalJSON `json:"-"`
			m genMarshalJSON
		}](), true},

		{"minimum", reflect.TypeFor[genMinimum](), false},
		{"maximum", reflect.TypeFor[genMaximum](), false},
		{"exclusiveMinimum", reflect.TypeFor[genExclusive](), false},
		{"multipleOf", reflect.TypeFor[genMultiple](), false},
		{"pattern", reflect.TypeFor[genPattern](), false},
		{"enum", reflect.TypeFor[genEnum](), false},
		{"minLength", reflect.TypeFor[genMinLength](), false},
		{"maxLength", reflect.TypeFor[genMaxLength](), false},
		{"format", reflect.TypeFor[genFormat](), false},
		{"required", reflect.TypeFor[genRequired](), false},
		{"minItems", reflect.TypeFor[genMinItems](), false},
		{"type tag", reflect.TypeFor[genTypeTag](), false},
		{"jsonschema:-", reflect.TypeFor[genIgnoredBySchema](), false},
		{",string option", reflect.TypeFor[genStringOpt](), false},
		{"jsonschema_extras", reflect.TypeFor[genExtras](), false},
		{"constraint deep inside", reflect.TypeFor[genDeepConstraint](), false},
		{"MarshalJSON field", reflect.TypeFor[struct{ M genMarshalJSON }](), false},
		{"pointer-receiver MarshalJSON field", reflect.TypeFor[struct{ M genPtrMarshalJSON }](), false},
		{"MarshalText field", reflect.TypeFor[struct{ M genMarshalText }](), false},
		{"MarshalText slice", reflect.TypeFor[struct{ M []genMarshalText }](), false},
		{"json.RawMessage", reflect.TypeFor[struct{ R json.RawMessage }](), false},
		{"net.IP", reflect.TypeFor[struct{ IP net.IP }](), false},
		{"map with int keys", reflect.TypeFor[struct{ M map[int]string }](), false},
		{"map with MarshalText keys", reflect.TypeFor[struct{ M map[genMarshalText]string }](), false},
		{"JSONSchema hook", reflect.TypeFor[struct{ H genSchemaHook }](), false},
		{"JSONSchemaExtend hook", reflect.TypeFor[struct{ H genSchemaExtend }](), false},
		{"type with MarshalJSON", reflect.TypeFor[genMarshalJSON](), false},
		{"complex", reflect.TypeFor[struct{ C complex64 }](), false},
		{"chan", reflect.TypeFor[struct{ C chan int }](), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, validByConstruction(tt.typ, map[reflect.Type]bool{}), "validByConstruction(%s)", tt.typ)
		})
	}
}

// NewSchema records the answer of validByConstruction.
func TestNewSchemaByConstruction(t *testing.T) {
	s, err := NewSchema[genNested](nil)
	require.NoError(t, err)
	assert.True(t, s.byConstruction)
	s, err = NewSchema[genDeepConstraint](nil)
	require.NoError(t, err)
	assert.False(t, s.byConstruction)
}

// A nil *time.Time is null, whatever time.Time's MarshalJSON does, and a
// non-nil one is a time.Time: valid by construction. Bug: customJSON is
// checked before the pointer is followed, so the validator runs for every
// struct with a *time.Time (and, see TestSchemaValidatesNilFields, rejects
// a nil one).
func TestValidByConstructionPointerToTime(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[*time.Time](),
		reflect.TypeFor[struct{ T *time.Time }](),
		reflect.TypeFor[struct{ T []*time.Time }](),
	} {
		t.Run(typ.String(), func(t *testing.T) {
			assert.True(t, validByConstruction(typ, map[reflect.Type]bool{}))
		})
	}
	// A pointer to a type that encodes itself stays unknown.
	assert.False(t, validByConstruction(reflect.TypeFor[*genMarshalJSON](), map[reflect.Type]bool{}))
	assert.False(t, validByConstruction(reflect.TypeFor[*genPtrMarshalJSON](), map[reflect.Type]bool{}))
}

// randomizer fills values of any type with random content that
// encoding/json can write: edge values, nil and non-nil pointers, slices and
// maps, strings with HTML, control characters and invalid UTF-8.
type randomizer struct {
	r *rand.Rand
	// nilOneIn makes a pointer, slice, map or interface nil one time in
	// nilOneIn; 0 never does (until maxDepth).
	nilOneIn int
	maxDepth int
}

func (g *randomizer) value(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	g.fill(v, 0)
	return v
}

func (g *randomizer) isNil(depth int) bool {
	return depth >= g.maxDepth || g.nilOneIn > 0 && g.r.Intn(g.nilOneIn) == 0
}

func (g *randomizer) fill(v reflect.Value, depth int) {
	t := v.Type()
	if t == timeType {
		v.Set(reflect.ValueOf(g.time()))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(g.r.Intn(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(g.int(t.Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(g.uint(t.Bits()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(g.float(t.Bits()))
	case reflect.String:
		v.SetString(g.string())
	case reflect.Pointer:
		if g.isNil(depth) {
			return
		}
		p := reflect.New(t.Elem())
		g.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if g.isNil(depth) {
			return
		}
		n := g.r.Intn(4)
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			g.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			g.fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		if g.isNil(depth) {
			return
		}
		m := reflect.MakeMap(t)
		for range g.r.Intn(4) {
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			g.fill(k, depth+1)
			g.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case f.CanSet():
				g.fill(f, depth+1)
			case t.Field(i).Anonymous && f.Kind() == reflect.Struct:
				// An unexported embedded struct: its exported fields are
				// settable, and encoding/json writes them.
				g.fill(f, depth)
			}
		}
	case reflect.Interface:
		if g.isNil(depth) {
			return
		}
		if x := g.any(depth + 1); x != nil && reflect.TypeOf(x).Implements(t) {
			v.Set(reflect.ValueOf(x))
		}
	}
}

func (g *randomizer) int(bits int) int64 {
	switch g.r.Intn(4) {
	case 0:
		edges := []int64{0, 1, -1, math.MaxInt64 >> (64 - bits), math.MinInt64 >> (64 - bits)}
		return edges[g.r.Intn(len(edges))]
	case 1:
		return int64(g.r.Intn(200) - 100)
	}
	v, _ := quick.Value(reflect.TypeFor[int64](), g.r)
	return v.Int() << (64 - bits) >> (64 - bits)
}

func (g *randomizer) uint(bits int) uint64 {
	switch g.r.Intn(4) {
	case 0:
		edges := []uint64{0, 1, math.MaxUint64 >> (64 - bits)}
		return edges[g.r.Intn(len(edges))]
	case 1:
		return uint64(g.r.Intn(100))
	}
	return g.r.Uint64() >> (64 - bits)
}

func (g *randomizer) float(bits int) float64 {
	x := g.float64()
	if bits == 32 && !math.IsInf(x, 0) && math.IsInf(float64(float32(x)), 0) {
		x = float64(math.Float32frombits(g.r.Uint32()))
	}
	return x
}

func (g *randomizer) float64() float64 {
	switch g.r.Intn(5) {
	case 0:
		edges := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e20, 1e21, -1e21, 1e-6, 1e-7,
			math.MaxFloat32, math.SmallestNonzeroFloat32, math.MaxFloat64, math.SmallestNonzeroFloat64,
			1 << 53, 1<<53 + 1, -math.MaxFloat64, math.NaN(), math.Inf(1)}
		return edges[g.r.Intn(len(edges))]
	case 1:
		return math.Float64frombits(g.r.Uint64()) // NaN and ±Inf are skipped
	case 2:
		return float64(math.Float32frombits(g.r.Uint32()))
	}
	v, _ := quick.Value(reflect.TypeFor[float64](), g.r)
	return v.Float()
}

var stringPieces = []string{
	"", "a", "Foo", "<a&b>", `"quoted"`, `back\slash`, "\x00", "\x1f\x7f", "\n\r\t\b\f",
	"\u2028\u2029", "é", "ключ", "🙂", "\ufffd", "\xff", "\xed\xa0\x80", "\xc3", "a\xffb",
	"$ref", "#/$defs/x", "null", "12", "true", " ",
}

func (g *randomizer) string() string {
	var b strings.Builder
	for range g.r.Intn(4) {
		if g.r.Intn(3) == 0 {
			v, _ := quick.Value(reflect.TypeFor[string](), g.r)
			b.WriteString(v.String()[:min(len(v.String()), 12)])
		} else {
			b.WriteString(stringPieces[g.r.Intn(len(stringPieces))])
		}
	}
	return b.String()
}

func (g *randomizer) time() time.Time {
	const minSec, maxSec = -62135596800, 253402300799 // years 1 to 9999
	tm := time.Unix(minSec+g.r.Int63n(maxSec-minSec), g.r.Int63n(1e9)).UTC()
	switch g.r.Intn(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Now() // with a monotonic reading
	case 2:
		offset := g.r.Intn(2*24*3600-1) - (24*3600 - 1) // (-24h, 24h), seconds included
		if t2 := tm.In(time.FixedZone("Z", offset)); t2.Year() >= 1 && t2.Year() <= 9999 {
			return t2
		}
	}
	return tm
}

func (g *randomizer) any(depth int) any {
	if depth >= g.maxDepth {
		return "leaf"
	}
	switch g.r.Intn(14) {
	case 0:
		return nil
	case 1:
		return g.string()
	case 2:
		return g.float(64)
	case 3:
		return g.int(64)
	case 4:
		return g.uint(64)
	case 5:
		return g.r.Intn(2) == 0
	case 6:
		return []any{g.any(depth + 1), g.any(depth + 1)}
	case 7:
		return map[string]any{g.string(): g.any(depth + 1)}
	case 8:
		return g.value(reflect.TypeFor[genLeaf]()).Interface()
	case 9:
		return g.value(reflect.TypeFor[*genLeaf]()).Interface()
	case 10:
		return g.time()
	case 11:
		return []byte(g.string())
	case 12:
		return json.RawMessage(`{"raw":[1,"x",null]}`)
	}
	return genMarshalJSON{}
}

// checkEveryEncodingValidates generates random values of T and checks
// that every encoding/json encoding of them validates with T's schema.
// Values encoding/json refuses (NaN, ±Inf) are skipped; extra values are
// checked too.
func checkEveryEncodingValidates[T any](t *testing.T, seed int64, n int, extra ...T) {
	t.Helper()
	s, err := NewSchema[T](&SchemaOptions{ID: "T"})
	require.NoError(t, err)

	values := make([]any, 0, 3*n+len(extra)+2)
	var zero T
	values = append(values, zero)
	for _, v := range extra {
		values = append(values, v)
	}
	for i, nilOneIn := range []int{0, 2, 5} {
		g := &randomizer{r: rand.New(rand.NewSource(seed + int64(i))), nilOneIn: nilOneIn, maxDepth: 5}
		full := g.value(reflect.TypeFor[T]()).Interface()
		values = append(values, full)
		for range n {
			values = append(values, g.value(reflect.TypeFor[T]()).Interface())
		}
	}

	var checked, failed int
	for _, v := range values {
		data, err := json.Marshal(v)
		if err != nil {
			continue // NaN, ±Inf, an invalid json.Number: not publishable
		}
		var noEscape bytes.Buffer
		enc := json.NewEncoder(&noEscape)
		enc.SetEscapeHTML(false) // as encodeEnvelope
		require.NoError(t, enc.Encode(v))
		if string(data) == "null" {
			continue // a nil root value: encodeEnvelope refuses it (TestEncodeEnvelopeRefusesNil)
		}
		for _, d := range [][]byte{data, bytes.TrimSuffix(noEscape.Bytes(), []byte("\n"))} {
			checked++
			if err := s.Validate(d); err != nil {
				failed++
				if failed <= 3 {
					t.Errorf("encoding/json output does not validate (byConstruction=%v):\n%v\ndata:   %s\nschema: %s",
						s.byConstruction, err, d, s.JSONSchema())
				}
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d encodings do not validate", failed, checked)
	}
	assert.GreaterOrEqual(t, checked, len(values), "more than half the values skipped")
}

// The claim behind skipping the validator on publish: for a type that
// validByConstruction accepts, every value encoding/json can write
// validates with the schema generated for that type.
func TestValidByConstructionAgreesWithValidator(t *testing.T) {
	const n = 200
	for _, tt := range []struct {
		name string
		typ  reflect.Type
		run  func(t *testing.T)
	}{
		{"scalars", reflect.TypeFor[genScalars](), func(t *testing.T) { checkEveryEncodingValidates[genScalars](t, 1, n) }},
		{"containers", reflect.TypeFor[genContainers](), func(t *testing.T) {
			one := 1
			checkEveryEncodingValidates(t, 2, n, genContainers{
				Strings: []string{}, Ints: []int64{}, Bytes: []byte{}, NamedBytes: genBytes{},
				Nested: [][]string{nil, {}}, Map: map[string]int{}, MapSlices: map[string][]float64{"a": nil},
				MapPtrs: map[string]*genLeaf{"a": nil, "b": {}}, MapMaps: map[string]map[string]bool{"a": nil},
				Ptr: &one, PtrPtr: new(*string), PtrSlice: new([]int), PtrMap: new(map[string]int),
				SlicePtrs: []*genLeaf{nil, {}}, Structs: []genLeaf{{}},
			})
		}},
		{"interfaces", reflect.TypeFor[genAny](), func(t *testing.T) {
			var nilAny any
			checkEveryEncodingValidates(t, 3, n,
				genAny{Any: (*genLeaf)(nil), AnySlice: []any{nil}, AnyMap: map[string]any{"a": nil}, AnyPtr: &nilAny},
				genAny{Any: map[string]any{"a": []any{1, "x", nil}}, AnyPtr: new(any)},
				genAny{Any: genMarshalJSON{}, AnySlice: []any{genLeaf{}, &genLeaf{}, time.Time{}}},
			)
		}},
		{"nested and embedded", reflect.TypeFor[genNested](), func(t *testing.T) {
			checkEveryEncodingValidates(t, 4, n,
				genNested{GenEmbeddedPtr: &GenEmbeddedPtr{}},
				genNested{genEmbedded: genEmbedded{E2: []int{}}, OptPtr: &genLeaf{}, OptZeroPtr: new(int)},
			)
		}},
		{"recursive", reflect.TypeFor[genNode](), func(t *testing.T) {
			leaf := &genNode{Name: "leaf"}
			checkEveryEncodingValidates(t, 5, n, genNode{
				Children: []*genNode{leaf, nil}, ByName: map[string]*genNode{"a": leaf, "b": nil},
				Values: []genNode{{Parent: leaf}}, Parent: &genNode{Parent: &genNode{}},
			})
		}},
		{"mutually recursive", reflect.TypeFor[genMutualA](), func(t *testing.T) {
			checkEveryEncodingValidates(t, 6, n, genMutualA{B: &genMutualB{As: []genMutualA{{}, {B: &genMutualB{}}}}})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.True(t, validByConstruction(tt.typ, map[reflect.Type]bool{}), "%s is not valid by construction", tt.typ)
			tt.run(t)
		})
	}
}

// Counterexamples to the claim found while writing the tests above: types
// that validByConstruction accepts (or should accept) whose encoding/json
// output the generated schema rejects, and types NewSchema panics on. Each
// subtest passes when NewSchema either describes the encoding correctly
// or (where mayRefuse is set) returns an error; a panic always fails.

type genInners []*genLeaf

type genNamedSlices struct {
	L genInners  `json:"l"`
	M genLeafMap `json:"m"`
}

type genLeafMap map[string]*genLeaf

type genNullable struct {
	P *genLeaf          `json:"p" jsonschema:"nullable"`
	L []int             `json:"l" jsonschema:"nullable"`
	M map[string]string `json:"m" jsonschema:"nullable"`
	A any               `json:"a" jsonschema:"nullable"`
}

type genTimePtr struct {
	T  *time.Time            `json:"t"`
	TL []*time.Time          `json:"tl"`
	TM map[string]*time.Time `json:"tm"`
}

type genMid struct {
	genDeepEmbedded
	M int `json:"m"`
}

type genEmbeddedPtrChain struct {
	*genMid
	X int `json:"x"`
}

type GenInt int

type genEmbeddedPtrNonStruct struct {
	*GenInt
	X int `json:"x"`
}

type genURL struct {
	U  url.URL  `json:"u"`
	UP *url.URL `json:"up"`
}

type genNumber struct {
	N json.Number `json:"n"`
}

type genByte uint8

type genNamedByteSlice struct {
	B []genByte `json:"b"`
}

// kafka.Header and http.Header are both named "Header".
type genSameName struct {
	K kafka.Header `json:"k"`
	H http.Header  `json:"h"`
}

type genBox[T any] struct {
	V T `json:"v"`
}

type genPair[K comparable, V any] struct {
	K K `json:"k"`
	V V `json:"v"`
}

type genGeneric struct {
	Leaf  genBox[genLeaf]            `json:"leaf"`
	Int   genBox[int]                `json:"int"`
	Any   genBox[any]                `json:"any"`
	Ptr   genBox[*genLeaf]           `json:"ptr"`
	Slice genBox[[]genLeaf]          `json:"slice"`
	Map   genBox[map[string]genLeaf] `json:"map"`
	Anon  genBox[struct {
		X int "json:\"x\""
	}] `json:"anon"`
	Pair   genPair[string, genBox[genLeaf]] `json:"pair"`
	Nested genBox[genBox[genLeaf]]          `json:"nested"`
}

type genShadowed struct {
	X string `json:"x"`
	genShadowInner
}

type genShadowInner struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type genAmbiguous struct {
	genAmbiguousA
	genAmbiguousB
}

type genAmbiguousA struct{ X int }

type genAmbiguousB struct{ X string }

type genDashName struct {
	D int `json:"-,"`
}

type genInvalidTagName struct {
	A int `json:"it's"`
}

type genHidden struct {
	Shown  string `json:"shown"`
	Hidden string `json:"hidden" jsonschema:"-"`
}

type genUnexportedInt int

type genUnexportedEmbeddedNonStruct struct {
	genUnexportedInt
	X int `json:"x"`
}

type genMapRoot map[string]genInners

func TestValidByConstructionCounterexamples(t *testing.T) {
	const n = 100
	for _, tt := range []struct {
		name string
		cx   cx
		run  func(t *testing.T, cx cx)
	}{
		// allowNil changes the $ref, not the named slice or map's $defs entry.
		{"named slice and map of pointers", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genNamedSlices{L: genInners{nil, {}}, M: genLeafMap{"a": nil, "b": {}}})
		}},
		{"named map root", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genMapRoot{"a": nil, "b": {nil, {}}})
		}},
		// oneOf [anyOf [X, null], null]: null matches both.
		{"nullable tag on nil-able fields", cx{}, func(t *testing.T, cx cx) { checkCounterexample(t, cx, n, genNullable{}) }},
		// customJSON(*time.Time) stops allowNil before the pointer.
		{"*time.Time", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genTimePtr{TL: []*time.Time{nil}, TM: map[string]*time.Time{"a": nil}})
		}},
		// dropRequired does not descend into the embedded struct's own embedded structs.
		{"nil embedded pointer embedding a struct", cx{}, func(t *testing.T, cx cx) { checkCounterexample(t, cx, n, genEmbeddedPtrChain{}) }},
		// allowNilFields calls dropRequired (NumField) on a non-struct: panic.
		{"embedded pointer to a non-struct", cx{}, func(t *testing.T, cx cx) {
			i := GenInt(3)
			checkCounterexample(t, cx, n, genEmbeddedPtrNonStruct{}, genEmbeddedPtrNonStruct{GenInt: &i})
		}},
		// invopop describes url.URL as a string; encoding/json writes an object.
		{"url.URL", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genURL{}, genURL{U: url.URL{Scheme: "https", Host: "x"}, UP: &url.URL{}})
		}},
		// invopop describes json.Number as a string; encoding/json writes a number.
		{"json.Number", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, 0, genNumber{}, genNumber{N: "12"}, genNumber{N: "-1.5e3"})
		}},
		// encoding/json writes any slice of a uint8 kind as base64; invopop only []uint8.
		{"slice of a named byte type", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genNamedByteSlice{B: []genByte{1, 2}})
		}},
		// $defs are keyed by the bare type name.
		{"two types named Header", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genSameName{H: http.Header{"A": {"b"}}, K: kafka.Header{Key: "k"}})
		}},
		// A generic instance's name holds its argument's package path; the
		// '/' in it breaks the $ref ("#/$defs/genBox[github.com/...]" not found).
		{"generic type instantiated with a named type", cx{}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genGeneric{})
		}},
		// encoding/json keeps the shallower x (a string); invopop the last one set (an integer).
		{"field shadowed by a shallower one", cx{mayRefuse: true}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genShadowed{X: "s"})
		}},
		// encoding/json drops both X; invopop requires one.
		{"ambiguous embedded fields", cx{mayRefuse: true}, func(t *testing.T, cx cx) { checkCounterexample(t, cx, n, genAmbiguous{}) }},
		// `json:"-,"` names the field "-"; invopop ignores it.
		{"field named -", cx{mayRefuse: true}, func(t *testing.T, cx cx) { checkCounterexample(t, cx, n, genDashName{D: 1}) }},
		// encoding/json ignores an invalid tag name and uses the field name.
		{"invalid json tag name", cx{mayRefuse: true}, func(t *testing.T, cx cx) { checkCounterexample(t, cx, n, genInvalidTagName{}) }},
		// invopop leaves the field out; encoding/json writes it, and
		// additionalProperties is false: no value of the type validates.
		{"field hidden by jsonschema:-", cx{mayRefuse: true, constrained: true}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genHidden{Shown: "a", Hidden: "b"})
		}},
		// encoding/json ignores an embedded field of an unexported non-struct type.
		{"unexported embedded non-struct", cx{mayRefuse: true}, func(t *testing.T, cx cx) {
			checkCounterexample(t, cx, n, genUnexportedEmbeddedNonStruct{genUnexportedInt: 1})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			tt.run(t, tt.cx)
		})
	}
}

// cx says what a counterexample may do once fixed.
type cx struct {
	mayRefuse   bool // NewSchema may return an error
	constrained bool // the type need not be valid by construction
}

func checkCounterexample[T any](t *testing.T, cx cx, n int, extra ...T) {
	t.Helper()
	s, err := NewSchema[T](&SchemaOptions{ID: "T"})
	if err != nil {
		require.True(t, cx.mayRefuse, "NewSchema: %v", err)
		t.Logf("refused: %v", err)
		return
	}
	if !cx.constrained {
		assert.True(t, s.byConstruction, "no constraint: valid by construction")
	}
	checkEveryEncodingValidates(t, 7, n, extra...)
}

// genFuzz holds every kind of field, filled from the fuzzer's inputs
// (*time.Time is left to TestValidByConstructionCounterexamples).
type genFuzz struct {
	S       string             `json:"s"`
	SP      *string            `json:"sp"`
	SL      []string           `json:"sl"`
	SM      map[string]string  `json:"sm"`
	Key     map[string]int64   `json:"key"`
	I       int64              `json:"i"`
	I8      int8               `json:"i8"`
	I32     int32              `json:"i32"`
	U       uint64             `json:"u"`
	U16     uint16             `json:"u16"`
	F       float64            `json:"f"`
	F32     float32            `json:"f32"`
	FP      *float64           `json:"fp"`
	B       bool               `json:"b"`
	Bytes   []byte             `json:"bytes"`
	Arr     [2]string          `json:"arr"`
	Any     any                `json:"any"`
	Anys    []any              `json:"anys"`
	AnyMap  map[string]any     `json:"any_map"`
	T       time.Time          `json:"t"`
	Leaf    genLeaf            `json:"leaf"`
	Leaves  []*genLeaf         `json:"leaves"`
	LeafMap map[string]genLeaf `json:"leaf_map"`
	Opt     string             `json:"opt,omitempty"`
	OptZero int64              `json:"opt_zero,omitzero"`
	genEmbedded
	*GenEmbeddedPtr
}

func newGenFuzz(s string, i int64, u uint64, f float64, b bool, raw []byte) genFuzz {
	v := genFuzz{
		S: s, I: i, I8: int8(i), I32: int32(i), U: u, U16: uint16(u), F: f, F32: float32(f), B: b,
		Arr: [2]string{s, string(raw)}, Opt: s, OptZero: i,
		T:    time.Unix(int64(u%253402300799)-62135596800, i&(1<<29-1)).UTC(), // years 1 to 9999
		Leaf: genLeaf{S: s},
	}
	v.E1 = s
	if b {
		v.SP, v.FP = &s, &f
		v.SL = []string{s, string(raw), ""}
		v.SM = map[string]string{s: string(raw)}
		v.Key = map[string]int64{string(raw): i}
		v.Bytes = raw
		v.Any = s
		v.Anys = []any{s, i, u, f, b, raw, nil, map[string]any{s: f}}
		v.AnyMap = map[string]any{s: []any{i, nil}, string(raw): map[string]any{}}
		v.Leaves = []*genLeaf{nil, {S: string(raw), N: new(int(i)), L: []string{s}}}
		v.LeafMap = map[string]genLeaf{s: {L: []string{}}}
		v.GenEmbeddedPtr = &GenEmbeddedPtr{P1: int8(u), P2: map[string]string{s: s}}
		v.E2 = []int{int(i)}
		v.Deep = &f
	} else {
		v.Any = f
		v.Anys = []any{}
		v.Leaves = []*genLeaf{}
	}
	return v
}

// Every value built from the fuzzer's inputs validates. Run it with
// go test -run XXX -fuzz FuzzValidByConstruction -fuzztime 20s ./core/
func FuzzValidByConstruction(f *testing.F) {
	f.Add("", int64(0), uint64(0), 0.0, false, []byte(nil))
	f.Add("<a&b>", int64(-1), uint64(math.MaxUint64), 1e21, true, []byte("\xff\x00"))
	f.Add("\u2028\xed\xa0\x80", int64(math.MinInt64), uint64(1), math.SmallestNonzeroFloat64, true, []byte(`"`))
	f.Add("ключ 🙂", int64(math.MaxInt64), uint64(1<<53+1), -math.MaxFloat64, false, []byte("{}"))
	s, err := NewSchema[genFuzz](nil)
	require.NoError(f, err)
	require.True(f, s.byConstruction)
	f.Fuzz(func(t *testing.T, str string, i int64, u uint64, fl float64, b bool, raw []byte) {
		v := newGenFuzz(str, i, u, fl, b, raw)
		data, err := json.Marshal(v)
		if err != nil {
			var unsupported *json.UnsupportedValueError
			if errors.As(err, &unsupported) {
				return // NaN, ±Inf
			}
			t.Fatalf("json.Marshal: %v", err)
		}
		if err := s.Validate(data); err != nil {
			t.Fatalf("%v\ndata: %s", err, data)
		}
	})
}
