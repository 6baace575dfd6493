package streamhandler

import (
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"github.com/mattn/go-isatty"
)

// Options configures a [Handler]. A zero Options is all defaults, and New
// copies it: the caller's struct is never written to. The field names are
// those of [slog.HandlerOptions] and of tint's Options, so an options
// literal for either carries over.
type Options struct {
	// Level is the minimum level logged. A *slog.LevelVar changes it for
	// every Handler sharing it, at any time. Default: slog.LevelInfo.
	Level slog.Leveler

	// AddSource writes the caller's dir/file:line after the level.
	// Default: false.
	AddSource bool

	// ReplaceAttr rewrites or drops each non-group attribute before it is
	// written, as in slog.HandlerOptions. The built-ins are passed first,
	// with nil groups and slog's keys (time, level, source, msg); the
	// message it sees already carries the rendered log models (see
	// [Handler.Handle]). A log model's fields are not passed to it.
	// Default: nil.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr

	// TimeFormat is the layout of the leading time, for
	// time.Time.AppendFormat. Default: time.StampMilli ("Jan _2
	// 15:04:05.000"), as tint.
	TimeFormat string

	// Color says when lines carry ANSI colours. Default: ColorAuto, that
	// is colours only when the writer is a terminal.
	Color ColorMode

	// StackLevel, when set, adds a "trace" attribute holding the caller's
	// stack (record.CallerStack) to lines at or above its level, as the
	// log event's "trace" (record.Options.StackLevel); it costs a stack
	// walk per such line. Default: nil, no stack.
	StackLevel slog.Leveler
}

// ColorMode says when a [Handler] writes ANSI colours.
type ColorMode int

const (
	// ColorAuto colours the output only when the writer, checked once in
	// New, is a terminal (an *os.File, or any writer implementing
	// syscall.Conn, on a terminal or a Cygwin/MSYS pty) and the NO_COLOR
	// environment variable is unset or empty (https://no-color.org).
	ColorAuto ColorMode = iota
	// ColorAlways colours the output whatever the writer is.
	ColorAlways
	// ColorNever writes plain text, tint's NoColor.
	ColorNever
)

var colorModeNames = [...]string{ColorAuto: "auto", ColorAlways: "always", ColorNever: "never"}

// String returns "auto", "always" or "never", or "ColorMode(n)" for a
// value that is none of those (New treats such a value as ColorAuto).
func (c ColorMode) String() string {
	if c >= 0 && int(c) < len(colorModeNames) {
		return colorModeNames[c]
	}
	return "ColorMode(" + strconv.Itoa(int(c)) + ")"
}

// isTerminal reports whether fd is a terminal. A variable so that the
// tests can pretend.
var isTerminal = func(fd uintptr) bool {
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

// Resolve decides, for a writer w, what ColorAuto means: ColorAlways on
// a terminal with NO_COLOR unset, else ColorNever. ColorAlways and
// ColorNever resolve to themselves. It is for a caller that hands the
// Handler a writer of its own (a buffer) in front of w, and so must
// decide on w.
func (c ColorMode) Resolve(w io.Writer) ColorMode {
	if useColor(w, c) {
		return ColorAlways
	}
	return ColorNever
}

// useColor decides, once, whether a handler writing to w colours its lines.
func useColor(w io.Writer, mode ColorMode) bool {
	switch mode {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	// syscall.Conn rather than os.File.Fd: Fd puts the file into blocking
	// mode, which would break deadlines on a pipe the caller set up.
	sc, ok := w.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	term := false
	if err := rc.Control(func(fd uintptr) { term = isTerminal(fd) }); err != nil {
		return false
	}
	return term
}
