package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonenc"
)

// Fixtures: a fixed host, logger and record time make every event an exact
// string.
var (
	testHost = Host{Hostname: "api-server-7d9f8-xk2p9", Service: "api-server", Namespace: "prod", Cluster: "eu-west-1"}
	// testTime is not UTC and has nanoseconds: the event must say
	// 15:04:05.123456Z.
	testTime = time.Date(2026, 11, 21, 16, 4, 5, 123456789, time.FixedZone("CET", 3600))
)

// testBase is the base fields of an INFO "hello" event with the fixtures.
const testBase = `"timestamp":"2026-11-21T15:04:05.123456Z","logger":"orders","severity":"INFO","level":20,"message":"hello",` +
	`"exception":null,"trace":null,"stack":null,"hostname":"api-server-7d9f8-xk2p9","service":"api-server","namespace":"prod","cluster":"eu-west-1"`

func wantEvent(data string) string { return `{"schema":"PydanticLogModel:1","data":{` + data + `}}` }

// recorder collects the events a Handler writes.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) write(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, string(b))
	return nil
}

func (r *recorder) last(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no event written")
	}
	return r.events[len(r.events)-1]
}

// newTestHandler returns a Debug-level Handler with the fixed host and
// logger "orders"; opts may set anything else.
func newTestHandler(opts *Options) (*Handler, *recorder) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Host == nil {
		h := testHost
		o.Host = &h
	}
	if o.Logger == "" {
		o.Logger = "orders"
	}
	rec := &recorder{}
	return NewHandler(rec.write, slog.LevelDebug, &o), rec
}

// emit handles one INFO record at testTime through h and returns the event.
func (r *recorder) emit(t *testing.T, h slog.Handler, msg string, args ...any) string {
	t.Helper()
	return r.emitCtx(t, context.Background(), h, slog.LevelInfo, msg, args...)
}

func (r *recorder) emitCtx(t *testing.T, ctx context.Context, h slog.Handler, level slog.Level, msg string, args ...any) string {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Handle panicked: %v", p)
		}
	}()
	rec := slog.NewRecord(testTime, level, msg, 0)
	rec.Add(args...)
	if err := h.Handle(ctx, rec); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return r.last(t)
}

// ---------------------------------------------------------------------------
// JSON helpers: an order-keeping parser that walks json.Decoder.Token, so
// that duplicate keys are seen rather than silently merged.

type jsonKV struct {
	Key string
	Val any // nil, bool, string, json.Number, []any or jsonObj
}

type jsonObj []jsonKV

