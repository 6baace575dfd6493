package core

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Types whose schemas the fast check is tried on: every keyword of the
// subset, and constraints it leaves to the validator.
type (
	fastInner struct {
		A int     `json:"a"`
		B *string `json:"b,omitempty"`
	}
	fastWide struct {
		S   string            `json:"s"`
		I   int               `json:"i"`
		U   uint8             `json:"u"`
		F   float64           `json:"f"`
		Bo  bool              `json:"bo"`
		T   time.Time         `json:"t"`
		P   *fastInner        `json:"p"`
		L   []fastInner       `json:"l"`
		M   map[string]int    `json:"m"`
		A   any               `json:"a"`
		By  []byte            `json:"by"`
		Arr [2]int            `json:"arr"`
		O   string            `json:"o,omitempty"`
		MM  map[string][]bool `json:"mm,omitempty"`
	}
	fastChecked struct {
		Service string `json:"service" jsonschema:"minLength=1"`
		Method  string `json:"method" jsonschema:"enum=GET,enum=POST"`
		Status  int    `json:"status" jsonschema:"minimum=100,maximum=599"`
		Inner   fastInner
	}
	fastTree struct {
		Name     string      `json:"name"`
		Children []*fastTree `json:"children"`
	}
)

// fastSchemas are the schemas of the types above, and a document written
// by hand.
func fastSchemas(t testing.TB) []*Schema {
	t.Helper()
	wide, err := NewSchema[fastWide](nil)
	require.NoError(t, err)
	checked, err := NewSchema[fastChecked](nil)
	require.NoError(t, err)
	tree, err := NewSchema[fastTree](nil)
	require.NoError(t, err)
	doc, err := CompileSchema(SchemaOptions{ID: "Doc"}, []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema",
		"type":"object","required":["id"],"properties":{"id":{"type":["integer","string"]},"xs":{"type":"array","items":{"type":"number"},"minItems":1,"maxItems":3}},
		"additionalProperties":{"type":"string"}}`))
	require.NoError(t, err)
	return []*Schema{wide, checked, tree, doc}
}

var fastSeeds = []string{
	`{"s":"x","i":1,"u":2,"f":1.5,"bo":true,"t":"2026-12-05T12:00:00Z","p":{"a":1,"b":"x"},"l":[{"a":1},{"a":2,"b":null}],"m":{"k":1},"a":[1,"x"],"by":"AAE=","arr":[1,2],"o":"o","mm":{"k":[true]}}`,
	`{"s":"x","i":1,"u":2,"f":1.5,"bo":true,"t":"2026-12-05T12:00:00","p":null,"l":null,"m":null,"a":null,"by":null,"arr":[1,2],"extra":{"deep":[1]}}`,
	`{"s":"x","i":1.0,"u":2,"f":1,"bo":false,"t":"x","p":null,"l":[],"m":{},"a":1,"by":"","arr":[1,2]}`,
	`{"s":"x","i":1e2,"u":-1,"f":-0,"bo":false,"t":"","p":{"a":1},"l":[],"m":{"a":1.5},"a":1,"by":"","arr":[1]}`,
	`{"s":"x","s":1,"i":1,"u":2,"f":1,"bo":true,"t":"","p":null,"l":null,"m":null,"a":1,"by":null,"arr":[1,2]}`,
	`{"\u0073":"x","i":1,"u":2,"f":1,"bo":true,"t":"","p":null,"l":null,"m":null,"a":1,"by":null,"arr":[1,2]}`,
	`{"s":"x","i":1,"u":2,"f":1,"bo":true,"t":"","p":null,"l":null,"m":null,"a":1,"by":null,"arr":[1,2,3]}`,
	`{"S":"x","i":1,"u":2,"f":1,"bo":true,"t":"","p":null,"l":null,"m":null,"a":1,"by":null,"arr":[1,2]}`,
	`{"s":"\xff","i":123456789012345678901234567890,"u":2,"f":1e400,"bo":true,"t":"","p":null,"l":null,"m":null,"a":1,"by":null,"arr":[1,2]}`,
	`{"service":"a","method":"GET","status":200,"Inner":{"a":1}}`,
	`{"service":"","method":"PUT","status":99,"Inner":{"a":1,"b":"x"}}`,
	`{"name":"a","children":[{"name":"b","children":null},{"name":"c","children":[]}]}`,
	`{"name":"a","children":[{"name":"b"}]}`,
	`{"id":1,"xs":[1,2.5],"other":"x"}`,
	`{"id":"1","xs":[],"other":1}`,
	`{"id":true}`,
	`{"id":1} x`,
	`[1,2]`,
	`null`,
	`"x"`,
	``,
	` { "id" : 1 , "xs" : [ 1 , 2 ] } `,
}

// FuzzFastSchema: the fast check never accepts what the validator
// refuses, for published (closed) and consumed (open) data alike.
//
//	go test -run '^$' -fuzz FuzzFastSchema ./core/
func FuzzFastSchema(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	schemas := fastSchemas(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range schemas {
			if s.fast != nil && s.fast.valid(data) {
				assert.NoError(t, s.validate(s.compiled, nil, data), "%s accepted by the fast check: %s", s.key, data)
			}
			if s.fastConsumed != nil && s.fastConsumed.valid(data) {
				assert.NoError(t, s.validate(s.consumed, nil, data), "%s accepted by the fast check when consumed: %s", s.key, data)
			}
		}
	})
}

// The fast check is compiled for the generated documents and decides the
// common messages itself; what it does not know, it leaves to the
// validator (a constraint, an integer spelled 1.0, a repeated key).
func TestFastSchemaDecidesCommonMessages(t *testing.T) {
	schemas := fastSchemas(t)
	wide, checked, tree, doc := schemas[0], schemas[1], schemas[2], schemas[3]
	for _, s := range schemas {
		require.NotNil(t, s.fast, s.key)
		require.NotNil(t, s.fastConsumed, s.key)
	}
	for _, tt := range []struct {
		s         *Schema
		data      string
		fast      bool // decided by the fast check when consumed
		published bool // and when published (closed objects)
	}{
		{wide, fastSeeds[0], true, true},
		{wide, fastSeeds[1], true, false}, // "extra" is unknown
		{wide, fastSeeds[2], false, false},
		{wide, fastSeeds[4], false, false},
		{wide, fastSeeds[5], true, true},
		{wide, fastSeeds[6], false, false}, // maxItems
		{checked, fastSeeds[9], false, false},
		{tree, fastSeeds[11], true, true},
		{doc, fastSeeds[13], true, true},
		{doc, fastSeeds[21], true, true},
		{doc, fastSeeds[14], false, false}, // minItems, and "other" is not a string

	} {
		assert.Equal(t, tt.fast, tt.s.fastConsumed.valid([]byte(tt.data)), "consumed %s: %s", tt.s.key, tt.data)
		assert.Equal(t, tt.published, tt.s.fast.valid([]byte(tt.data)), "published %s: %s", tt.s.key, tt.data)
	}
}

// Every seed gets the same verdict and the same problems with the fast
// check as without it.
func TestFastSchemaSameVerdicts(t *testing.T) {
	for _, s := range fastSchemas(t) {
		for _, data := range fastSeeds {
			for _, consumed := range []bool{false, true} {
				compiled, fast := s.compiled, s.fast
				if consumed {
					compiled, fast = s.consumed, s.fastConsumed
				}
				want := s.validate(compiled, nil, []byte(data))
				got := s.validate(compiled, fast, []byte(data))
				if want == nil {
					assert.NoError(t, got, "%s consumed=%v: %s", s.key, consumed, data)
					continue
				}
				var wantVE, gotVE *ValidationError
				require.ErrorAs(t, want, &wantVE)
				require.ErrorAs(t, got, &gotVE, "%s consumed=%v: %s", s.key, consumed, data)
				// The validator lists unknown keys in map order: compare
				// where the problems are.
				assert.Equal(t, problemFields(wantVE), problemFields(gotVE), "%s consumed=%v: %s", s.key, consumed, data)
			}
		}
	}
}

func problemFields(ve *ValidationError) []string {
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	return fields
}

// A document the fast check cannot follow gets none.
func TestFastSchemaNotForOtherDocuments(t *testing.T) {
	for _, doc := range []string{
		`{"type":"object"}`, // no $schema: the validator's default draft
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://x/y","type":"object"}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/missing"}`,
	} {
		assert.Nil(t, newFastSchema([]byte(doc)), doc)
	}
}

// A value read under two "anyOf" branches at each level would take
// exponential time without the budget (as it does in the validator: this
// test calls the fast check alone).
func TestFastSchemaNestedStaysLinear(t *testing.T) {
	s, err := CompileSchema(SchemaOptions{ID: "Nest"}, []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/n",
		"$defs":{"n":{"anyOf":[{"type":"object","properties":{"k":{"$ref":"#/$defs/n"}},"required":["x"]},{"type":"object","properties":{"k":{"$ref":"#/$defs/n"}}}]}}}`))
	require.NoError(t, err)
	require.NotNil(t, s.fastConsumed)
	data := strings.Repeat(`{"k":`, 60) + `{}` + strings.Repeat(`}`, 60)
	assert.False(t, s.fastConsumed.valid([]byte(data)), "unsure once the budget is spent")
	assert.True(t, s.fastConsumed.valid([]byte(`{"k":{"k":{}}}`)))
}
