package streamhandler_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// slogtestOptions make lines parseLine can read back: no colours, a time
// without spaces, and the source present so that empty-PC checks
// something.
var slogtestOptions = streamhandler.Options{
	Color:      streamhandler.ColorNever,
	TimeFormat: time.RFC3339Nano,
	AddSource:  true,
}

func TestSlogtest(t *testing.T) {
	var buf *bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf = new(bytes.Buffer)
		return streamhandler.New(buf, &slogtestOptions)
	}, func(t *testing.T) map[string]any {
		m, err := parseLine(buf.String())
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// TestSlogtestOneHandler runs the same cases through a single handler and
// parses all the lines at the end, slogtest.TestHandler's way.
func TestSlogtestOneHandler(t *testing.T) {
	var buf bytes.Buffer
	h := streamhandler.New(&buf, &slogtestOptions)
	err := slogtest.TestHandler(h, func() []map[string]any {
		var ms []map[string]any
		for line := range strings.Lines(buf.String()) {
			m, err := parseLine(line)
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		return ms
	})
	if err != nil {
		t.Error(err)
	}
}

var (
	levelRE  = regexp.MustCompile(`^(DBG|INF|WRN|ERR)([+-]\d+)?$`)
	sourceRE = regexp.MustCompile(`^\S+\.go:\d+$`)
	attrRE   = regexp.MustCompile(`^("(?:[^"\\]|\\.)*"|[^"=]+)=`)
)

// parseLine reads back one line written with slogtestOptions: an
// RFC 3339 time (absent for a zero time), the level, the source, the
// message, then key=value attributes, group names dotted onto keys and
// values quoted with Go syntax where tint quoted them. Groups become
// nested maps; all values are strings.
//
// tint's format is not fully reversible: the message is written raw, so
// it is taken to end at the first space-separated token that looks like
// key=..., and a token of the form dir/file.go:n right after the level is
// taken for the source. A key containing a dot reads as a group. Neither
// occurs in slogtest's cases.
func parseLine(line string) (map[string]any, error) {
	line, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.Contains(line, "\n") {
		return nil, fmt.Errorf("not one line: %q", line)
	}
	toks, err := tokens(line)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if len(toks) > 0 {
		if ts, err := time.Parse(time.RFC3339Nano, toks[0]); err == nil {
			m[slog.TimeKey] = ts
			toks = toks[1:]
		}
	}
	if len(toks) == 0 || !levelRE.MatchString(toks[0]) {
		return nil, fmt.Errorf("no level in %q", line)
	}
	m[slog.LevelKey] = toks[0]
	toks = toks[1:]
	if len(toks) > 0 && sourceRE.MatchString(toks[0]) {
		m[slog.SourceKey] = toks[0]
		toks = toks[1:]
	}
	n := 0
	for n < len(toks) && !attrRE.MatchString(toks[n]) {
		n++
	}
	m[slog.MessageKey] = strings.Join(toks[:n], " ")
	for _, tok := range toks[n:] {
		k := attrRE.FindStringSubmatch(tok)[1]
		v := tok[len(k)+1:]
		if key, err := strconv.Unquote(k); err == nil {
			k = key
		}
		if val, err := strconv.Unquote(v); err == nil {
			v = val
		}
		path := strings.Split(k, ".")
		g := m
		for _, name := range path[:len(path)-1] {
			sub, ok := g[name].(map[string]any)
			if !ok {
				sub = map[string]any{}
				g[name] = sub
			}
			g = sub
		}
		g[path[len(path)-1]] = v
	}
	return m, nil
}

// tokens splits s at single spaces that are outside double quotes.
func tokens(s string) ([]string, error) {
	var toks []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ' ':
			toks = append(toks, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote in " + strconv.Quote(s))
	}
	return append(toks, s[start:]), nil
}

// The parser on lines with quoting, groups and no time.
func TestParseLine(t *testing.T) {
	var buf bytes.Buffer
	h := streamhandler.New(&buf, &slogtestOptions)
	r := slog.NewRecord(time.Time{}, slog.LevelWarn+1, "two words", 0)
	r.Add("a b", "c=d", "q", `say "hi"`, slog.Group("g", "e", "", "n", 3))
	if err := h.Handle(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	m, err := parseLine(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(m)
	want := fmt.Sprint(map[string]any{
		slog.LevelKey: "WRN+1", slog.MessageKey: "two words",
		"a b": "c=d", "q": `say "hi"`, "g": map[string]any{"e": "", "n": "3"},
	})
	if got != want {
		t.Errorf("line %q\ngot  %v\nwant %v", buf.String(), got, want)
	}
}
