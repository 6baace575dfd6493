package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// valid walks one whole value.
func valid(b []byte) error {
	s := New(b)
	s.WS()
	if !s.Skip() {
		return s.Err()
	}
	return s.End()
}

// member is one key and raw value of an object, as the walk reads them.
type member struct{ key, value string }

// members walks a top-level object with Object/More/Key, reading nested
// objects with the same calls, so that their bookkeeping is tested too.
func members(b []byte) ([]member, error) {
	s := New(b)
	s.WS()
	if !s.Object() {
		return nil, s.Err()
	}
	var out []member
	for s.More() {
		key, esc, ok := s.Key()
		if !ok {
			return nil, s.Err()
		}
		start := s.Pos()
		if s.Peek() == '{' {
			if !walkObject(&s) {
				return nil, s.Err()
			}
		} else if !s.Skip() {
			return nil, s.Err()
		}
		out = append(out, member{Text(key, esc), string(b[start:s.Pos()])})
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return out, s.End()
}

func walkObject(s *Scanner) bool {
	if !s.Object() {
		return false
	}
	for s.More() {
		if _, _, ok := s.Key(); !ok {
			return false
		}
		if s.Peek() == '{' {
			if !walkObject(s) {
				return false
			}
		} else if !s.Skip() {
			return false
		}
	}
	return s.Err() == nil
}

var corpus = []string{
	`{}`, `{"schema":"a:1","data":{}}`, `{"a":1}`, `{"a":[]}`, `{"a":[1,2]}`, `{"a":{"b":{"c":[{}]}}}`,
	`{"a":{},"b":{"c":{}},"d":1}`, `{"a":{"x":1},"b":2}`, ` { "a" : { } , "b" : [ ] } `,
	`{"a":-0}`, `{"a":0.5}`, `{"a":1e5}`, `{"a":1E+5}`, `{"a":1e-5}`, `{"a":"\u00e9\n\t\"\\\/"}`,
	`{"a":"` + strings.Repeat("long string é ", 40) + `"}`,
	`{"\u0061":1,"a\"b":2}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\ud83dx"}`, `{"a":"\ude00\ud83d"}`,
	`{"a":"\ud83d\u0041"}`, `{"a":"\uDBFF\uDFFF"}`, "{\"a\":\"\xff\xfe\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"\xc3\":1}",
	`[]`, `"x"`, `1`, `null`, `true`, ``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`,
	`{"a":"x` + "\n" + `"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"unterminated}`,
	`{"a":1}x`, `{"a":1}{}`, `{"a":[1,]}`, `{"a":[,1]}`, `{'a':1}`, `{"a":1}` + "\n",
	`{"a":"` + strings.Repeat(`\\`, 9) + `"}`, `{"a":"` + strings.Repeat(`\\`, 8) + `"}`,
	`{"data":"not an object","schema":"x"}`, `{"schema":1,"data":{}}`, `{"a":{"b":1,}}`, `{"a":{"b":1 "c":2}}`,
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001), strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
	`{"a":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10001),
}

// The scanner accepts exactly what encoding/json accepts.
func TestSkipAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range corpus {
		err := valid([]byte(v))
		if want := json.Valid([]byte(v)); (err == nil) != want {
			t.Errorf("valid(%.80q) = %v, want valid %v", v, err, want)
		}
	}
}

// skipValid is valid on the offset functions of skip.go.
func skipValid(b []byte) bool {
	i := SkipValue(b, SkipWS(b, 0), 0)
	return i >= 0 && SkipWS(b, i) == len(b)
}

// boundaryStrings are strings whose byte of note (a quote, an escape, a
// control character, a byte above 0x7f) falls at every place of the
// eight-byte words SkipString reads, and at the input's end.
func boundaryStrings() []string {
	var out []string
	for n := range 18 {
		pad := strings.Repeat("a", n)
		for _, c := range []string{`\n`, `\u0041`, `\u00`, "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xff", `\"`, `\\`, `\q`, "\t", `"`} {
			out = append(out, `"`+pad+c+pad+`"`, `["`+pad+c+`"]`, `"`+pad+c)
		}
		out = append(out, `"`+pad+`"`, `"`+pad, `{"`+pad+`":"`+pad+`"}`)
	}
	return out
}

// The offset functions accept exactly what encoding/json accepts, and
// SkipString ends a string where the Scanner does.
func TestSkipValueAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range append(boundaryStrings(), corpus...) {
		if got, want := skipValid([]byte(v)), json.Valid([]byte(v)); got != want {
			t.Errorf("skipValid(%.80q) = %v, want %v", v, got, want)
		}
		compareText(t, []byte(v))
	}
}

