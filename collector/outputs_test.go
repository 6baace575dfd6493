package collector_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/core"
)

func entry(value string) *collector.Entry {
	start := strings.Index(value, `"data":`) + len(`"data":`)
	return &collector.Entry{Stream: "logs.api", Record: &core.Record{Value: []byte(value)}, Data: []byte(value[start : len(value)-1])}
}

func TestPrettyRendersTheEvent(t *testing.T) {
	var buf bytes.Buffer
	p := collector.NewPretty(&buf, nil)
	require.NoError(t, p.Write(entry(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.5","logger":"http","severity":"WARNING","level":30,`+
		`"message":"slow request","exception":null,"hostname":"h","service":"api","http":{"method":"GET","status":200},"tags":["a"],"ms":12.5,"n":3,"ok":true,"none":null}}`)))
	require.NoError(t, p.Write(entry(`{"schema":"PydanticLogModel:1","data":{"level":"loud"}}`)))
	require.NoError(t, p.Write(entry(`{"schema":"PydanticLogModel:1","data":{"level":20,"message":"m","q":"a\"b\u00e9","g":{"k\u0065y":"v","h":{"x":-1e3}}}}`)))
	assert.Empty(t, buf.String(), "buffered until a flush")
	require.NoError(t, p.Flush())
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, `INF m q="a\"bé" g.key=v g.h.x=-1000`, lines[2], "escapes decoded, groups nested")
	assert.Equal(t, `Nov 21 10:00:00.500 WRN slow request service=api logger=http http.method=GET http.status=200 tags="[\"a\"]" ms=12.5 n=3 ok=true`, lines[0])
	assert.Equal(t, `logs.api {"level":"loud"}`, lines[1], "an event that does not decode is shown raw")
	assert.NotContains(t, buf.String(), "\x1b[", "no colours on a non-terminal")
}

func TestRotatingFileKeepsEveryLineWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	out, err := collector.OpenRotating(path, &collector.FileOptions{MaxSizeMB: 1, BufferSize: 64 << 10, Sync: true})
	require.NoError(t, err)
	const n = 10000
	pad := strings.Repeat("x", 300)
	for i := range n {
		require.NoError(t, out.Write(entry(`{"schema":"PydanticLogModel:1","data":{"seq":`+strconv.Itoa(i)+`,"pad":"`+pad+`"}}`)))
	}
	require.NoError(t, out.Close())
	files, err := filepath.Glob(filepath.Join(dir, "events*.jsonl"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(files), 3, "about 3.2 MiB in files of 1 MiB")
	seen := map[int]int{}
	for _, f := range files {
		info, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, info.Size(), int64(1<<20), f)
		fh, err := os.Open(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var ev struct{ Seq int }
			require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "%s: %q", f, sc.Text())
			seen[ev.Seq]++
		}
		fh.Close()
	}
	assert.Len(t, seen, n)
}

func TestParseOutput(t *testing.T) {
	dir := t.TempDir()
	for spec, want := range map[string]string{
		"pretty":                           "pretty",
		"jsonl":                            "jsonl",
		"jsonl:" + dir + "/a.jsonl":        "jsonl:" + dir + "/a.jsonl",
		"file:" + dir + "/b.jsonl":         "file:" + dir + "/b.jsonl",
		"file:" + dir + "/no/such/b.jsonl": "error",
		"jsonl:":                           "error",
		"syslog":                           "error",
	} {
		out, err := collector.ParseOutput(spec, os.Stdout, nil)
		if want == "error" {
			require.Error(t, err, spec)
			assert.Contains(t, err.Error(), strings.TrimSuffix(spec, ":"), "the error names the output")
			continue
		}
		require.NoError(t, err, spec)
		assert.Equal(t, want, out.String())
		require.NoError(t, out.Close())
	}
}

// A file whose last line was cut short by a crash (kill -9 in the middle
// of a write) loses that line when it is opened again: its events were
// not committed and come again. Whole lines are kept.
func TestFileOutputsTrimALineCutShortByACrash(t *testing.T) {
	open := map[string]func(path string) (*collector.JSONLines, error){
		"jsonl": func(path string) (*collector.JSONLines, error) { return collector.CreateJSONLines(path, nil) },
		"file":  func(path string) (*collector.JSONLines, error) { return collector.OpenRotating(path, nil) },
	}
	long := `{"n":"` + strings.Repeat("x", 100<<10) + `"}` + "\n" // longer than a chunk read backwards
	for name, openOutput := range open {
		for _, tc := range []struct{ before, want string }{
			{"", ""},
			{`{"n":1}` + "\n", `{"n":1}` + "\n"},
			{`{"n":1}` + "\n" + `{"n":`, `{"n":1}` + "\n"},
			{`{"n"`, ""},
			{long + `{"n":2`, long},
			{`{"n":1}` + "\n" + strings.Repeat("y", 200<<10), `{"n":1}` + "\n"},
		} {
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "events.jsonl")
				require.NoError(t, os.WriteFile(path, []byte(tc.before), 0o644))
				out, err := openOutput(path)
				require.NoError(t, err)
				require.NoError(t, out.Write(entry(`{"schema":"PydanticLogModel:1","data":{"n":3}}`)))
				require.NoError(t, out.Close())
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, tc.want+`{"n":3}`+"\n", string(got))
			})
		}
	}
}
