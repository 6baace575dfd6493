package core

import (
	"bytes"
	stdjson "encoding/json"
	"math/rand"
	"net"
	"reflect"
	"testing"
	"testing/quick"
	"time"

	fastjson "github.com/segmentio/encoding/json"
)

type FJInner struct {
	A int               `json:"a"`
	B *string           `json:"b,omitempty"`
	M map[string]uint16 `json:"m"`
}

type FJEmbedded struct {
	E1 string `json:"e1"`
	E2 []int8
}

type fjWide struct {
	FJEmbedded
	Bool    bool                `json:"bool"`
	I       int                 `json:"i"`
	I8      int8                `json:"i8"`
	I64     int64               `json:"i64"`
	U       uint                `json:"u"`
	U64     uint64              `json:"u64"`
	F32     float32             `json:"f32"`
	F64     float64             `json:"f64"`
	S       string              `json:"s"`
	Bytes   []byte              `json:"bytes"`
	Strs    []string            `json:"strs"`
	Arr     [3]int16            `json:"arr"`
	Ptr     *FJInner            `json:"ptr"`
	Inner   FJInner             `json:"inner"`
	Items   []FJInner           `json:"items"`
	Map     map[string]*FJInner `json:"map"`
	IntKeys map[int]string      `json:"int_keys"`
	Omit    string              `json:"omit,omitempty"`
	NoTag   int
}

// edgeValue holds what random generation rarely hits, and the types where
// the two libraries are known to part.
type edgeValue struct {
	S    string             `json:"s"`
	F    float64            `json:"f"`
	T    time.Time          `json:"t"`
	Raw  stdjson.RawMessage `json:"raw"`
	IP   net.IP             `json:"ip"`
	Num  stdjson.Number     `json:"num"`
	Any  any                `json:"any"`
	Dur  time.Duration      `json:"dur"`
	Keys map[string]int     `json:"keys"`
}

func encodeBoth(t *testing.T, v any) (std, fast []byte) {
	t.Helper()
	var a, b bytes.Buffer
	se := stdjson.NewEncoder(&a)
	se.SetEscapeHTML(false)
	fe := fastjson.NewEncoder(&b)
	fe.SetEscapeHTML(false)
	errA, errB := se.Encode(v), fe.Encode(v)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("encoding/json error %v, segmentio error %v, for %#v", errA, errB, v)
	}
	return a.Bytes(), b.Bytes()
}

// segmentio/encoding writes what encoding/json writes for plain data, but
// not for every type: publish keeps encoding/json, because the envelope is
// a byte-for-byte contract. This pins the differences, so that a release
// that removes them is noticed.
func TestFastJSONWritesDifferently(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 3000 {
		v, ok := quick.Value(reflect.TypeFor[fjWide](), rng)
		if !ok {
			t.Fatal("quick.Value failed")
		}
		std, fast := encodeBoth(t, v.Interface())
		if !bytes.Equal(std, fast) {
			t.Fatalf("value %d:\nencoding/json: %s\nsegmentio:     %s", i, std, fast)
		}
	}
	for _, tt := range []struct {
		v         any
		std, fast string
	}{
		{time.Second, "1000000000", `"1s"`},
		{stdjson.RawMessage(`{"b": [1, 2]}`), `{"b":[1,2]}`, `{"b": [1, 2]}`},
	} {
		std, fast := encodeBoth(t, tt.v)
		if string(bytes.TrimSpace(std)) != tt.std || string(bytes.TrimSpace(fast)) != tt.fast {
			t.Errorf("%T: encoding/json %s (want %s), segmentio %s (want %s)", tt.v, std, tt.std, fast, tt.fast)
		}
	}
}

// Decoding with segmentio/encoding must read what encoding/json writes,
// into the same values, for every type a handler may use.
func TestFastJSONReadsWhatEncodingJSONWrites(t *testing.T) {
	str := "html <a href=\"x\">&</a> \u2028\u2029 ctrl \x01\x1f tab\t nl\n bad utf8 \xff\xfe é 😀"
	for _, v := range []edgeValue{
		{S: str, F: 1e21, T: time.Date(2026, 11, 21, 15, 4, 5, 123456789, time.UTC), Raw: stdjson.RawMessage(`{"b":[1,2]}`), IP: net.ParseIP("10.0.0.1"), Num: "12.50", Any: map[string]any{"z": 1.0, "a": []any{"x", nil, 2.5}}, Dur: time.Second, Keys: map[string]int{"b": 2, "a": 1, "é": 3}},
		{F: 1e-7, T: time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), Num: "0", Dur: -time.Hour},
		{F: 123456789.125, Any: 9.5e18, Num: "1e3"},
	} {
		data, err := stdjson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var a, b edgeValue
		if err := stdjson.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if err := fastjson.Unmarshal(data, &b); err != nil {
			t.Fatalf("segmentio refused %s: %v", data, err)
		}
		if !a.T.Equal(b.T) {
			t.Errorf("time: encoding/json %v, segmentio %v", a.T, b.T)
		}
		a.T, b.T = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("decoded differently from %s:\nencoding/json: %+v\nsegmentio:     %+v", data, a, b)
		}
	}
}

// Decoding with segmentio/encoding must read what encoding/json reads.
func TestFastJSONReadsRandomValuesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for range 2000 {
		v, _ := quick.Value(reflect.TypeFor[fjWide](), rng)
		data, err := stdjson.Marshal(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		var a, b fjWide
		if err := stdjson.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if err := fastjson.Unmarshal(data, &b); err != nil {
			t.Fatalf("segmentio refused %s: %v", data, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("decoded differently from %s:\nencoding/json: %+v\nsegmentio:     %+v", data, a, b)
		}
	}
}