func parseOrdered(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("invalid JSON: %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return parseValue(dec)
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := jsonObj{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, jsonKV{kt.(string), v})
		}
		_, err = dec.Token()
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// dupKey returns the path of the first key that an object holds twice, or
// nil.
func dupKey(v any, path []string) []string {
	switch v := v.(type) {
	case jsonObj:
		seen := map[string]bool{}
		for _, kv := range v {
			p := append(slices.Clip(path), kv.Key)
			if seen[kv.Key] {
				return p
			}
			seen[kv.Key] = true
			if d := dupKey(kv.Val, p); d != nil {
				return d
			}
		}
	case []any:
		for i, e := range v {
			if d := dupKey(e, append(slices.Clip(path), fmt.Sprint(i))); d != nil {
				return d
			}
		}
	}
	return nil
}

// checkNoDupKeys reports invalid JSON or an object with a key twice, at any
// level.
func checkNoDupKeys(b []byte) error {
	v, err := parseOrdered(b)
	if err != nil {
		return err
	}
	if d := dupKey(v, nil); d != nil {
		return fmt.Errorf("duplicate key %q in %s", d, b)
	}
	return nil
}

// mustData checks that event is valid JSON without duplicate keys, in the
// envelope {"schema":…,"data":{…}}, and returns data.
func mustData(t *testing.T, event string) jsonObj {
	t.Helper()
	if err := checkNoDupKeys([]byte(event)); err != nil {
		t.Fatal(err)
	}
	v, _ := parseOrdered([]byte(event))
	env, ok := v.(jsonObj)
	if !ok || len(env) != 2 || env[0].Key != "schema" || env[1].Key != "data" {
		t.Fatalf("not an envelope {schema, data}: %s", event)
	}
	data, ok := env[1].Val.(jsonObj)
	if !ok {
		t.Fatalf("data is not an object: %s", event)
	}
	return data
}

func (o jsonObj) get(path ...string) (any, bool) {
	var v any = o
	for _, k := range path {
		obj, ok := v.(jsonObj)
		if !ok {
			return nil, false
		}
		i := slices.IndexFunc(obj, func(kv jsonKV) bool { return kv.Key == k })
		if i < 0 {
			return nil, false
		}
		v = obj[i].Val
	}
	return v, true
}

func (o jsonObj) keys() []string {
	ks := make([]string, len(o))
	for i, kv := range o {
		ks[i] = kv.Key
	}
	return ks
}

// fold applies "the last value wins, at the first key's place" at every
// level, as a Python dict update (and a last-wins JSON reader) does.
func fold(v any) any {
	switch v := v.(type) {
	case jsonObj:
		out := jsonObj{}
		for _, kv := range v {
			out = out.set(kv.Key, fold(kv.Val))
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fold(e)
		}
		return out
	}
	return v
}

func (o jsonObj) set(k string, v any) jsonObj {
	if i := slices.IndexFunc(o, func(kv jsonKV) bool { return kv.Key == k }); i >= 0 {
		o[i].Val = v
		return o
	}
	return append(o, jsonKV{k, v})
}

// plain turns objects into maps, for order-insensitive comparison.
func plain(v any) any {
	switch v := v.(type) {
	case jsonObj:
		m := make(map[string]any, len(v))
		for _, kv := range v {
			m[kv.Key] = plain(kv.Val)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

func jsonText(v any) string {
	b, err := json.Marshal(plain(v))
	if err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Goldens.

// A plain record: base fields in kafkaesk's order, the time in UTC with
// microseconds, then the attributes as slog.JSONHandler writes them.
func TestGoldenPlain(t *testing.T) {
	h, rec := newTestHandler(nil)
	got := rec.emit(t, h, "hello",
		"user_id", 42, "ok", true, "ratio", 0.5, "big", uint64(math.MaxUint64),
		"elapsed", 1500*time.Millisecond, "at", time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC),
		"name", "ana \"the\" <admin>\n", "tags", []string{"a", "b"}, slog.Attr{})
	want := wantEvent(testBase + `,"user_id":42,"ok":true,"ratio":0.5,"big":18446744073709551615,"elapsed":1500000000,` +
		`"at":"2026-01-02T03:04:05.0000006Z","name":"ana \"the\" <admin>\n","tags":["a","b"]`)
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

// Groups: WithGroup, WithAttrs and slog.Group nest; empty groups (from the
// record or from WithGroup with nothing in them) are dropped; a group with
// an empty key is inlined.
func TestGoldenGroups(t *testing.T) {
	h, rec := newTestHandler(nil)
	req := h.WithGroup("req").WithAttrs([]slog.Attr{slog.String("id", "r-1")}).WithGroup("http")
	for _, tt := range []struct {
		name string
		h    slog.Handler
		args []any
		want string
	}{
		{
			name: "nested",
			h:    req,
			args: []any{"method", "GET", slog.Group("headers", "accept", "json", slog.Group("empty")), slog.Group("", "status", 200), slog.Group("none")},
			want: `,"req":{"id":"r-1","http":{"method":"GET","headers":{"accept":"json"},"status":200}}`,
		},
		{
			name: "no record attrs: the unopened group is dropped",
			h:    req,
			want: `,"req":{"id":"r-1"}`,
		},
		{
			name: "only empty groups in the record",
			h:    req,
			args: []any{slog.Group("e"), slog.Attr{}},
			want: `,"req":{"id":"r-1"}`,
		},
		{
			name: "WithGroup with nothing in it",
			h:    h.WithGroup("a").WithGroup("b"),
			want: ``,
		},
		{
			name: "WithGroup after WithAttrs, record attrs in the inner group",
			h:    h.WithAttrs([]slog.Attr{slog.Int("top", 1)}).WithGroup("g"),
			args: []any{"k", "v"},
			want: `,"top":1,"g":{"k":"v"}`,
		},
		{
			name: "top-level group named like a base field",
			h:    h,
			args: []any{slog.Group("message", "k", "v")},
			want: `,"fields.message":{"k":"v"}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rec.emit(t, tt.h, "hello", tt.args...)
			if want := wantEvent(testBase + tt.want); got != want {
				t.Errorf("event\n got %s\nwant %s", got, want)
			}
		})
	}
}

type userLog struct {
	Model
	User    string    `json:"user"`
	Age     *int      `json:"age"`
	Service string    `json:"service"`
	Roles   []string  `json:"roles"`
	Score   float64   `json:"score"`
	Since   time.Time `json:"since"`
	Note    string    `json:"note,omitempty"`
	Skip    string    `json:"-"`
	secret  string
}

// A log model passed as an ordinary attribute is pulled out of the record
// and its fields merged at the top level, in order, as kafkaesk merges the
// model's dict over the base fields: nil (None) fields are left out, and a
// model field named like a base field ("service") replaces it in place, as
// a Python dict update keeps the key's position.
func TestGoldenLogModel(t *testing.T) {
	h, rec := newTestHandler(nil)
	got := rec.emit(t, h, "hello", "attempt", 2, "user", userLog{
		User: "ana", Service: "billing", Roles: []string{"admin"}, Score: 0.5,
		Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Skip: "x", secret: "y",
	})
	want := wantEvent(strings.Replace(testBase, `"service":"api-server"`, `"service":"billing"`, 1) +
		`,"attempt":2,"user":"ana","roles":["admin"],"score":0.5,"since":"2026-01-02T03:04:05Z"`)
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

// An error among the attributes fills exception with its meaningful type
// (not fmt's wrapper) and stack with its chain; the attribute itself is
// kept, as its text.
func TestGoldenError(t *testing.T) {
	h, rec := newTestHandler(nil)
	err := fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/etc/app.yaml", Err: syscall.ENOENT})
	got := rec.emitCtx(t, context.Background(), h, slog.LevelError, "open config", "err", err, "path", "/etc/app.yaml")
	want := wantEvent(`"timestamp":"2026-11-21T15:04:05.123456Z","logger":"orders","severity":"ERROR","level":40,"message":"open config",` +
		`"exception":"fs.PathError","trace":null,"stack":"load config: open /etc/app.yaml: no such file or directory` +
		`\ncaused by fs.PathError: open /etc/app.yaml: no such file or directory\ncaused by syscall.Errno: no such file or directory",` +
		`"hostname":"api-server-7d9f8-xk2p9","service":"api-server","namespace":"prod","cluster":"eu-west-1",` +
		`"err":"load config: open /etc/app.yaml: no such file or directory","path":"/etc/app.yaml"`)
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

// The first error wins: one given to WithAttrs, then one in a group.
func TestErrorSources(t *testing.T) {
	h, rec := newTestHandler(nil)
	data := mustData(t, rec.emit(t, h, "hello", slog.Group("g", "cause", fs.ErrNotExist), "other", errors.New("second")))
	if got, _ := data.get("exception"); got != "error" {
		t.Errorf("exception = %v, want error (an errors.New value has no meaningful type)", got)
	}
	if got, _ := data.get("stack"); got != "file does not exist" {
		t.Errorf("stack = %v, want the group's error text", got)
	}
	hw := h.WithAttrs([]slog.Attr{slog.Any("err", &fs.PathError{Op: "read", Path: "p", Err: fs.ErrClosed})})
	data = mustData(t, rec.emit(t, hw, "hello", "other", errors.New("second")))
	if got, _ := data.get("exception"); got != "fs.PathError" {
		t.Errorf("exception = %v, want the WithAttrs error's type", got)
	}
}

// ---------------------------------------------------------------------------
// Host.

func TestServiceOf(t *testing.T) {
	for _, tt := range []struct{ host, want string }{
		{"api-server-7d9f8-xk2p9", "api-server"},
		{"web-1", "web"},
		{"localhost", "unknown"},
		{"a-b-c", "a"},
		{"a-b", "a"},
		{"my-db-0", "my"},
		{"", "unknown"},
		{"a--b", "a"},
	} {
		if got := ServiceOf(tt.host); got != tt.want {
			t.Errorf("ServiceOf(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestLocalHost(t *testing.T) {
	h := LocalHost()
	name, _ := os.Hostname()
	if h.Hostname != name || h.Service != ServiceOf(name) {
		t.Errorf("LocalHost() = %+v, want hostname %q and service %q", h, name, ServiceOf(name))
	}
	if h2 := LocalHost(); h2 != h {
		t.Errorf("LocalHost() changed: %+v then %+v", h, h2)
	}
}

// namespace and cluster are null, as kafkaesk writes None, when empty.
func TestHostNullFields(t *testing.T) {
	h, rec := newTestHandler(&Options{Host: &Host{Hostname: "web-1", Service: "web"}})
	got := rec.emit(t, h, "hello")
	want := wantEvent(`"timestamp":"2026-11-21T15:04:05.123456Z","logger":"orders","severity":"INFO","level":20,"message":"hello",` +
		`"exception":null,"trace":null,"stack":null,"hostname":"web-1","service":"web","namespace":null,"cluster":null`)
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

// ---------------------------------------------------------------------------
// No duplicate keys.

type modelA struct {
	Model
	A       int     `json:"a"`
	Service string  `json:"service"`
	Message *string `json:"message"`
}

type modelB struct {
	Model
	A      int    `json:"a"`
	B      string `json:"b"`
	G      *int   `json:"g"`
	Fields *int   `json:"fields.message"`
}

// modelSvc overrides service only when set.
type modelSvc struct {
	Model
	Service *string `json:"service"`
	Note    string  `json:"note,omitempty"`
}

// modelAll names every base field.
type modelAll struct {
	Model
	Timestamp string `json:"timestamp"`
	Logger    string `json:"logger"`
	Severity  string `json:"severity"`
	Level     int    `json:"level"`
	Message   string `json:"message"`
	Exception string `json:"exception"`
	Trace     string `json:"trace"`
	Stack     string `json:"stack"`
	Hostname  string `json:"hostname"`
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
}

// valuer is a LogValuer resolving to v.
type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

func ptr[T any](v T) *T { return &v }

type ctxKey struct{}

func ctxAttrs(ctx context.Context) []slog.Attr {
	as, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	return as
}

// Every event is valid JSON with no object holding a key twice; where keys
// collide the last value wins.
func TestNoDuplicateKeys(t *testing.T) {
	rename := func(from, to string) func([]string, slog.Attr) slog.Attr {
		return func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == from {
				a.Key = to
			}
			return a
		}
	}
	type want struct {
		path []string
		json string
	}
	for _, tt := range []struct {
		name string
		opts *Options
		ctx  []slog.Attr
		h    func(slog.Handler) slog.Handler
		args []any
		want []want
	}{
		{name: "record attrs", args: []any{"a", 1, "a", 2}, want: []want{{[]string{"a"}, "2"}}},
		{
			name: "WithAttrs then record, top level",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("a", 1)}) },
			args: []any{"a", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "WithAttrs twice",
			h: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("a", 1)}).WithAttrs([]slog.Attr{slog.Int("a", 2)})
			},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "duplicates within one WithAttrs",
			h: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("a", 1), slog.Int("a", 2)})
			},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "WithAttrs then record, in a group",
			h:    func(h slog.Handler) slog.Handler { return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}) },
			args: []any{"a", 2},
			want: []want{{[]string{"g", "a"}, "2"}},
		},
		{
			name: "attrs named like base fields",
			args: []any{"message", "x", "service", "y", "timestamp", 1, "source", 2},
			want: []want{
				{[]string{"message"}, `"hello"`}, {[]string{"fields.message"}, `"x"`},
				{[]string{"service"}, `"api-server"`}, {[]string{"fields.service"}, `"y"`},
				{[]string{"fields.timestamp"}, "1"}, {[]string{"fields.source"}, "2"},
			},
		},
		{
			name: "a reserved key and its fields. form",
			args: []any{"message", 1, "fields.message", 2},
			want: []want{{[]string{"fields.message"}, "2"}, {[]string{"message"}, `"hello"`}},
		},
		{
			name: "a reserved key in WithAttrs and its fields. form in the record",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("level", 1)}) },
			args: []any{"fields.level", 2},
			want: []want{{[]string{"fields.level"}, "2"}, {[]string{"level"}, "20"}},
		},
		{
			name: "model over record attr",
			args: []any{"a", 1, "m", modelA{A: 2}},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "two models",
			args: []any{"m1", modelA{A: 1, Service: "s"}, "m2", modelB{A: 2, B: "b"}},
			want: []want{{[]string{"a"}, "2"}, {[]string{"service"}, `"s"`}, {[]string{"b"}, `"b"`}},
		},
		{
			name: "model over WithAttrs attr",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("a", 1)}) },
			args: []any{"m", modelA{A: 2}},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "model in WithAttrs over record attr",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Any("m", modelA{A: 2})}) },
			args: []any{"a", 1},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "model through a LogValuer",
			args: []any{"a", 1, "m", valuer{slog.AnyValue(&modelA{A: 2})}},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "model over the renamed form of an attr",
			args: []any{"message", "x", "m", modelB{Fields: ptr(3)}},
			want: []want{{[]string{"fields.message"}, "3"}, {[]string{"message"}, `"hello"`}},
		},
		{
			name: "model over a base field and an attr of that name",
			args: []any{"service", "x", "m", modelA{Service: "y"}},
			want: []want{{[]string{"service"}, `"y"`}, {[]string{"fields.service"}, `"x"`}},
		},
		{
			name: "model over a WithGroup group",
			h:    func(h slog.Handler) slog.Handler { return h.WithGroup("g") },
			args: []any{"x", 1, "m", modelB{G: ptr(7)}},
			want: []want{{[]string{"g"}, "7"}},
		},
		{
			name: "model over a group opened by WithAttrs",
			h:    func(h slog.Handler) slog.Handler { return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("x", 1)}) },
			args: []any{"m", modelB{G: ptr(7)}},
			want: []want{{[]string{"g"}, "7"}},
		},
		{
			name: "WithGroup named like a WithAttrs attr",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("g", 1)}).WithGroup("g") },
			args: []any{"x", 2},
			want: []want{{[]string{"g"}, `{"x":2}`}},
		},
		{
			name: "WithGroup named like a WithAttrs attr, opened by WithAttrs",
			h: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Int("g", 1)}).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("x", 2)})
			},
			want: []want{{[]string{"g"}, `{"x":2}`}},
		},
		{
			name: "WithGroup named like an attr inside a group",
			h: func(h slog.Handler) slog.Handler {
				return h.WithGroup("a").WithAttrs([]slog.Attr{slog.Int("g", 1)}).WithGroup("g")
			},
			args: []any{"x", 2},
			want: []want{{[]string{"a", "g"}, `{"x":2}`}},
		},
		{
			name: "WithGroup named like a base field",
			h:    func(h slog.Handler) slog.Handler { return h.WithGroup("message") },
			args: []any{"x", 1},
			want: []want{{[]string{"message"}, `"hello"`}, {[]string{"fields.message"}, `{"x":1}`}},
		},
		{
			name: "WithGroup named like a base field, opened by WithAttrs",
			h: func(h slog.Handler) slog.Handler {
				return h.WithGroup("service").WithAttrs([]slog.Attr{slog.Int("x", 1)})
			},
			want: []want{{[]string{"service"}, `"api-server"`}, {[]string{"fields.service"}, `{"x":1}`}},
		},
		{
			name: "ReplaceAttr renames into a collision",
			opts: &Options{ReplaceAttr: rename("b", "a")},
			args: []any{"a", 1, "b", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "ReplaceAttr renames into a base field",
			opts: &Options{ReplaceAttr: rename("b", "message")},
			args: []any{"b", 2},
			want: []want{{[]string{"message"}, `"hello"`}, {[]string{"fields.message"}, "2"}},
		},
		{
			name: "ReplaceAttr renames a WithAttrs attr into a collision",
			opts: &Options{ReplaceAttr: rename("b", "a")},
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("b", 1)}) },
			args: []any{"a", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "ReplaceAttr renames inside a group",
			opts: &Options{ReplaceAttr: rename("b", "a")},
			args: []any{slog.Group("g", "a", 1, "b", 2)},
			want: []want{{[]string{"g", "a"}, "2"}},
		},
		{name: "inside slog.Group", args: []any{slog.Group("g", "a", 1, "a", 2)}, want: []want{{[]string{"g", "a"}, "2"}}},
		{
			name: "nested groups",
			args: []any{slog.Group("g", slog.Group("h", "a", 1, "a", 2))},
			want: []want{{[]string{"g", "h", "a"}, "2"}},
		},
		{
			name: "inline group inside a group",
			args: []any{slog.Group("g", "a", 1, slog.Group("", "a", 2))},
			want: []want{{[]string{"g", "a"}, "2"}},
		},
		{
			name: "inline group vs record attr",
			args: []any{slog.Group("", "a", 1), "a", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "inline group in WithAttrs vs record attr",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Group("", slog.Int("a", 1))}) },
			args: []any{"a", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "inline group in WithAttrs vs later WithAttrs",
			h: func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.Group("", slog.Int("a", 1))}).WithAttrs([]slog.Attr{slog.Int("a", 3)})
			},
			want: []want{{[]string{"a"}, "3"}},
		},
		{
			name: "inline group in WithAttrs vs model",
			h:    func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Group("", slog.Int("a", 1))}) },
			args: []any{"m", modelA{A: 2}},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "two groups of one name",
			args: []any{slog.Group("g", "a", 1), slog.Group("g", "b", 2)},
			want: []want{{[]string{"g"}, `{"b":2}`}},
		},
		{
			name: "group in WithAttrs and in the record",
			h: func(h slog.Handler) slog.Handler {
				return h.WithGroup("w").WithAttrs([]slog.Attr{slog.Group("g", slog.Int("a", 1))})
			},
			args: []any{slog.Group("g", "b", 2)},
			want: []want{{[]string{"w", "g"}, `{"b":2}`}},
		},
		{
			name: "LogValuer resolving to a group with duplicates",
			args: []any{"g", valuer{slog.GroupValue(slog.Int("a", 1), slog.Int("a", 2))}},
			want: []want{{[]string{"g", "a"}, "2"}},
		},
		{
			name: "ContextAttrs vs record",
			opts: &Options{ContextAttrs: []func(context.Context) []slog.Attr{ctxAttrs}},
			ctx:  []slog.Attr{slog.Int("a", 1)},
			args: []any{"a", 2},
			want: []want{{[]string{"a"}, "2"}},
		},
		{
			name: "model with every base field",
			args: []any{"m", modelAll{Timestamp: "t", Logger: "l", Severity: "s", Level: 1, Message: "m", Exception: "e",
				Trace: "tr", Stack: "st", Hostname: "h", Service: "sv", Namespace: "n", Cluster: "c"}},
			want: []want{{[]string{"timestamp"}, `"t"`}, {[]string{"level"}, "1"}, {[]string{"cluster"}, `"c"`}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newTestHandler(tt.opts)
			var sh slog.Handler = h
			if tt.h != nil {
				sh = tt.h(sh)
			}
			ctx := context.WithValue(context.Background(), ctxKey{}, tt.ctx)
			event := rec.emitCtx(t, ctx, sh, slog.LevelInfo, "hello", tt.args...)
			data := mustData(t, event)
			for _, w := range tt.want {
				got, ok := data.get(w.path...)
				if !ok {
					t.Errorf("%q missing in %s", w.path, event)
					continue
				}
				if g := jsonText(got); g != w.json {
					t.Errorf("%q = %s, want %s, in %s", w.path, g, w.json, event)
				}
			}
		})
	}
}

