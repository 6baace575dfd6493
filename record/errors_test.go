package record_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/kafkaesk-go/kafkaesk/record"
)

type codeError struct{ code int }

func (e codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

// loop unwraps to itself: the walk must end.
type loop struct{}

func (l *loop) Error() string { return "loop" }
func (l *loop) Unwrap() error { return l }

type panicUnwrap struct{}

func (panicUnwrap) Error() string { return "pu" }
func (panicUnwrap) Unwrap() error { panic("unwrap") }

func TestErrorName(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{pathErr, "fs.PathError"},
		{fmt.Errorf("load config: %w", pathErr), "fs.PathError"},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", pathErr)), "fs.PathError"},
		{errors.New("boom"), "error"},
		{fmt.Errorf("wrapped: %w", errors.New("boom")), "error"},
		{errors.Join(errors.New("a"), codeError{7}), "record_test.codeError"},
		{fmt.Errorf("%w and %w", errors.New("a"), pathErr), "fs.PathError"},
		{&url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, "url.Error"},
		{syscall.ECONNREFUSED, "syscall.Errno"},
		{&loop{}, "record_test.loop"},
		{panicUnwrap{}, "record_test.panicUnwrap"},
	} {
		if got := record.ErrorName(tt.err); got != tt.want {
			t.Errorf("ErrorName(%#v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorChain(t *testing.T) {
	err := fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT})
	want := "load config: open /x: no such file or directory\n" +
		"caused by fs.PathError: open /x: no such file or directory\n" +
		"caused by syscall.Errno: no such file or directory"
	if got := record.ErrorChain(err); got != want {
		t.Errorf("ErrorChain:\n got %q\nwant %q", got, want)
	}
	if got := record.ErrorChain(fmt.Errorf("a: %w", errors.New("b"))); got != "a: b" {
		t.Errorf("anonymous errors add no line: got %q", got)
	}
	if got := record.ErrorChain(&loop{}); strings.Count(got, "\n") > 40 {
		t.Errorf("a cycle is walked %d times", strings.Count(got, "\n"))
	}
	if got := record.ErrorChain(panicUnwrap{}); !strings.Contains(got, "!PANIC: unwrap") {
		t.Errorf("a panicking Unwrap: got %q", got)
	}
}

// StackLevel puts the caller's stack in trace, from the logging call's
// frame outwards; below the level, trace stays null.
func TestStackLevelTrace(t *testing.T) {
	var events [][]byte
	h := record.NewHandler(func(b []byte) error {
		events = append(events, append([]byte(nil), b...))
		return nil
	}, slog.LevelDebug, &record.Options{StackLevel: slog.LevelWarn})
	logger := slog.New(h)
	logger.Info("quiet")
	logger.Warn("loud")
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	quiet, err := record.DecodeEvent(events[0])
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Trace != "" {
		t.Errorf("INFO has a trace: %q", quiet.Trace)
	}
	loud, err := record.DecodeEvent(events[1])
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(loud.Trace, "\n")
	if first != "github.com/kafkaesk-go/kafkaesk/record_test.TestStackLevelTrace" {
		t.Errorf("trace starts at %q, want the logging function; trace:\n%s", first, loud.Trace)
	}
	if !strings.Contains(loud.Trace, "errors_test.go:") || !strings.Contains(loud.Trace, "testing.tRunner") {
		t.Errorf("trace lacks the file:line or the outer frames:\n%s", loud.Trace)
	}
	if loud.Exception != "" || loud.Stack != "" {
		t.Errorf("no error, yet exception %q stack %q", loud.Exception, loud.Stack)
	}
}
