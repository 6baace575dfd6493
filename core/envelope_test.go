package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envFoo is the Python kafkaesk README's model: class Foo(BaseModel): bar: str.
type envFoo struct {
	Bar string `json:"bar"`
}

// envBounded is not valid by construction, so encodeEnvelope validates it.
type envBounded struct {
	N int `json:"n" jsonschema:"minimum=1"`
}

// envAttrs is a named map: it encodes as a JSON object, and a nil one as null.
type envAttrs map[string]string

func TestAppendEnvelope(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dst    []byte
		schema string
		data   string
		want   string
	}{
		{"golden", nil, "Foo:1", `{"bar":"foo"}`, `{"schema":"Foo:1","data":{"bar":"foo"}}`},
		{"empty object", nil, "Foo:2", `{}`, `{"schema":"Foo:2","data":{}}`},
		{"appends to dst", []byte("prefix|"), "Foo:1", `{"bar":"foo"}`, `prefix|{"schema":"Foo:1","data":{"bar":"foo"}}`},
		{"data kept byte for byte", nil, "Foo:1", `{"b":"<a&b>","a":1e+21}`, `{"schema":"Foo:1","data":{"b":"<a&b>","a":1e+21}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendEnvelope(tt.dst, tt.schema, []byte(tt.data))
			assert.Equal(t, tt.want, string(got))
			assert.True(t, json.Valid(got[len(tt.dst):]), "envelope is not JSON: %s", got)
		})
	}
}

func TestEncodeEnvelope(t *testing.T) {
	foo, err := NewSchema[envFoo](&SchemaOptions{ID: "Foo"})
	require.NoError(t, err)
	require.True(t, foo.byConstruction, "envFoo is valid by construction")

	for _, tt := range []struct {
		name  string
		value any
		want  string
	}{
		{"golden", envFoo{Bar: "foo"}, `{"schema":"Foo:1","data":{"bar":"foo"}}`},
		{"pointer", &envFoo{Bar: "foo"}, `{"schema":"Foo:1","data":{"bar":"foo"}}`},
		// orjson does not escape HTML characters; encoding/json does by default.
		{"HTML not escaped", envFoo{Bar: "<a&b>"}, `{"schema":"Foo:1","data":{"bar":"<a&b>"}}`},
		{"unicode kept", envFoo{Bar: "héllo ✓"}, `{"schema":"Foo:1","data":{"bar":"héllo ✓"}}`},
		{"quotes escaped", envFoo{Bar: `a"b\c`}, `{"schema":"Foo:1","data":{"bar":"a\"b\\c"}}`},
		// orjson writes U+2028 and U+2029 raw; encoding/json escapes them.
		{"line separators raw", envFoo{Bar: "a\u2028b\u2029"}, "{\"schema\":\"Foo:1\",\"data\":{\"bar\":\"a\u2028b\u2029\"}}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeEnvelope(foo, tt.value)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))

			env, err := DecodeEnvelope(got)
			require.NoError(t, err)
			assert.Equal(t, "Foo:1", env.Schema)
			var back envFoo
			require.NoError(t, json.Unmarshal(env.Data, &back))
			want := tt.value
			if p, ok := want.(*envFoo); ok {
				want = *p
			}
			assert.Equal(t, want, back)
		})
	}
}

// A type with a constraint is validated before anything is enveloped.
func TestEncodeEnvelopeValidates(t *testing.T) {
	s, err := NewSchema[envBounded](nil)
	require.NoError(t, err)
	require.False(t, s.byConstruction)

	got, err := encodeEnvelope(s, envBounded{N: 1})
	require.NoError(t, err)
	assert.Equal(t, `{"schema":"envBounded:1","data":{"n":1}}`, string(got))

	got, err = encodeEnvelope(s, envBounded{N: 0})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve, "got %s", got)
	assert.Nil(t, got)
	assert.Equal(t, "envBounded:1", ve.Schema)
	require.Len(t, ve.Problems, 1)
	assert.Equal(t, "/n", ve.Problems[0].Field)
}

// The envelope's data is always a JSON object: DecodeEnvelope refuses
// "data":null, so encodeEnvelope must not write it. Regression (fixed in
// f6ec42b): a nil *T, or a nil map of a map type, encoded as null and, its
// type being valid by construction, was enveloped without validation as
// {"data":null}.
func TestEncodeEnvelopeRefusesNil(t *testing.T) {
	foo, err := NewSchema[envFoo](&SchemaOptions{ID: "Foo"})
	require.NoError(t, err)
	attrs, err := NewSchema[envAttrs](nil)
	require.NoError(t, err)

	for _, tt := range []struct {
		name   string
		schema *Schema
		value  any
	}{
		{"nil pointer to struct", foo, (*envFoo)(nil)},
		{"nil map", attrs, envAttrs(nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeEnvelope(tt.schema, tt.value)
			require.Error(t, err, "encodeEnvelope wrote %s", got)
			assert.Nil(t, got)
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tt := range []struct {
		name       string
		value      string
		wantSchema string
		wantData   string
	}{
		{"golden", `{"schema":"Foo:1","data":{"bar":"foo"}}`, "Foo:1", `{"bar":"foo"}`},
		{"data first", `{"data":{"bar":"foo"},"schema":"Foo:1"}`, "Foo:1", `{"bar":"foo"}`},
		{"spaces kept inside data", `{ "schema": "Foo:1", "data": {"bar": "foo"} }`, "Foo:1", `{"bar": "foo"}`},
		{"extra keys ignored", `{"schema":"Foo:1","data":{},"x":1}`, "Foo:1", `{}`},
		{"python escapes", `{"schema":"Foo:1","data":{"bar":"\u00e9"}}`, "Foo:1", `{"bar":"\u00e9"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := DecodeEnvelope([]byte(tt.value))
			require.NoError(t, err)
			assert.Equal(t, tt.wantSchema, env.Schema)
			assert.Equal(t, tt.wantData, string(env.Data))
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, data := range []string{`{}`, `{"bar":"foo"}`, `{"a":[1,2,{"b":null}],"c":"<&>"}`} {
		t.Run(data, func(t *testing.T) {
			env, err := DecodeEnvelope(AppendEnvelope(nil, "Foo:3", []byte(data)))
			require.NoError(t, err)
			assert.Equal(t, Envelope{Schema: "Foo:3", Data: json.RawMessage(data)}, env)
		})
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	for _, tt := range []struct {
		name, value, want string
	}{
		{"empty", ``, "not a kafkaesk envelope"},
		{"not JSON", `schema=Foo:1`, "not a kafkaesk envelope"},
		{"truncated", `{"schema":"Foo:1","data":{"bar":`, "not a kafkaesk envelope"},
		{"array", `[{"schema":"Foo:1","data":{}}]`, "not a kafkaesk envelope"},
		{"string", `"Foo:1"`, "not a kafkaesk envelope"},
		{"schema not a string", `{"schema":1,"data":{}}`, "not a kafkaesk envelope"},
		{"missing schema", `{"data":{"bar":"foo"}}`, `no "schema"`},
		{"empty schema", `{"schema":"","data":{"bar":"foo"}}`, `no "schema"`},
		{"null schema", `{"schema":null,"data":{"bar":"foo"}}`, `no "schema"`},
		{"missing data", `{"schema":"Foo:1"}`, `no "data"`},
		{"null data", `{"schema":"Foo:1","data":null}`, `no "data"`},
		{"trailing garbage", `{"schema":"Foo:1","data":{}}x`, "not a kafkaesk envelope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := DecodeEnvelope([]byte(tt.value))
			require.Error(t, err, "decoded %+v", env)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, Envelope{}, env)
		})
	}
}

