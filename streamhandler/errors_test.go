package streamhandler_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// An error's meaningful type is shown as exception=, as in the log event;
// an anonymous error's name ("error") would say nothing and is left out.
func TestErrorException(t *testing.T) {
	var buf bytes.Buffer
	l := plain(&buf, nil)
	l.Error("load failed", "err", fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}))
	l.Error("plain", "err", errors.New("boom"))
	l.With("k", 1).Error("model path", "user", UserLog{User: "ana"}, "err", &fs.PathError{Op: "stat", Path: "/y", Err: syscall.EACCES})
	want := `ERR load failed err="load config: open /x: no such file or directory" exception=fs.PathError` + "\n" +
		`ERR plain err=boom` + "\n" +
		`ERR model path: user=ana k=1 err="stat /y: permission denied" exception=fs.PathError` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// StackLevel adds the caller's stack as trace= at and above its level.
func TestStackLevel(t *testing.T) {
	var buf bytes.Buffer
	l := plain(&buf, &streamhandler.Options{StackLevel: slog.LevelError})
	l.Warn("below")
	l.Error("at")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	if lines[0] != "WRN below" {
		t.Errorf("below the level: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], `ERR at trace="github.com/kafkaesk-go/kafkaesk/streamhandler_test.TestStackLevel\n\t`) ||
		!strings.Contains(lines[1], "errors_test.go:") {
		t.Errorf("at the level: %q", lines[1])
	}
}