// An object's members, keys decoded, values as in the input, are what
// encoding/json decodes into a map (the last of a repeated key).
func TestMembersAgreeWithEncodingJSON(t *testing.T) {
	for _, v := range corpus {
		compareMembers(t, []byte(v))
	}
}

func compareMembers(t *testing.T, v []byte) {
	t.Helper()
	got, err := members(v)
	var want map[string]json.RawMessage
	stdErr := json.Unmarshal(v, &want)
	if stdErr == nil && want == nil {
		stdErr = errors.New("null is not an object")
	}
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("members(%.80q): %v; encoding/json: %v", v, err, stdErr)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset > len(v) {
			t.Fatalf("members(%.80q): %v, want a *SyntaxError within the input", v, err)
		}
		return
	}
	last := map[string]string{}
	for _, m := range got {
		last[m.key] = m.value
	}
	if len(last) != len(want) {
		t.Fatalf("members(%.80q) = %q, want %q", v, got, want)
	}
	for k, w := range want {
		if g, ok := last[k]; !ok || g != string(w) {
			t.Fatalf("members(%.80q)[%q] = %q, want %q", v, k, g, w)
		}
	}
}

// String's raw content, unquoted, is the string encoding/json decodes.
func TestTextAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range []string{
		`""`, `"plain"`, `"é"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\ud83d\ude00"`,
		`"\ude00"`, `"\ud83d\u0041"`, `"\b\f\n\r\t\"\\\/"`, "\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"",
		`"\u0000"`, `"` + strings.Repeat(`x\n`, 30) + `"`,
	} {
		compareText(t, []byte(v))
	}
}

func compareText(t *testing.T, v []byte) {
	t.Helper()
	s := New(v)
	raw, esc, ok := s.String()
	var want string
	stdErr := json.Unmarshal(v, &want)
	if ok && s.End() == nil {
		if stdErr != nil {
			t.Fatalf("String(%q) accepted what encoding/json refuses: %v", v, stdErr)
		}
		if got := Text(raw, esc); got != want {
			t.Fatalf("Text(%q) = %q, want %q", v, got, want)
		}
		if got := Unescaped(raw, esc); string(got) != want {
			t.Fatalf("Unescaped(%q) = %q, want %q", v, got, want)
		}
		return
	}
	if stdErr == nil && bytes.HasPrefix(v, []byte(`"`)) {
		t.Fatalf("String(%q) refused what encoding/json accepts: %v", v, s.Err())
	}
}

func TestSyntaxErrorsNameTheByte(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{``, "invalid JSON: unexpected end"},
		{`{"a":1`, "invalid JSON: unexpected end"},
		{`{"a":"x`, "invalid JSON: unexpected end"},
		{`{"a":tru}`, `invalid JSON: unexpected '}' at byte 8`},
		{`{"a":1,}`, `invalid JSON: unexpected '}' at byte 7`},
		{`{"a":"\x"}`, `invalid JSON: unexpected 'x' at byte 7`},
		{`{"a":1}x`, `invalid JSON: unexpected 'x' at byte 7`},
	} {
		err := valid([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("valid(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

// The walk of an object allocates nothing.
func TestScanAllocs(t *testing.T) {
	v := []byte(`{"schema":"PydanticLogModel:1","data":{"logger":"a\"b","level":20,"x":[1,{"y":null}],"z":"` + strings.Repeat("é", 40) + `"}}`)
	if n := testing.AllocsPerRun(100, func() {
		s := New(v)
		if !walkObject(&s) || s.End() != nil {
			t.Fatal(s.Err())
		}
	}); n != 0 {
		t.Errorf("the walk of an object allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if valid(v) != nil {
			t.Fatal("invalid")
		}
	}); n != 0 {
		t.Errorf("Skip allocates %v times, want 0", n)
	}
}

func FuzzScan(f *testing.F) {
	for _, v := range append(boundaryStrings(), corpus...) {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if err := valid(v); (err == nil) != json.Valid(v) {
			t.Fatalf("valid(%q) = %v, encoding/json.Valid %v", v, err, json.Valid(v))
		}
		if got, want := skipValid(v), json.Valid(v); got != want {
			t.Fatalf("skipValid(%q) = %v, encoding/json.Valid %v", v, got, want)
		}
		compareMembers(t, v)
		compareText(t, v)
	})
}
