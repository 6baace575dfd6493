package core

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type (
	fuzzName  string
	fuzzInner struct {
		A    int         `json:"a"`
		S    *string     `json:"s"`
		Kids []fuzzInner `json:"kids"`
	}
	// fuzzRecord holds every kind the fast decoder knows.
	fuzzRecord struct {
		S       string        `json:"s"`
		N       int           `json:"n"`
		I8      int8          `json:"i8"`
		U16     uint16        `json:"u16"`
		U       uint64        `json:"u"`
		F32     float32       `json:"f32"`
		F       float64       `json:"f"`
		B       bool          `json:"b"`
		P       *fuzzInner    `json:"p"`
		In      fuzzInner     `json:"in"`
		Tags    []string      `json:"tags"`
		Ns      []int         `json:"ns"`
		Ps      []*fuzzInner  `json:"ps"`
		T       time.Time     `json:"t"`
		PT      *time.Time    `json:"pt"`
		Named   fuzzName      `json:"named"`
		Dur     time.Duration `json:"dur"`
		NoTag   string
		Dash    string `json:"-"`
		Comma   string `json:",omitempty"`
		Weird   string `json:"a b!"`
		private string
	}
	// fuzzFlat has no time: no lenient decode.
	fuzzFlat struct {
		Service string   `json:"service"`
		Status  int      `json:"status"`
		Tags    []string `json:"tags"`
	}
)

var decodeSeeds = []string{
	`{"schema":"R:1","data":{"s":"x","n":-1,"i8":127,"u16":65535,"u":18446744073709551615,"f32":1.5,"f":-0.0,"b":true,"p":{"a":1,"s":"y","kids":[{"a":2}]},"in":{"a":3},"tags":["a","b"],"ns":[1,2],"ps":[null,{"a":4}],"t":"2026-12-05T12:00:00Z","pt":"2026-12-05T12:00:00.123456+02:00","named":"n","dur":5,"NoTag":"x","Dash":"no","Comma":"c","a b!":"w"}}`,
	`{"schema":"R:1","data":{"t":"2026-12-05T12:00:00.123456","pt":"2026-12-05T12:00:00"}}`,
	`{"schema":"R:1","data":{"s":null,"n":null,"p":null,"tags":null,"in":null,"t":null,"pt":null,"b":null}}`,
	`{"data":{"s":"x"},"schema":"R:1","other":[1,{"x":null}]}`,
	`{"schema":"R:1","data":{"S":"x","N":1}}`,
	`{"schema":"R:1","data":{"ſ":"x"}}`,
	`{"schema":"R:1","data":{"s":"\u00e9\ud83d\ude00\ud800 \"\\\/\b\f\n\r\t","tags":["` + "\xff\xfe" + `"]}}`, // invalid UTF-8
	`{"schema":"R:1","data":{"s":"a","s":"b","in":{"a":1},"in":{"s":"z"}}}`,
	`{"schema":"R:1","data":{"tags":["a"],"tags":["b","c"]}}`,
	`{"schema":"R:1","data":{"n":1.0}}`,
	`{"schema":"R:1","data":{"n":1e2}}`,
	`{"schema":"R:1","data":{"i8":128}}`,
	`{"schema":"R:1","data":{"u16":-1}}`,
	`{"schema":"R:1","data":{"f32":1e39}}`,
	`{"schema":"R:1","data":{"f":1e400}}`,
	`{"schema":"R:1","data":{"n":123456789012345678901234567890}}`,
	`{"schema":"R:1","data":{"s":1}}`,
	`{"schema":"R:1","data":{"b":"true"}}`,
	`{"schema":"R:1","data":{"tags":"a"}}`,
	`{"schema":"R:1","data":{"p":[]}}`,
	`{"schema":"R:1","data":{"t":"yesterday"}}`,
	`{"schema":"R:1","data":null}`,
	`{"schema":"R:1","data":null,"data":{"s":"x"}}`,
	`{"schema":"R:1","data":{"s":"x"},"data":{"n":1}}`,
	`{"schema":"","data":{}}`,
	`{"schema":null,"data":{}}`,
	`{"schema":"R:1","schema":null,"data":{}}`,
	`{"schema":1,"data":{}}`,
	`{"SCHEMA":"R:1","Data":{}}`,
	`{"sch\u0065ma":"R:\u0031","data":{"\u0073":"x"}}`,
	`{"data":{}}`,
	`{"schema":"R:1","data":{}} x`,
	`{"schema":"R:1","data":{"s":"x",}}`,
	`{"schema":"R:1","data":[]}`,
	`[]`,
	`null`,
	` { "schema" : "R:1" , "data" : { "tags" : [ "a" , "b" ] , "ns" : [ ] } } `,
	`{"schema":"R:1","data":{"service":"api","status":200,"tags":["x"],"added":{"by":"python"}}}`,
	`{"schema":"R:1","data":{"in":{"kids":[{"kids":[{"a":1}]}]}}}`,
}