// Property: random combinations of WithGroup, WithAttrs, ContextAttrs,
// record attributes, groups, inline groups, LogValuers, models and
// ReplaceAttr renames always give valid JSON without duplicate keys, with
// the values that a last-wins reading of slog.JSONHandler's output (for
// everything but the models), renamed and overlaid with the models as
// kafkaesk merges them, gives.
func TestNoDuplicateKeysRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		c := newRandCase(r)
		got, want, desc, oracle := c.run(t)
		if err := checkNoDupKeys([]byte(got)); err != nil {
			t.Fatalf("case %d: %s\n%v", i, desc, err)
		}
		data := mustData(t, got)
		if g, w := jsonText(data), jsonText(want); g != w {
			t.Fatalf("case %d: %s\n got %s\nwant %s\nevent %s\nslog.JSONHandler %s", i, desc, g, w, got, oracle)
		}
	}
}

type randCase struct {
	r       *rand.Rand
	n       int
	ops     []randOp
	ctx     []slog.Attr
	attrs   []slog.Attr
	renameR bool
}

type randOp struct {
	group string
	attrs []slog.Attr
	isAtt bool
}

var (
	randKeys   = []string{"a", "b", "g", "r", "x", "service", "message", "level", "fields.message"}
	randGroups = []string{"a", "g", "h", "service", ""}
	// reservedKeys are the event's own fields (spec §3.4) and "source".
	reservedKeys = []string{"timestamp", "logger", "severity", "level", "message", "exception", "trace", "stack",
		"hostname", "service", "namespace", "cluster", "source"}
)