func TestScanEnvelope(t *testing.T) {
	v := []byte(` {"data": {"level": 30, "logg\u0065r":"api\u002ev1", "nested":{"level":99}}, "x":[1,-2.5e3,"s",true,false,null], "schema":"Pydantic\u004cogModel:12"} `)
	var env RawEnvelope
	var keys, values []string
	require.NoError(t, ScanEnvelope(v, &env, func(k, v []byte) { keys, values = append(keys, string(k)), append(values, string(v)) }))
	assert.Equal(t, "PydanticLogModel:12", string(env.Schema))
	assert.Equal(t, "PydanticLogModel", string(env.Name()))
	ver, ok := env.Version()
	assert.True(t, ok)
	assert.Equal(t, 12, ver)
	assert.Equal(t, `{"level": 30, "logg\u0065r":"api\u002ev1", "nested":{"level":99}}`, string(env.Data))
	assert.Equal(t, []string{"level", "logger", "nested"}, keys)
	assert.Equal(t, []string{"30", `"api\u002ev1"`, `{"level":99}`}, values)

	env = RawEnvelope{Schema: []byte("Foo")}
	assert.Equal(t, "Foo", string(env.Name()))
	_, ok = env.Version()
	assert.False(t, ok)
}

// Reading an envelope allocates nothing when nothing is escaped.
func TestScanEnvelopeAllocs(t *testing.T) {
	v := []byte(`{"schema":"PydanticLogModel:1","data":{"logger":"a\"b","level":20,"x":[1,{"y":null}]}}`)
	var env RawEnvelope
	n := 0
	count := func(k, v []byte) { n++ }
	if allocs := testing.AllocsPerRun(100, func() {
		if err := ScanEnvelope(v, &env, count); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("ScanEnvelope allocates %v times, want 0", allocs)
	}
}

// FuzzScanEnvelope compares ScanEnvelope with encoding/json: the same
// verdict, the same schema (the last string), the same data and, when
// data is an object, the same members (the last of a repeated key).
func FuzzScanEnvelope(f *testing.F) {
	for _, v := range []string{
		`{}`, `{"schema":"a:1","data":{}}`, `{"schema":"a:1","data":{"x":1,"x":2,"y":{"z":[]}}}`,
		`{"schema":"a:1","data":{"a":1},"data":{"b":2}}`, `{"schema":"a\u003a1","data":1}`, `{"schema":null,"data":{}}`,
		`{"schema":1,"data":{}}`, `{"schema":"a:1","schema":2,"data":{}}`, `{"schema":"a:1","data":null}`,
		`{"data":"not an object","schema":"x"}`, `[]`, `"x"`, `null`, ``, `{`, `{"schema":"a:1","data":{}}x`,
		"{\"schema\":\"\xae\"}", `{"schema":"a:1","data":{"\u00e9":"\ud83d"}}`,
	} {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var env RawEnvelope
		var members []string
		err := ScanEnvelope(v, &env, func(k, v []byte) { members = append(members, string(k), string(v)) })
		var m map[string]json.RawMessage
		stdErr := json.Unmarshal(v, &m)
		var schema string
		if stdErr == nil && (json.Unmarshal(m["schema"], &schema) != nil || schema == "") {
			stdErr = errors.New("no schema")
		}
		if stdErr == nil && (len(m["data"]) == 0 || string(m["data"]) == "null") {
			stdErr = errors.New("no data")
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("ScanEnvelope: %v, encoding/json: %v, for %q", err, stdErr, v)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "not a kafkaesk envelope") {
				t.Fatalf("error %q does not say what is wrong", err)
			}
			return
		}
		// A schema of invalid UTF-8 without escapes is kept as it is.
		if got := string(env.Schema); got != schema && utf8.ValidString(got) {
			t.Fatalf("schema %q, want %q", got, schema)
		}
		if string(env.Data) != string(m["data"]) {
			t.Fatalf("data %q, want %q", env.Data, m["data"])
		}
		var data map[string]json.RawMessage
		if json.Unmarshal(env.Data, &data) != nil || data == nil {
			return
		}
		// The members of the last data object come last. (A key of
		// invalid UTF-8 is kept as it is, where encoding/json replaces it.)
		last := map[string]string{}
		for i := len(members) - 2; i >= 0 && len(last) < len(data); i -= 2 {
			if !utf8.ValidString(members[i]) {
				return
			}
			if _, seen := last[members[i]]; !seen {
				last[members[i]] = members[i+1]
			}
		}
		for k, want := range data {
			if got, ok := last[k]; !ok || got != string(want) {
				t.Fatalf("member %q = %q, want %q", k, got, want)
			}
		}
	})
}
