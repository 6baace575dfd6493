package collector

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanEnvelopePicksTheFields(t *testing.T) {
	v := []byte(` {"data": {"level": 30, "logger":"api\u002ev1", "nested":{"level":99,"service":"no"},"service":"api-server","x":[1,-2.5e3,"s",true,false,null]}, "schema":"PydanticLogModel:1"} `)
	var h head
	require.NoError(t, scanEnvelope(v, &h))
	assert.Equal(t, "PydanticLogModel:1", string(h.schema))
	assert.Equal(t, 30, h.level)
	assert.True(t, h.escaped)
	assert.Equal(t, "api.v1", unquote(h.logger))
	assert.Equal(t, "api-server", string(h.service))
	assert.True(t, strings.HasPrefix(string(h.data), `{"level": 30`))
	assert.True(t, json.Valid(h.data))
}

func TestScanEnvelopeAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range scanCorpus {
		var h head
		err := scanEnvelope([]byte(v), &h)
		isObject := strings.HasPrefix(strings.TrimLeft(v, " \t\r\n"), "{")
		if json.Valid([]byte(v)) && isObject {
			assert.NoError(t, err, "%q", v)
		} else {
			assert.Error(t, err, "%q", v)
		}
	}
}

var scanCorpus = []string{
	`{}`, `{"schema":"a:1","data":{}}`, `{"a":1}`, `{"a":[]}`, `{"a":[1,2]}`, `{"a":{"b":{"c":[{}]}}}`,
	`{"a":-0}`, `{"a":0.5}`, `{"a":1e5}`, `{"a":1E+5}`, `{"a":1e-5}`, `{"a":"\u00e9\n\t\"\\\/"}`,
	`{"a":"` + strings.Repeat("long string é ", 40) + `"}`,
	`[]`, `"x"`, `1`, `null`, ``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`,
	`{"a":"x` + "\n" + `"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"unterminated}`,
	`{"a":1}x`, `{"a":1}{}`, `{"a":[1,]}`, `{"a":[,1]}`, `{'a':1}`, `{"a":1}` + "\n",
	`{"a":"` + strings.Repeat(`\\`, 9) + `"}`, `{"a":"` + strings.Repeat(`\\`, 8) + `"}`,
	`{"data":"not an object","schema":"x"}`, `{"schema":1,"data":{}}`,
}

func FuzzScanEnvelope(f *testing.F) {
	for _, v := range scanCorpus {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var h head
		err := scanEnvelope(v, &h)
		var m map[string]json.RawMessage
		stdErr := json.Unmarshal(v, &m)
		if stdErr == nil && m == nil {
			stdErr = errSyntax // null: not an object
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("scan: %v, encoding/json: %v, for %q", err, stdErr, v)
		}
		if err != nil {
			return
		}
		var schema string
		if json.Unmarshal(m["schema"], &schema) == nil && m["schema"] != nil {
			got := string(h.schema)
			if h.escaped {
				got = unquote(h.schema)
			}
			if got != schema && utf8.ValidString(got) {
				t.Fatalf("schema %q, want %q", got, schema)
			}
		}
		if d, ok := m["data"]; ok && string(h.data) != string(d) {
			t.Fatalf("data %q, want %q", h.data, d)
		}
	})
}