func newRandCase(r *rand.Rand) *randCase {
	c := &randCase{r: r, renameR: r.IntN(2) == 0}
	for range r.IntN(4) {
		if r.IntN(2) == 0 {
			c.ops = append(c.ops, randOp{group: randGroups[r.IntN(len(randGroups))]})
		} else {
			c.ops = append(c.ops, randOp{isAtt: true, attrs: c.attrList(0, 3)})
		}
	}
	if r.IntN(3) == 0 {
		c.ctx = c.attrList(0, 2)
	}
	c.attrs = c.attrList(0, 5)
	return c
}

func (c *randCase) attrList(depth, max int) []slog.Attr {
	as := make([]slog.Attr, c.r.IntN(max+1))
	for i := range as {
		as[i] = c.attr(depth)
	}
	return as
}

func (c *randCase) key() string { return randKeys[c.r.IntN(len(randKeys))] }

func (c *randCase) next() int { c.n++; return c.n }

func (c *randCase) attr(depth int) slog.Attr {
	switch c.r.IntN(14) {
	case 0, 1, 2, 3:
		return slog.Int(c.key(), c.next())
	case 4:
		return slog.String(c.key(), fmt.Sprint("s", c.next()))
	case 5, 6:
		if depth < 3 {
			return slog.Attr{Key: c.key(), Value: slog.GroupValue(c.attrList(depth+1, 3)...)}
		}
		return slog.Int(c.key(), c.next())
	case 7:
		if depth < 3 {
			return slog.Attr{Key: "", Value: slog.GroupValue(c.attrList(depth+1, 3)...)}
		}
		return slog.Int(c.key(), c.next())
	case 8:
		return slog.Attr{}
	case 9:
		return slog.Any(c.key(), valuer{slog.IntValue(c.next())})
	case 10:
		if depth < 3 {
			return slog.Any(c.key(), valuer{slog.GroupValue(c.attrList(depth+1, 2)...)})
		}
		return slog.Int(c.key(), c.next())
	case 11:
		m := modelA{A: c.next(), Service: fmt.Sprint("svc", c.next())}
		if c.r.IntN(2) == 0 {
			m.Message = ptr(fmt.Sprint("msg", c.next()))
		}
		return slog.Any(c.key(), m)
	case 12:
		m := &modelB{A: c.next(), B: fmt.Sprint("b", c.next())}
		if c.r.IntN(2) == 0 {
			m.G = ptr(c.next())
		}
		if c.r.IntN(2) == 0 {
			m.Fields = ptr(c.next())
		}
		return slog.Any(c.key(), m)
	default:
		return slog.Any(c.key(), valuer{slog.AnyValue(modelA{A: c.next()})})
	}
}

// replaceAttr renames r to a, when the case says so, and drops x.
func (c *randCase) replaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch {
	case c.renameR && a.Key == "r":
		a.Key = "a"
	case a.Key == "x":
		return slog.Attr{}
	}
	return a
}

// withoutModels drops the top-level log models, which slog.JSONHandler
// would log as attributes; it returns them too.
func withoutModels(as []slog.Attr) ([]slog.Attr, []LogModel) {
	var out []slog.Attr
	var ms []LogModel
	for _, a := range as {
		if m, ok := AsLogModel(a.Value); ok {
			ms = append(ms, m)
			continue
		}
		out = append(out, a)
	}
	return out, ms
}

func (c *randCase) run(t *testing.T) (got string, want jsonObj, desc, oracleOutput string) {
	t.Helper()
	ours, rec := newTestHandler(&Options{
		ReplaceAttr:  c.replaceAttr,
		ContextAttrs: []func(context.Context) []slog.Attr{ctxAttrs},
	})
	var oracleOut bytes.Buffer
	var oracle slog.Handler = slog.NewJSONHandler(&oracleOut, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if groups == nil {
				switch {
				case a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime, a.Key == slog.MessageKey && a.Value.Kind() == slog.KindString:
					return slog.Attr{}
				case a.Key == slog.LevelKey && a.Value.Kind() == slog.KindAny:
					if _, ok := a.Value.Any().(slog.Level); ok {
						return slog.Attr{}
					}
				}
			}
			if c.renameR && a.Key == "r" {
				a.Key = "a"
			}
			return a
		},
	})
	var h slog.Handler = ours
	var models []LogModel
	var d strings.Builder
	fmt.Fprintf(&d, "rename r→a %v, drop x;", c.renameR)
	for _, op := range c.ops {
		if !op.isAtt {
			h = h.WithGroup(op.group)
			if op.group != "" { // slog.JSONHandler leaves that check to slog.Logger
				oracle = oracle.WithGroup(op.group)
			}
			fmt.Fprintf(&d, " WithGroup(%q)", op.group)
			continue
		}
		h = h.WithAttrs(op.attrs)
		plainAttrs, ms := withoutModels(op.attrs)
		models = append(models, ms...)
		oracle = oracle.WithAttrs(cleanForSlog(plainAttrs))
		fmt.Fprintf(&d, " WithAttrs(%v)", op.attrs)
	}
	fmt.Fprintf(&d, "; ctx %v; record %v", c.ctx, c.attrs)

	ctx := context.WithValue(context.Background(), ctxKey{}, c.ctx)
	got = rec.emitCtx(t, ctx, h, slog.LevelInfo, "hello", anys(c.attrs)...)

	ctxPlain, ctxModels := withoutModels(c.ctx)
	recPlain, recModels := withoutModels(c.attrs)
	models = append(append(models, ctxModels...), recModels...)
	r := slog.NewRecord(testTime, slog.LevelInfo, "hello", 0)
	r.AddAttrs(cleanForSlog(ctxPlain)...)
	r.AddAttrs(cleanForSlog(recPlain)...)
	if err := oracle.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	v, err := parseOrdered(bytes.TrimSpace(oracleOut.Bytes()))
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, d.String())
	}
	// Base fields, then the attributes with reserved top-level keys renamed,
	// then the models merged over everything.
	base, _ := parseOrdered([]byte(`{` + testBase + `}`))
	want = base.(jsonObj)
	attrs := v.(jsonObj)
	for i, kv := range attrs {
		if slices.Contains(reservedKeys, kv.Key) {
			attrs[i].Key = "fields." + kv.Key
		}
	}
	want = append(want, attrs...)
	for _, m := range models {
		b, _ := json.Marshal(m)
		mv, _ := parseOrdered(b)
		for _, kv := range mv.(jsonObj) {
			if kv.Val != nil {
				want = append(want, kv)
			}
		}
	}
	return got, fold(want).(jsonObj), d.String(), oracleOut.String()
}

