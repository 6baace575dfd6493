package streamhandler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmittmann/tint"

	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

type UserLog struct {
	record.Model
	User     string `json:"user"`
	Attempts int    `json:"attempts,omitempty"`
}

type OrderLog struct {
	record.Model
	Order string `json:"order"`
}

// lazyUser is a LogValuer that resolves to a log model.
type lazyUser string

func (u lazyUser) LogValue() slog.Value { return slog.AnyValue(UserLog{User: string(u)}) }

// noTime drops the leading time so that lines can be compared.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// plain returns a logger writing uncoloured lines without time into buf.
func plain(buf *bytes.Buffer, opts *streamhandler.Options) *slog.Logger {
	o := streamhandler.Options{Color: streamhandler.ColorNever, ReplaceAttr: noTime}
	if opts != nil {
		o = *opts
		if o.ReplaceAttr == nil {
			o.ReplaceAttr = noTime
		}
	}
	return slog.New(streamhandler.New(buf, &o))
}

func TestHandle(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(*slog.Logger)
		want string
	}{
		{"plain", func(l *slog.Logger) { l.Info("hello", "k", 1, "s", "a b") }, `INF hello k=1 s="a b"`},
		{"levels", func(l *slog.Logger) {
			l.Warn("w")
			l.Error("e")
			l.Log(context.Background(), slog.LevelInfo+2, "i2")
		}, "WRN w\nERR e\nINF+2 i2"},
		{"model", func(l *slog.Logger) {
			l.Info("signed in", "event", UserLog{User: "ana", Attempts: 2})
		}, "INF signed in: user=ana, attempts=2"},
		{"model among attrs", func(l *slog.Logger) {
			l.Info("signed in", "ip", "10.0.0.1", "event", UserLog{User: "ana"}, "ok", true)
		}, "INF signed in: user=ana ip=10.0.0.1 ok=true"},
		{"model pointer", func(l *slog.Logger) {
			l.Info("signed in", "event", &UserLog{User: "ana"})
		}, "INF signed in: user=ana"},
		{"model through LogValuer", func(l *slog.Logger) {
			l.Info("signed in", "event", lazyUser("ana"))
		}, "INF signed in: user=ana"},
		{"nil model pointer", func(l *slog.Logger) {
			l.Info("signed in", "event", (*UserLog)(nil), "k", 1)
		}, "INF signed in k=1"},
		{"two models, each rendered", func(l *slog.Logger) {
			l.Info("paid", "u", UserLog{User: "ana"}, "o", OrderLog{Order: "o-7"})
		}, "INF paid: user=ana: order=o-7"},
		{"model from With, before the record's", func(l *slog.Logger) {
			l.With("u", UserLog{User: "ana"}, "a", 1).Info("paid", "o", OrderLog{Order: "o-7"}, "b", 2)
		}, "INF paid: user=ana: order=o-7 a=1 b=2"},
		{"model from With in a group: key and group unused", func(l *slog.Logger) {
			l.WithGroup("g").With("u", UserLog{User: "ana"}).Info("m", "k", 1)
		}, "INF m: user=ana g.k=1"},
		{"model inside a group is an ordinary value", func(l *slog.Logger) {
			l.Info("m", slog.Group("g", "u", UserLog{User: "ana"}))
		}, `INF m g.u="{Model:{} User:ana Attempts:0}"`},
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("a").WithGroup("b").Info("m", "k", 1) }, "INF m a.b.k=1"},
		{"WithGroup without attributes", func(l *slog.Logger) { l.WithGroup("a").Info("m") }, "INF m"},
		{"With and WithGroup interleaved", func(l *slog.Logger) {
			l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").Info("m", "c", 3, slog.Group("i", "d", 4))
		}, "INF m a=1 g.b=2 g.h.c=3 g.h.i.d=4"},
		{"inline and empty groups", func(l *slog.Logger) {
			l.WithGroup("g").Info("m", slog.Group("", "a", 1), slog.Group("e"), "", nil)
		}, "INF m g.a=1"},
		{"WithAttrs and WithGroup with empty arguments", func(l *slog.Logger) {
			l.With().WithGroup("").Info("m", "k", 1)
		}, "INF m k=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.f(plain(&buf, nil))
			if got, want := buf.String(), tt.want+"\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// The models' values: JSON text, strings without quotes or escapes, in
// field order, with omitempty and embedded structs as encoding/json has
// them.
func TestHandleModelValues(t *testing.T) {
	type Inner struct {
		X int `json:"x"`
	}
	type Embedded struct {
		E string `json:"e"`
	}
	type AllLog struct {
		record.Model
		Embedded
		S      string            `json:"s"`
		I      int64             `json:"i"`
		F      float64           `json:"f"`
		B      bool              `json:"b"`
		P      *int              `json:"p"`
		Inner  Inner             `json:"inner"`
		L      []string          `json:"l"`
		M      map[string]int    `json:"m"`
		T      time.Time         `json:"t"`
		Skip   string            `json:"-"`
		Empty  string            `json:"empty,omitempty"`
		HTML   string            `json:"html"`
		Nested map[string]string `json:"nested"`
		hidden int
	}
	var buf bytes.Buffer
	plain(&buf, nil).Info("m", "all", AllLog{
		Embedded: Embedded{E: "e"},
		S:        "two words \"quoted\"\ttab",
		I:        -3, F: 1.5, B: true,
		Inner: Inner{X: 1}, L: []string{"a", "b"}, M: map[string]int{"z": 1, "a": 2},
		T:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Skip:   "skip",
		HTML:   "<a&b>",
		Nested: map[string]string{"k": "<v>"},
		hidden: 1,
	})
	want := "INF m: e=e, s=two words \"quoted\"\ttab, i=-3, f=1.5, b=true, p=null, inner={\"x\":1}, " +
		`l=["a","b"], m={"a":2,"z":1}, t=2026-01-02T03:04:05Z, html=<a&b>, nested={"k":"<v>"}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// kafkaesk's test_stream_handler_with_log_model_shortens_log_messae: with
// two 256-character fields the first is written whole and the second not
// at all.
func TestHandleModelBudget(t *testing.T) {
	type LongLog struct {
		record.Model
		Foo string `json:"foo"`
		Bar string `json:"bar"`
	}
	var buf bytes.Buffer
	plain(&buf, nil).Info("Test Message", "m", LongLog{Foo: strings.Repeat("X", 256), Bar: strings.Repeat("Y", 256)})
	got := buf.String()
	if want := "INF Test Message: foo=" + strings.Repeat("X", 256) + "\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(got, "bar=") {
		t.Errorf("got %q, want no bar=", got)
	}
}

// The budget counts the pairs alone, not the ", " between them, and in
// characters, not bytes: a pair that brings the total to exactly 256
// does not stop the list; the next one does, and is still written.
func TestHandleModelBudgetBoundary(t *testing.T) {
	type BoundaryLog struct {
		record.Model
		A string `json:"a"`
		B string `json:"b"`
		C string `json:"c"`
		D string `json:"d"`
	}
	a := strings.Repeat("é", 248) // "a=" + 248 characters = 250 (498 bytes)
	m := BoundaryLog{A: a, B: "1234", C: "c", D: "d"}
	var buf bytes.Buffer
	plain(&buf, nil).Info("m", "m", m) // 250 + len("b=1234") = 256, + len("c=c") = 259
	want := "INF m: a=" + a + ", b=1234, c=c\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestColor(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })

	for _, tt := range []struct {
		name  string
		mode  streamhandler.ColorMode
		color bool
	}{
		{"auto, buffer", streamhandler.ColorAuto, false},
		{"always, buffer", streamhandler.ColorAlways, true},
		{"never, buffer", streamhandler.ColorNever, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(streamhandler.New(&buf, &streamhandler.Options{Color: tt.mode})).Warn("m", "k", 1)
			if got := bytes.Contains(buf.Bytes(), []byte("\x1b[")); got != tt.color {
				t.Errorf("colours: got %v, want %v in %q", got, tt.color, buf.String())
			}
		})
	}

	t.Run("auto, pipe", func(t *testing.T) {
		slog.New(streamhandler.New(w, nil)).Warn("m", "k", 1)
		line := make([]byte, 200)
		n, err := r.Read(line)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(line[:n], []byte("\x1b[")) {
			t.Errorf("got colours on a pipe: %q", line[:n])
		}
	})
}

// New copies the options: defaults are never written to the caller's
// struct (tint.NewTextHandler writes them to the one it is given).
func TestNewDoesNotWriteOptions(t *testing.T) {
	opts := &streamhandler.Options{}
	streamhandler.New(&bytes.Buffer{}, opts)
	if opts.Level != nil || opts.TimeFormat != "" || opts.Color != streamhandler.ColorAuto {
		t.Errorf("got %+v after New, want the zero Options", *opts)
	}
	// And nil opts means defaults: level Info and tint's time format.
	var buf bytes.Buffer
	l := slog.New(streamhandler.New(&buf, nil))
	l.Debug("hidden")
	l.Info("shown")
	if ok, _ := regexp.MatchString(`^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3} INF shown\n$`, buf.String()); !ok {
		t.Errorf("got %q, want a StampMilli time, INF and the message", buf.String())
	}
}

func TestLevel(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	var buf bytes.Buffer
	l := plain(&buf, &streamhandler.Options{Level: &lv, Color: streamhandler.ColorNever})
	l.Info("no")
	l.Warn("yes")
	lv.Set(slog.LevelDebug)
	l.Debug("now")
	if got, want := buf.String(), "WRN yes\nDBG now\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if h := l.Handler(); h.Enabled(context.Background(), slog.LevelDebug-1) {
		t.Error("Enabled(Debug-1) with level Debug: got true, want false")
	}
}

func TestAddSource(t *testing.T) {
	var buf bytes.Buffer
	plain(&buf, &streamhandler.Options{AddSource: true, Color: streamhandler.ColorNever}).Info("m")
	if ok, _ := regexp.MatchString(`^INF streamhandler/handler_test\.go:\d+ m\n$`, buf.String()); !ok {
		t.Errorf("got %q, want INF streamhandler/handler_test.go:<line> m", buf.String())
	}
}

// call is one ReplaceAttr call.
type call struct {
	groups string
	key    string
}

// recorder returns a ReplaceAttr that records its calls (time removed).
func recorder() (*[]call, func([]string, slog.Attr) slog.Attr) {
	var mu sync.Mutex
	var calls []call
	return &calls, func(groups []string, a slog.Attr) slog.Attr {
		mu.Lock()
		calls = append(calls, call{strings.Join(groups, "."), a.Key})
		mu.Unlock()
		return noTime(groups, a)
	}
}

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	calls, rec := recorder()
	l := slog.New(streamhandler.New(&buf, &streamhandler.Options{
		Color: streamhandler.ColorNever,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			a = rec(groups, a)
			switch {
			case a.Key == "password":
				return slog.Attr{}
			case a.Key == slog.LevelKey && len(groups) == 0:
				return slog.String(slog.LevelKey, "INFO")
			case a.Value.Kind() == slog.KindString && a.Key != slog.MessageKey:
				return slog.String(strings.ToUpper(a.Key), strings.ToUpper(a.Value.String()))
			}
			return a
		},
	}))
	l.With("user", "ana").WithGroup("req").Info("signed in", "password", "hunter2", "path", "/login",
		"event", UserLog{User: "ana"})
	if got, want := buf.String(), "INFO signed in: user=ana USER=ANA req.PATH=/LOGIN\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// user from With (when With was called), then the built-ins, then the
	// record's attributes; the model's fields are not passed.
	want := []call{{"", "user"}, {"", "time"}, {"", "level"}, {"", "msg"}, {"req", "password"}, {"req", "path"}}
	if !slices.Equal(*calls, want) {
		t.Errorf("ReplaceAttr calls: got %v, want %v", *calls, want)
	}
}

// Regression test for tint's WithGroup aliasing (go-anchors.md §3): tint
// appends the new group to a slice shared with the parent handler, so two
// siblings derived from a handler three groups deep share the fourth slot
// and ReplaceAttr, called through the first, sees the second's name.
func TestWithGroupSiblings(t *testing.T) {
	var buf bytes.Buffer
	calls, rec := recorder()
	l := slog.New(streamhandler.New(&buf, &streamhandler.Options{Color: streamhandler.ColorNever, ReplaceAttr: rec}))
	base := l.WithGroup("a").WithGroup("b").WithGroup("c")
	x := base.WithGroup("x")
	y := base.WithGroup("y")
	x.Info("m", "k", 1)
	y.Info("m", "k", 2)
	x.With("w", 3).Info("m")
	base.Info("m", slog.Group("g", "k", 4)) // appends after c within the record
	x.Info("m", "k", 5)

	var got []string
	for _, c := range *calls {
		if c.key == "k" || c.key == "w" {
			got = append(got, c.groups+"."+c.key)
		}
	}
	want := []string{"a.b.c.x.k", "a.b.c.y.k", "a.b.c.x.w", "a.b.c.g.k", "a.b.c.x.k"}
	if !slices.Equal(got, want) {
		t.Errorf("ReplaceAttr groups: got %v, want %v", got, want)
	}
	wantOut := "INF m a.b.c.x.k=1\nINF m a.b.c.y.k=2\nINF m a.b.c.x.w=3\nINF m a.b.c.g.k=4\nINF m a.b.c.x.k=5\n"
	if buf.String() != wantOut {
		t.Errorf("got %q, want %q", buf.String(), wantOut)
	}
}

// TestTintWithGroupAliasing documents the tint bug that WithGroup works
// around. If it stops reproducing after a tint upgrade, the workaround is
// no longer needed (but stays harmless).
func TestTintWithGroupAliasing(t *testing.T) {
	var seen []string
	h := tint.NewTextHandler(&bytes.Buffer{}, &tint.Options{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == "k" {
			seen = slices.Clone(groups)
		}
		return a
	}})
	base := slog.New(h).WithGroup("a").WithGroup("b").WithGroup("c")
	x := base.WithGroup("x")
	_ = base.WithGroup("y")
	x.Info("m", "k", 1)
	if slices.Equal(seen, []string{"a", "b", "c", "x"}) {
		t.Logf("tint no longer aliases WithGroup's slice: groups %v", seen)
	} else {
		t.Logf("tint still aliases WithGroup's slice: groups %v through x", seen)
	}
}

type panicValuer struct{}

func (panicValuer) LogValue() slog.Value { panic("boom") }

type nilStringer struct{ s string }

func (n *nilStringer) String() string { return n.s }

type nilError struct{ s string }

func (e *nilError) Error() string { return e.s }

type PanicLog struct{ record.Model }

func (PanicLog) MarshalJSON() ([]byte, error) { panic("marshal boom") }

type ErrorLog struct{ record.Model }

func (ErrorLog) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot") }

type ChanLog struct {
	record.Model
	C chan int `json:"c"`
}

type ArrayLog struct{ record.Model }

func (ArrayLog) MarshalJSON() ([]byte, error) { return []byte(`[1,2]`), nil }

// Odd values are written, never panicked on, and Handle still returns nil.
func TestHandleOddValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []any
		want string // a substring of the line
	}{
		{"LogValuer panics", []any{"k", panicValuer{}}, `k="LogValue panicked`},
		{"nil Stringer pointer", []any{"k", (*nilStringer)(nil)}, "k=<nil>"},
		{"nil error pointer", []any{"k", (*nilError)(nil)}, "k=<nil>"},
		{"nil any", []any{"k", nil}, "k=<nil>"},
		{"channel", []any{"k", make(chan int)}, "k=0x"},
		{"func", []any{"k", func() {}}, "k=0x"},
		{"model MarshalJSON panics", []any{"m", PanicLog{}}, "INF msg: !PANIC: marshal boom"},
		{"model MarshalJSON fails", []any{"m", ErrorLog{}}, "INF msg: !ERROR:json: error calling MarshalJSON for type streamhandler_test.ErrorLog: cannot"},
		{"model with an unsupported field", []any{"m", ChanLog{C: make(chan int)}}, "INF msg: !ERROR:json: unsupported type: chan int"},
		{"model that is not an object", []any{"m", ArrayLog{}}, "INF msg: [1,2]"},
		{"empty model", []any{"m", struct{ record.Model }{}, "k", 1}, "INF msg k=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := streamhandler.New(&buf, &streamhandler.Options{Color: streamhandler.ColorNever, ReplaceAttr: noTime})
			r := slog.NewRecord(time.Now(), slog.LevelInfo, "msg", 0)
			r.Add(tt.args...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			// And through WithAttrs.
			var attrs []slog.Attr
			r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
			if err := h.WithAttrs(attrs).Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "msg", 0)); err != nil {
				t.Fatalf("Handle after WithAttrs: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("got %d lines, want 2: %q", len(lines), buf.String())
			}
			for _, line := range lines {
				if !strings.Contains(line, tt.want) {
					t.Errorf("got %q, want it to contain %q", line, tt.want)
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestHandleReturnsWriteError(t *testing.T) {
	h := streamhandler.New(failWriter{}, nil)
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r.Add("u", UserLog{User: "ana"})
	if err := h.WithGroup("g").Handle(context.Background(), r); err == nil || err.Error() != "disk full" {
		t.Errorf("got %v, want disk full", err)
	}
}

// Clones share the writer's mutex: many goroutines logging through
// different clones into one unsynchronised buffer produce whole lines
// (and no race under -race).
func TestConcurrentClones(t *testing.T) {
	var buf bytes.Buffer
	l := plain(&buf, nil)
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			c := l.With("g", g)
			if g%2 == 0 {
				c = c.WithGroup("grp")
			}
			for i := range each {
				c.Info("msg", "i", i, "u", UserLog{User: fmt.Sprint("u", g)})
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != goroutines*each {
		t.Fatalf("got %d lines, want %d", len(lines), goroutines*each)
	}
	re := regexp.MustCompile(`^INF msg: user=u(\d+) g=(\d+) (grp\.)?i=\d+$`)
	for _, line := range lines {
		m := re.FindStringSubmatch(line)
		if m == nil || m[1] != m[2] {
			t.Fatalf("got line %q, want a whole line of one goroutine", line)
		}
	}
}

// Siblings opened concurrently on one base, and logging through the base
// with a group of its own, share no slice: with tint's WithGroup these
// write the same slot of one array (a data race under -race), and
// ReplaceAttr sees another goroutine's group.
func TestConcurrentSiblingGroups(t *testing.T) {
	var wrong sync.Map
	l := slog.New(streamhandler.New(io.Discard, &streamhandler.Options{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == "k" && (len(groups) != 4 || groups[3] != a.Value.String()) {
				wrong.Store(strings.Join(groups, ".")+" for "+a.Value.String(), true)
			}
			return a
		},
	}))
	base := l.WithGroup("a").WithGroup("b").WithGroup("c")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			name := fmt.Sprint("x", g)
			for range 100 {
				base.WithGroup(name).Info("m", "k", name)
				base.Info("m", slog.Group("g", "other", 1))
			}
		})
	}
	wg.Wait()
	wrong.Range(func(k, _ any) bool {
		t.Errorf("ReplaceAttr got groups %s", k)
		return true
	})
}
