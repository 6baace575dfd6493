package record

import (
	"runtime"
	"strconv"
	"strings"

	"github.com/kafkaesk-go/kafkaesk/internal/errname"
)

// How an error is told in a log event, so that it means to a reader what
// Python's does. Python writes the exception's class name in "exception"
// ("ValueError") and its formatted traceback in "stack"; the caller's
// stack, when asked for with stack_info, goes in "trace". Here:
//
//   - exception is ErrorName: the type of the first error in the chain
//     that says something, not a wrapper's ("fs.PathError", not
//     "*fmt.wrapError");
//   - stack is ErrorChain: the error's text, then a line for each typed
//     cause, as Java's "Caused by" and Python's chained tracebacks;
//   - trace is the caller's stack (CallerStack), for records at or above
//     Options.StackLevel: it costs a runtime.Callers walk, so it is off
//     by default.

// ErrorName names err's meaningful type: that of the first error in its
// chain (err first, then depth-first through Unwrap() error and Unwrap()
// []error) that is not a wrapper or an anonymous errors.New/fmt.Errorf
// value. It is "fs.PathError" for fmt.Errorf("load: %w", &fs.PathError{}),
// and "error" for a chain of anonymous errors only. Panics in Unwrap are
// contained.
func ErrorName(err error) string { return errname.Of(err) }

// ErrorChain is err's text, then, for each typed error in its chain
// after the first line's, a line "caused by <type>: <text>":
//
//	load config: open /etc/app.yaml: no such file or directory
//	caused by fs.PathError: open /etc/app.yaml: no such file or directory
//	caused by syscall.Errno: no such file or directory
//
// Anonymous errors and wrappers add no line: their text is in the first.
// Panics in Error and Unwrap are written inline, as "!PANIC: …".
func ErrorChain(err error) string { return errname.Chain(err) }

// CallerStack formats the stack of the goroutine calling it, from the
// frame of pc (a slog.Record's PC) outwards, as Go prints a panic's
// goroutine: "function\n\tfile:line" per frame, innermost first. With pc
// 0, or a pc not on the stack, it starts at the first frame outside
// log/slog and this module's handlers.
func CallerStack(pc uintptr) string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var want string
	if pc != 0 {
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		want = f.Function
	}
	var b strings.Builder
	started := false
	for {
		f, more := frames.Next()
		if !started {
			switch {
			case want != "" && f.Function == want:
				started = true
			case want == "" && !internalFrame(f.Function):
				started = true
			}
		}
		if started {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(f.Function)
			b.WriteString("\n\t")
			b.WriteString(f.File)
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(f.Line))
		}
		if !more {
			break
		}
	}
	if !started && want != "" {
		return CallerStack(0)
	}
	return b.String()
}

// internalFrame reports whether a function belongs to the logging
// machinery between a caller and CallerStack.
func internalFrame(fn string) bool {
	for _, p := range []string{"log/slog.", "runtime.", "github.com/kafkaesk-go/kafkaesk/record.",
		"github.com/kafkaesk-go/kafkaesk/sloghandler.", "github.com/kafkaesk-go/kafkaesk/streamhandler."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}