// cleanForSlog does to attrs what the ReplaceAttr that drops x, and slog's
// rules for empty attributes and groups, do, so that slog.JSONHandler
// never has to take back a group it began: Go 1.26's JSONHandler then
// forgets the comma after it (slog.Group("r", slog.Attr{}) between b and
// c gives `"b":1"c":2`, and TextHandler gives r.c=2).
func cleanForSlog(as []slog.Attr) []slog.Attr {
	var out []slog.Attr
	for _, a := range as {
		a.Value = a.Value.Resolve()
		if a.Value.Kind() == slog.KindGroup {
			if g := cleanForSlog(a.Value.Group()); len(g) > 0 {
				out = append(out, slog.Attr{Key: a.Key, Value: slog.GroupValue(g...)})
			}
			continue
		}
		if a.Equal(slog.Attr{}) || a.Key == "x" {
			continue
		}
		out = append(out, a)
	}
	return out
}

func anys(as []slog.Attr) []any {
	out := make([]any, len(as))
	for i, a := range as {
		out[i] = a
	}
	return out
}

// A model's nil (None) fields are left out, as kafkaesk's
// dict(exclude_none=True) leaves them out, so they override nothing: the
// base field stays.
func TestModelNilFieldKeepsBaseField(t *testing.T) {
	h, rec := newTestHandler(nil)
	for _, tt := range []struct {
		name  string
		model any
		want  string
	}{
		{"nil pointer field", modelSvc{}, `"api-server"`},
		{"nil model pointer", (*modelSvc)(nil), `"api-server"`},
		{"set pointer field", modelSvc{Service: ptr("billing")}, `"billing"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			event := rec.emit(t, h, "hello", "m", tt.model)
			data := mustData(t, event)
			got, ok := data.get("service")
			if !ok {
				t.Fatalf("service missing: %s", event)
			}
			if g := jsonText(got); g != tt.want {
				t.Errorf("service = %s, want %s", g, tt.want)
			}
		})
	}
}

// A model field that overrides a base field takes the base field's place,
// as a Python dict update does; the other model fields follow the
// attributes.
func TestModelOverridesBaseFieldInPlace(t *testing.T) {
	h, rec := newTestHandler(nil)
	data := mustData(t, rec.emit(t, h, "hello", "a", 1, "m", modelA{A: 2, Service: "billing", Message: ptr("over")}))
	want := []string{"timestamp", "logger", "severity", "level", "message", "exception", "trace", "stack",
		"hostname", "service", "namespace", "cluster", "a"}
	if got := data.keys(); !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
}

type statusCode int

func (c statusCode) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "s%d", int(c)), nil }

type upper string

func (u upper) MarshalJSON() ([]byte, error) { return json.Marshal(strings.ToUpper(string(u))) }

// Model fields are encoded as encoding/json encodes them: float32 as
// float32, types with their own MarshalJSON or MarshalText through it.
func TestModelFieldEncoding(t *testing.T) {
	type inner struct {
		X int `json:"x"`
	}
	type status int
	type weird struct {
		Model
		*inner
		F32   float32         `json:"f32"`
		F64   float64         `json:"f64"`
		Dur   time.Duration   `json:"dur"`
		Raw   json.RawMessage `json:"raw"`
		Map   map[string]int  `json:"map"`
		Bytes []byte          `json:"bytes"`
		Any   any             `json:"any"`
		NaN   float64         `json:"nan"`
		Ch    chan int        `json:"ch"`
		St    status          `json:"st"`
		Code  statusCode      `json:"code"`
		Up    upper           `json:"up"`
		Plain string
	}
	m := weird{F32: 0.1, F64: 1e21, Dur: time.Second, Raw: json.RawMessage(`{"k":[1,2]}`), Map: map[string]int{"b": 2, "a": 1},
		Bytes: []byte("hi"), Any: 3, NaN: math.NaN(), Ch: make(chan int), St: 4, Code: 5, Up: "abc", Plain: "p"}
	h, rec := newTestHandler(nil)
	event := rec.emit(t, h, "hello", "m", m)
	mustData(t, event)
	want := `,"f32":0.1,"f64":1e+21,"dur":1000000000,"raw":{"k":[1,2]},"map":{"a":1,"b":2},"bytes":"aGk=","any":3,` +
		`"nan":"!ERROR:json: unsupported value: NaN","ch":"!ERROR:json: unsupported type: chan int","st":4,"code":"s5","up":"ABC","Plain":"p"}}`
	if !strings.HasSuffix(event, want) {
		t.Errorf("event\n got %s\nwant suffix %s", event, want)
	}
}

// Models given to WithAttrs are merged into every event, before the
// record's models.
func TestModelInWithAttrs(t *testing.T) {
	h, rec := newTestHandler(nil)
	hw := h.WithAttrs([]slog.Attr{slog.Any("m", modelB{A: 1, B: "with"})})
	for range 2 {
		got := rec.emit(t, hw, "hello", "x", 1, "m", modelA{A: 2, Service: "billing"})
		want := wantEvent(strings.Replace(testBase, `"service":"api-server"`, `"service":"billing"`, 1) + `,"x":1,"a":2,"b":"with"`)
		if got != want {
			t.Errorf("event\n got %s\nwant %s", got, want)
		}
	}
}

// Encoders are shared by goroutines: models from WithAttrs live in a slice
// the Encoder shares with every Append, which must not write to it. Run
// with -race.
func TestConcurrentModels(t *testing.T) {
	type idLog struct {
		Model
		ID int `json:"id"`
	}
	enc := NewEncoder(&Options{Host: &testHost, Logger: "orders"}).WithAttrs([]slog.Attr{
		slog.Any("m1", modelSvc{Note: "1"}), slog.Any("m2", modelSvc{Note: "2"}), slog.Any("m3", modelSvc{Note: "3"}),
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 300 {
				id := g*1000 + i
				r := slog.NewRecord(testTime, slog.LevelInfo, "hello", 0)
				r.Add("m", idLog{ID: id})
				buf = enc.Append(buf[:0], context.Background(), r)
				var ev struct{ Data map[string]any }
				if err := json.Unmarshal(buf, &ev); err != nil || ev.Data["id"] != float64(id) {
					errs <- fmt.Errorf("goroutine %d: id %v, want %d (%v)", g, ev.Data["id"], id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// ---------------------------------------------------------------------------
// WithGroup and WithAttrs.

// Sibling loggers derived from one WithGroup chain share nothing: tint and
// the samber handlers append to the parent's groups slice, so that a record
// logged through x reaches ReplaceAttr with y's groups (go-anchors §3).
func TestSiblingGroups(t *testing.T) {
	var gotGroups []string
	h, rec := newTestHandler(&Options{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == "k" || a.Key == "w" {
			gotGroups = slices.Clone(groups)
		}
		return a
	}})
	base := h.WithGroup("a").WithGroup("b").WithGroup("c")
	x := base.WithGroup("x")
	y := base.WithGroup("y")
	for _, tt := range []struct {
		h    slog.Handler
		name string
	}{{x, "x"}, {y, "y"}, {x, "x"}} {
		got := rec.emit(t, tt.h, "hello", "k", tt.name)
		want := wantEvent(testBase + `,"a":{"b":{"c":{"` + tt.name + `":{"k":"` + tt.name + `"}}}}`)
		if got != want {
			t.Errorf("through %s:\n got %s\nwant %s", tt.name, got, want)
		}
		if want := []string{"a", "b", "c", tt.name}; !slices.Equal(gotGroups, want) {
			t.Errorf("through %s: ReplaceAttr groups %q, want %q", tt.name, gotGroups, want)
		}
	}

	// The same with pre-encoded attributes: the siblings' WithAttrs output
	// must not leak into each other.
	base = h.WithGroup("a").WithAttrs([]slog.Attr{slog.Int("p", 1)}).WithGroup("b").WithGroup("c")
	x = base.WithGroup("x").WithAttrs([]slog.Attr{slog.String("w", "x")})
	y = base.WithGroup("y").WithAttrs([]slog.Attr{slog.String("w", "y")})
	xa := base.WithAttrs([]slog.Attr{slog.String("w", "xa")})
	ya := base.WithAttrs([]slog.Attr{slog.String("w", "ya")})
	for _, tt := range []struct {
		h          slog.Handler
		want       string
		wantGroups []string
	}{
		{x, `"x":{"w":"x","k":1}`, []string{"a", "b", "c", "x"}},
		{y, `"y":{"w":"y","k":1}`, []string{"a", "b", "c", "y"}},
		{xa, `"w":"xa","k":1`, []string{"a", "b", "c"}},
		{ya, `"w":"ya","k":1`, []string{"a", "b", "c"}},
		{x, `"x":{"w":"x","k":1}`, []string{"a", "b", "c", "x"}},
		{base, `"k":1`, []string{"a", "b", "c"}},
	} {
		got := rec.emit(t, tt.h, "hello", "k", 1)
		want := wantEvent(testBase + `,"a":{"p":1,"b":{"c":{` + tt.want + `}}}`)
		if got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		if !slices.Equal(gotGroups, tt.wantGroups) {
			t.Errorf("ReplaceAttr groups %q, want %q", gotGroups, tt.wantGroups)
		}
	}
}

// WithAttrs and WithGroup leave the receiver as it was.
func TestWithLeavesReceiver(t *testing.T) {
	h, rec := newTestHandler(nil)
	parent := h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)})
	before := rec.emit(t, parent, "hello", "k", 1)
	_ = parent.WithAttrs([]slog.Attr{slog.Int("b", 2), slog.Any("m", modelA{A: 3})})
	_ = parent.WithGroup("h").WithAttrs([]slog.Attr{slog.Int("c", 3)})
	if after := rec.emit(t, parent, "hello", "k", 1); after != before {
		t.Errorf("parent changed:\nbefore %s\n after %s", before, after)
	}
	if h.WithGroup("") != slog.Handler(h) {
		t.Error(`WithGroup("") returned a new handler`)
	}
}

// countingValuer counts its LogValue calls.
type countingValuer struct{ n *int }

func (c countingValuer) LogValue() slog.Value { *c.n++; return slog.StringValue("v") }

// WithAttrs output is encoded once: slog.JSONHandler calls a LogValuer
// given to With once, when With is called, and never per record, and calls
// ReplaceAttr once for it; so does the Encoder. A record's LogValuer is
// resolved once per record, as slog.JSONHandler does.
func TestResolvedOnce(t *testing.T) {
	var replaced int
	opts := &Options{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "lv" {
			replaced++
		}
		return a
	}}
	h, rec := newTestHandler(opts)
	var slogOut bytes.Buffer
	for _, tt := range []struct {
		name string
		h    slog.Handler
	}{
		{"record", h},
		{"slog.JSONHandler", slog.NewJSONHandler(&slogOut, &slog.HandlerOptions{ReplaceAttr: opts.ReplaceAttr})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := new(int)
			replaced = 0
			hw := tt.h.WithGroup("g").WithAttrs([]slog.Attr{slog.Any("lv", countingValuer{n})})
			if *n != 1 || replaced != 1 {
				t.Errorf("after WithAttrs: %d LogValue calls and %d ReplaceAttr calls, want 1 and 1", *n, replaced)
			}
			l := slog.New(hw)
			l.Info("one", "x", 1)
			l.Info("two", "x", 2)
			if *n != 1 || replaced != 1 {
				t.Errorf("after 2 records: %d LogValue calls and %d ReplaceAttr calls, want 1 and 1", *n, replaced)
			}
			m := new(int)
			slog.New(tt.h).Info("rec", "lv", countingValuer{m})
			if *m != 1 {
				t.Errorf("a record's LogValuer: %d LogValue calls, want 1", *m)
			}
			*m = 0
			slog.New(tt.h).Info("rec", slog.Group("g", "lv", countingValuer{m}))
			if *m != 1 {
				t.Errorf("a LogValuer in a record's group: %d LogValue calls, want 1", *m)
			}
		})
	}
	if !strings.Contains(rec.last(t), `"lv":"v"`) {
		t.Errorf("resolved value missing: %s", rec.last(t))
	}
}

// Groups that end up empty are dropped even when they come from WithAttrs,
// as slog.JSONHandler drops them (handler guide: "drop groups with no
// attrs").
func TestEmptyGroupsFromWithAttrs(t *testing.T) {
	h, rec := newTestHandler(nil)
	for _, tt := range []struct {
		name  string
		attrs []slog.Attr
	}{
		{"empty group", []slog.Attr{slog.Group("e")}},
		{"empty attr", []slog.Attr{{}}},
		{"inline empty group", []slog.Attr{slog.Group("", slog.Group("e"))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var slogOut bytes.Buffer
			slog.New(slog.NewJSONHandler(&slogOut, nil).WithGroup("g").WithAttrs(tt.attrs)).Info("hello")
			if strings.Contains(slogOut.String(), `"g"`) {
				t.Fatalf("slog.JSONHandler keeps the group: %s", slogOut.String())
			}
			got := rec.emit(t, h.WithGroup("g").WithAttrs(tt.attrs), "hello")
			if want := wantEvent(testBase); got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Odd values never panic.

type nilErr struct{}

func (*nilErr) Error() string { return "nil-safe" }

type valErr struct{}

func (valErr) Error() string { return "val" }

type nilStringer struct{ s string }

func (n *nilStringer) String() string { return n.s }

type badJSON struct{}

func (badJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("nope") }

type panicJSON struct{}

func (panicJSON) MarshalJSON() ([]byte, error) { panic("pj") }

type panicText struct{}

func (panicText) MarshalText() ([]byte, error) { panic("pt") }

type panicErr struct{}

func (panicErr) Error() string { panic("pe") }

type panicValuer struct{}

func (panicValuer) LogValue() slog.Value { panic("boom") }

type cyclic struct {
	Next *cyclic `json:"next"`
}

func TestOddValues(t *testing.T) {
	cyc := &cyclic{}
	cyc.Next = cyc
	long := strings.Repeat("x", 1<<20)
	for _, tt := range []struct {
		name      string
		value     any
		want      string // the attribute's JSON
		exception string // JSON
	}{
		{"nil", nil, `null`, `null`},
		{"nil error", error(nil), `null`, `null`},
		{"nil *T with a pointer Error method", (*nilErr)(nil), `null`, `null`},
		{"nil *T with a value Error method", (*valErr)(nil), `null`, `null`},
		{"nil *T with a String method", (*nilStringer)(nil), `null`, `null`},
		{"non-nil Stringer is JSON, as in slog", &nilStringer{s: "x"}, `{}`, `null`},
		{"MarshalJSON fails", badJSON{}, `"!ERROR:json: error calling MarshalJSON for type record.badJSON: nope"`, `null`},
		{"MarshalJSON panics", panicJSON{}, `"!PANIC: pj"`, `null`},
		{"MarshalText panics", panicText{}, `"!PANIC: pt"`, `null`},
		{"Error panics", panicErr{}, `"!PANIC: pe"`, `"record.panicErr"`},
		{"NaN", math.NaN(), `"!ERROR:json: unsupported value: NaN"`, `null`},
		{"+Inf", math.Inf(1), `"!ERROR:json: unsupported value: +Inf"`, `null`},
		{"-Inf", math.Inf(-1), `"!ERROR:json: unsupported value: -Inf"`, `null`},
		{"float32 NaN", float32(math.NaN()), `"!ERROR:json: unsupported value: NaN"`, `null`},
		{"channel", make(chan int), `"!ERROR:json: unsupported type: chan int"`, `null`},
		{"func", func() {}, `"!ERROR:json: unsupported type: func()"`, `null`},
		{"complex", 1 + 2i, `"!ERROR:json: unsupported type: complex128"`, `null`},
		{"cycle", cyc, `"!ERROR:json: unsupported value: encountered a cycle via *record.cyclic"`, `null`},
		{"very long string", long, `"` + long + `"`, `null`},
		{"invalid UTF-8", "a\xffb\xe2\x80", `"a\ufffdb\ufffd\ufffd"`, `null`},
		{"HTML is not escaped", "<a&b>", `"<a&b>"`, `null`},
		{"U+2028 and U+2029, raw as orjson writes them", "a\u2028b\u2029", "\"a\u2028b\u2029\"", `null`},
		{"small and large floats", []float64{1e-7, 1e20, 1e21, math.Copysign(0, -1)}, `[1e-7,100000000000000000000,1e+21,-0]`, `null`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newTestHandler(nil)
			event := rec.emit(t, h, "hello", "v", tt.value)
			data := mustData(t, event)
			if !strings.HasSuffix(event, `,"v":`+tt.want+`}}`) {
				if len(event) > 600 {
					event = event[:600] + "…"
				}
				t.Errorf("event %s\nwant it to end with \"v\":%s", event, tt.want)
			}
			exc, _ := data.get("exception")
			if g := jsonText(exc); g != tt.exception {
				t.Errorf("exception = %s, want %s", g, tt.exception)
			}
			if tt.exception != "null" {
				v, _ := data.get("v")
				if stack, _ := data.get("stack"); stack != v {
					t.Errorf("stack = %v, want the attribute's text %v", stack, v)
				}
			}
		})
	}
}

// Keys are escaped like values.
func TestOddKeys(t *testing.T) {
	h, rec := newTestHandler(nil)
	event := rec.emit(t, h, "hello", "a\u2028b", 1, "x\xffy", 2, "<&>", 3, "q\"\\", 4, "\x00", 5, slog.Int("", 6))
	// An empty key with a value is written, as slog.JSONHandler writes it:
	// only an Attr whose key and value are both zero is ignored
	// (slog.Handler's contract).
	want := ",\"a\u2028b\":1," + `"x\ufffdy":2,"<&>":3,"q\"\\":4,"\u0000":5,"":6}}`
	if !strings.HasSuffix(event, want) {
		t.Errorf("event\n got %s\nwant suffix %s", event, want)
	}
	mustData(t, event)
}

// A LogValuer that panics is turned by slog's Resolve into an error value
// saying "LogValue panicked": it is logged, and, being an error, fills
// exception and stack with the same text.
func TestPanickingLogValuer(t *testing.T) {
	h, rec := newTestHandler(nil)
	for _, hh := range []slog.Handler{h, h.WithAttrs([]slog.Attr{slog.Any("p", panicValuer{})})} {
		var event string
		if hh == slog.Handler(h) {
			event = rec.emit(t, hh, "hello", "p", panicValuer{})
		} else {
			event = rec.emit(t, hh, "hello")
		}
		data := mustData(t, event)
		p, _ := data.get("p")
		ps, _ := p.(string)
		if !strings.HasPrefix(ps, "LogValue panicked\n") {
			t.Errorf("p = %v, want the LogValue panicked error", p)
		}
		if exc, _ := data.get("exception"); exc != "error" {
			t.Errorf("exception = %v, want error", exc)
		}
		if stack, _ := data.get("stack"); stack != ps {
			t.Errorf("stack is not the attribute's text (the value was resolved more than once):\nstack %v\n    p %v", stack, ps)
		}
	}
}

// appendString writes the bytes encoding/json writes with SetEscapeHTML(false),
// for every string, but for U+2028 and U+2029, written raw as orjson
// writes them (jsonenc's vectors check those against orjson itself).
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	enc := func(s string) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(s); err != nil {
			t.Fatal(err)
		}
		return string(jsonenc.RawLineSeparators([]byte(strings.TrimSuffix(b.String(), "\n"))))
	}
	fixed := []string{"", "plain", "\"\\/", "\b\f\n\r\t", "\x00\x01\x1f\x7f", "<&>", "\u2028\u2029", "\ufffd",
		"\xff", "\xe2\x80", "\xed\xa0\x80", "é日本🙂", "\xc0\xaf"}
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", " ", "\"", "\\", "\x00", "\x1f", "\b", "\f", "\n", "\x7f", "<", "&", "\u2028", "\u2029",
		"é", "日", "🙂", "\xff", "\x80", "\xe2", "\xe2\x80", "\xed\xa0\x80", "\ufffd"}
	for range 5000 {
		var b strings.Builder
		for range r.IntN(12) {
			if r.IntN(4) == 0 {
				b.WriteByte(byte(r.IntN(256)))
			} else {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
		}
		fixed = append(fixed, b.String())
	}
	// Every byte at every place of an eight-byte word, after and before
	// plain runs: appendString tests eight bytes at a time.
	for c := range 256 {
		for at := range 17 {
			fixed = append(fixed, strings.Repeat("a", at)+string(rune(c))+strings.Repeat("z", 9),
				strings.Repeat("a", at)+string([]byte{byte(c)})+strings.Repeat("z", 9))
		}
	}
	fails := 0
	for _, s := range fixed {
		if got, want := string(appendString(nil, s)), enc(s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
			if fails++; fails > 5 {
				t.Fatal("too many failures")
			}
		}
		if !utf8.Valid(appendString(nil, s)) {
			t.Errorf("appendString(%q) is not valid UTF-8", s)
		}
	}
}

// FuzzAppendString: appendString writes what encoding/json writes (with
// U+2028 and U+2029 raw), for any string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain text of a message", "0123456\"89", "abcdefgh\x00", "\u2028 in the middle", "\xff\xfe", "日本語のログ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := string(jsonenc.RawLineSeparators([]byte(strings.TrimSuffix(b.String(), "\n"))))
		if got := string(appendString(nil, s)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// ---------------------------------------------------------------------------
// Options.

func TestOptionsSchema(t *testing.T) {
	if got := NewEncoder(nil).Schema(); got != "PydanticLogModel:1" {
		t.Errorf("default Schema() = %q, want PydanticLogModel:1", got)
	}
	h, rec := newTestHandler(&Options{Schema: "AppLog:2"})
	got := rec.emit(t, h, "hello")
	if want := `{"schema":"AppLog:2","data":{` + testBase + `}}`; got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	if got := NewEncoder(&Options{Schema: "AppLog:2"}).Schema(); got != "AppLog:2" {
		t.Errorf("Schema() = %q, want AppLog:2", got)
	}
}

func TestOptionsDefaultLogger(t *testing.T) {
	rec := &recorder{}
	h := NewHandler(rec.write, nil, &Options{Host: &testHost})
	data := mustData(t, rec.emit(t, h, "hello"))
	if got, _ := data.get("logger"); got != filepathBase(os.Args[0]) {
		t.Errorf("logger = %v, want the program name %q", got, filepathBase(os.Args[0]))
	}
}

func filepathBase(p string) string { return p[strings.LastIndexAny(p, `/\`)+1:] }

// NewEncoder copies its options: changing the caller's struct afterwards
// changes nothing.
func TestOptionsCopied(t *testing.T) {
	opts := &Options{Host: &testHost, Logger: "orders", ContextAttrs: []func(context.Context) []slog.Attr{
		func(context.Context) []slog.Attr { return []slog.Attr{slog.Int("c", 1)} },
	}}
	rec := &recorder{}
	h := NewHandler(rec.write, nil, opts)
	opts.Logger = "changed"
	opts.Schema = "Changed:1"
	opts.ContextAttrs[0] = func(context.Context) []slog.Attr { return []slog.Attr{slog.Int("c", 2)} }
	if got, want := rec.emit(t, h, "hello"), wantEvent(testBase+`,"c":1`); got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	if opts.Schema != "Changed:1" || opts.Host != &testHost {
		t.Error("NewEncoder wrote to the caller's options")
	}
}

func TestOptionsAddSource(t *testing.T) {
	h, rec := newTestHandler(&Options{AddSource: true})
	_, file, line, _ := runtime.Caller(0)
	slog.New(h).Info("hello") // line+1
	data := mustData(t, rec.last(t))
	src, ok := data.get("source")
	if !ok {
		t.Fatalf("no source: %s", rec.last(t))
	}
	want := fmt.Sprintf(`{"file":%q,"function":"github.com/kafkaesk-go/kafkaesk/record.TestOptionsAddSource","line":%d}`, file, line+1)
	if got := jsonText(src); got != want {
		t.Errorf("source = %s, want %s", got, want)
	}
	// source comes after the base fields and before the attributes.
	data = mustData(t, rec.emit(t, h, "hello", "a", 1)) // PC 0: no source
	if _, ok := data.get("source"); ok {
		t.Error("source written for a record with PC 0")
	}
	slog.New(h).Info("hello", "a", 1)
	if got, want := mustData(t, rec.last(t)).keys()[12:], []string{"source", "a"}; !slices.Equal(got, want) {
		t.Errorf("keys after the base fields %q, want %q", got, want)
	}

	// ReplaceAttr can drop it.
	h, rec = newTestHandler(&Options{AddSource: true, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.SourceKey && groups == nil {
			return slog.Attr{}
		}
		return a
	}})
	slog.New(h).Info("hello")
	if _, ok := mustData(t, rec.last(t)).get("source"); ok {
		t.Errorf("ReplaceAttr did not drop source: %s", rec.last(t))
	}
}

func TestOptionsReplaceAttr(t *testing.T) {
	type call struct {
		groups []string
		key    string
	}
	var calls []call
	h, rec := newTestHandler(&Options{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		calls = append(calls, call{slices.Clone(groups), a.Key})
		switch {
		case a.Key == slog.TimeKey && groups == nil:
			return slog.Attr{}
		case a.Key == slog.LevelKey && groups == nil:
			return slog.Any(slog.LevelKey, slog.LevelWarn)
		case a.Key == slog.MessageKey && groups == nil:
			return slog.String(slog.MessageKey, "replaced: "+a.Value.String())
		case a.Key == "secret":
			return slog.String("secret", "***")
		case a.Key == "drop":
			return slog.Attr{}
		}
		return a
	}})
	got := rec.emit(t, h.WithGroup("g"), "hello", "secret", "pw", "drop", 1, "keep", 2)
	want := wantEvent(`"logger":"orders","severity":"WARNING","level":30,"message":"replaced: hello","exception":null,"trace":null,"stack":null,` +
		`"hostname":"api-server-7d9f8-xk2p9","service":"api-server","namespace":"prod","cluster":"eu-west-1","g":{"secret":"***","keep":2}`)
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	wantCalls := []call{{nil, "time"}, {nil, "level"}, {nil, "msg"}, {[]string{"g"}, "secret"}, {[]string{"g"}, "drop"}, {[]string{"g"}, "keep"}}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("ReplaceAttr calls %v, want %v", calls, wantCalls)
	}

	// A group whose attributes ReplaceAttr all drops is dropped, as
	// slog.JSONHandler drops it.
	if got := rec.emit(t, h.WithGroup("g2"), "hello", "drop", 1); strings.Contains(got, `"g2"`) {
		t.Errorf("empty group written: %s", got)
	}
	if got := rec.emit(t, h.WithGroup("g3").WithAttrs([]slog.Attr{slog.Int("drop", 1)}), "hello"); strings.Contains(got, `"g3"`) {
		t.Errorf("empty group written: %s", got)
	}

	// A ReplaceAttr that changes the time changes the timestamp.
	h, rec = newTestHandler(&Options{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && groups == nil {
			return slog.Time(slog.TimeKey, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		}
		return a
	}})
	if got := rec.emit(t, h, "hello"); !strings.Contains(got, `"timestamp":"2030-01-01T00:00:00.000000Z"`) {
		t.Errorf("timestamp not replaced: %s", got)
	}
}

// A zero record time leaves the timestamp out, as the handler guide asks.
func TestZeroTime(t *testing.T) {
	h, rec := newTestHandler(nil)
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "hello", 0)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if want := wantEvent(strings.TrimPrefix(testBase, `"timestamp":"2026-11-21T15:04:05.123456Z",`)); rec.last(t) != want {
		t.Errorf("event\n got %s\nwant %s", rec.last(t), want)
	}
}

func TestOptionsContextAttrs(t *testing.T) {
	type reqKey struct{}
	h, rec := newTestHandler(&Options{ContextAttrs: []func(context.Context) []slog.Attr{
		func(ctx context.Context) []slog.Attr {
			if id, ok := ctx.Value(reqKey{}).(string); ok {
				return []slog.Attr{slog.String("request_id", id)}
			}
			return nil
		},
		func(context.Context) []slog.Attr { return []slog.Attr{slog.Group("trace", "span", "s1")} },
	}})
	ctx := context.WithValue(context.Background(), reqKey{}, "req-7")
	got := rec.emitCtx(t, ctx, h.WithGroup("g"), slog.LevelInfo, "hello", "a", 1)
	if want := wantEvent(testBase + `,"g":{"request_id":"req-7","trace":{"span":"s1"},"a":1}`); got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	got = rec.emitCtx(t, context.Background(), h, slog.LevelInfo, "hello")
	if want := wantEvent(testBase + `,"fields.trace":{"span":"s1"}`); got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

// ---------------------------------------------------------------------------
// Encoder.Append.

// Append appends: what dst held stays, on the fast and the slow
// (deduplicating) path alike.
func TestAppendKeepsDst(t *testing.T) {
	enc := NewEncoder(&Options{Host: &testHost, Logger: "orders"})
	for _, args := range [][]any{{"a", 1}, {"a", 0, "a", 1}} {
		r := slog.NewRecord(testTime, slog.LevelInfo, "hello", 0)
		r.Add(args...)
		dst := append(make([]byte, 0, 4096), "prefix\n"...)
		got := string(enc.Append(dst, context.Background(), r))
		if want := "prefix\n" + wantEvent(testBase+`,"a":1`); got != want {
			t.Errorf("Append(%v)\n got %s\nwant %s", args, got, want)
		}
	}
}

// Handle writes exactly one event per record, whatever the level.
func TestHandlerLevels(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	rec := &recorder{}
	h := NewHandler(rec.write, &lv, &Options{Host: &testHost, Logger: "orders"})
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("Enabled does not follow the level")
	}
	lv.Set(slog.LevelDebug)
	if !h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled does not follow a changed LevelVar")
	}
	if NewHandler(rec.write, nil, nil).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("default level is not Info")
	}
	wantErr := errors.New("write failed")
	h = NewHandler(func([]byte) error { return wantErr }, nil, &Options{Host: &testHost})
	if err := h.Handle(context.Background(), slog.NewRecord(testTime, slog.LevelInfo, "m", 0)); !errors.Is(err, wantErr) {
		t.Errorf("Handle = %v, want the write error", err)
	}
}
