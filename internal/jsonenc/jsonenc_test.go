package jsonenc

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Strings are written as orjson writes them: the vectors in testdata are
// orjson's own output for random strings of every character class JSON
// escapes, U+2028 and U+2029 among them.
func TestStringsAsOrjsonWritesThem(t *testing.T) {
	f, err := os.Open("testdata/orjson_strings.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		var c struct {
			S      string `json:"s"`
			Orjson string `json:"orjson"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("testdata line %q: %v", line, err)
		}
		want, err := base64.StdEncoding.DecodeString(c.Orjson)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, struct {
			S string `json:"s"`
		}{c.S})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%q:\n got %q\nwant %q (orjson)", c.S, got, want)
		}
		n++
	}
	if n < 300 {
		t.Fatalf("read %d vectors, want at least 300", n)
	}
}

func TestRawLineSeparators(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{``, ``},
		{`"plain"`, `"plain"`},
		{`"\u2028"`, "\"\u2028\""},
		{`"a\u2029b\u2028"`, "\"a\u2029b\u2028\""},
		{`"\\u2028"`, `"\\u2028"`},       // an escaped backslash, then text
		{`"\\\u2028"`, "\"\\\\\u2028\""}, // an escaped backslash, then the escape
		{`"\n\u2028\"\u2029"`, "\"\\n\u2028\\\"\u2029\""},
		{`"\u202a"`, `"\u202a"`},
		{`{"a":"\u2028","b":"\u2027"}`, "{\"a\":\"\u2028\",\"b\":\"\\u2027\"}"},
	} {
		if got := string(RawLineSeparators([]byte(tt.in))); got != tt.want {
			t.Errorf("RawLineSeparators(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A json.RawMessage's escapes are rewritten too: the value is the same.
func TestRawMessageLineSeparators(t *testing.T) {
	got, err := Append(nil, map[string]json.RawMessage{"r": json.RawMessage(`"x\u2028"`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"r\":\"x\u2028\"}"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