// referenceDecode is what a typed subscription decoded before the fast
// decoder, with encoding/json for the JSON library: the envelope and its
// data in one Unmarshal, Python's datetimes on a second try.
func referenceDecode[T any](value []byte) (string, T, error) {
	var e struct {
		Schema string `json:"schema"`
		Data   *T     `json:"data"`
	}
	err := json.Unmarshal(value, &e)
	if err != nil && holdsTime(reflect.TypeFor[T]()) {
		e.Schema, e.Data = "", nil
		err = lenientUnmarshal(value, &e)
	}
	var zero T
	if err != nil {
		return "", zero, err
	}
	if e.Schema == "" || e.Data == nil {
		return "", zero, errNoEnvelope
	}
	return e.Schema, *e.Data, nil
}

var errNoEnvelope = &ValidationError{Schema: "reference"}

func checkDecode[T any](t *testing.T, value []byte) {
	dec, err := newDecoder[T](&Router{})
	require.NoError(t, err)
	app := &Application{}
	var msg Message[T]
	gotErr := dec(app, &Record{Value: value}, &msg)
	schema, want, wantErr := referenceDecode[T](value)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json's %v", value, gotErr, wantErr)
	}
	if wantErr == nil {
		assert.Equal(t, schema, msg.Schema, "%s", value)
		assert.True(t, reflect.DeepEqual(want, msg.Data), "%s:\n got %#v\nwant %#v", value, msg.Data, want)
	}
	// What the fast decoder decodes alone, encoding/json decodes alike.
	var data T
	if schema, ok := newFastDecoder(reflect.TypeFor[T]()).decodeEnvelope(value, unsafe.Pointer(&data)); ok {
		require.NoError(t, wantErr, "%s: fast decoder accepts what encoding/json refuses", value)
		assert.Equal(t, schema, msg.Schema, "%s", value)
		assert.True(t, reflect.DeepEqual(want, data), "%s: fast decoder:\n got %#v\nwant %#v", value, data, want)
	}
}

// FuzzDecodeEnvelope: a typed subscription decodes every message as
// encoding/json does (with Python's datetimes on a second try), whether
// the fast decoder or the JSON library decodes it: the same error-ness,
// the same schema and data.
//
//	go test -run '^$' -fuzz FuzzDecodeEnvelope ./core/
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		checkDecode[fuzzRecord](t, value)
		checkDecode[fuzzFlat](t, value)
	})
}

// The fast decoder decodes the usual messages itself (so that the fuzz
// test compares something), and declines types it does not know.
func TestFastDecoderDecidesUsualMessages(t *testing.T) {
	fast := newFastDecoder(reflect.TypeFor[fuzzRecord]())
	require.NotNil(t, fast)
	for _, i := range []int{0, 2, 3, 6, 36, 38} {
		var data fuzzRecord
		_, ok := fast.decodeEnvelope([]byte(decodeSeeds[i]), unsafe.Pointer(&data))
		assert.True(t, ok, decodeSeeds[i])
	}
	for _, i := range []int{1, 4, 5, 8, 9, 13, 21, 22, 23, 28, 31} {
		var data fuzzRecord
		_, ok := fast.decodeEnvelope([]byte(decodeSeeds[i]), unsafe.Pointer(&data))
		assert.False(t, ok, decodeSeeds[i])
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[struct{ M map[string]int }](),
		reflect.TypeFor[struct{ A any }](),
		reflect.TypeFor[struct{ B []byte }](),
		reflect.TypeFor[struct{ N json.Number }](),
		reflect.TypeFor[struct{ A [2]int }](),
		reflect.TypeFor[struct{ fuzzInner }](),
		reflect.TypeFor[struct {
			N int `json:"n,string"`
		}](),
		reflect.TypeFor[struct{ IP interface{ String() string } }](),
		reflect.StructOf([]reflect.StructField{ // two fields named "x"
			{Name: "A", Type: reflect.TypeFor[string](), Tag: `json:"x"`},
			{Name: "B", Type: reflect.TypeFor[string](), Tag: `json:"x"`},
		}),
		reflect.TypeFor[map[string]int](),
	} {
		assert.Nil(t, newFastDecoder(typ), "%s", typ)
	}
}

func TestDecodeSeeds(t *testing.T) {
	for _, s := range decodeSeeds {
		checkDecode[fuzzRecord](t, []byte(s))
		checkDecode[fuzzFlat](t, []byte(s))
	}
}

// Nested values are read again at each level; the budget keeps that
// linear in the message's size. Without it, this message (arrays of
// objects of arrays, 40 deep) took exponential time: the fuzz test hung.
func TestFastDecoderNestedStaysLinear(t *testing.T) {
	value := `{"schema":"R:1","data":{"in":` + strings.Repeat(`{"kids":[`, 40) + `{"a":1}` + strings.Repeat(`]}`, 40) + `}}`
	checkDecode[fuzzRecord](t, []byte(value))
}
