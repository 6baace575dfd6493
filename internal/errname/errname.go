// Package errname names errors as a reader of logs and metrics expects:
// by the meaningful type in their chain ("fs.PathError", not fmt's
// wrapper), and by their chain of causes. record's log events and core's
// metrics use it, so that an error is named the same everywhere.
package errname

import (
	"fmt"
	"reflect"
	"strings"
)

// maxChain bounds the walk of an error chain, against Unwrap cycles.
const maxChain = 32

// opaque reports whether an error type only carries text or wraps others
// (fmt.Errorf's %w, errors.Join, errors.New): its name tells a reader
// nothing.
func opaque(t reflect.Type) bool {
	switch t.String() {
	case "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError", "*errors.errorString":
		return true
	}
	return false
}

// typeName is t's name as a reader expects it: package-qualified, without
// the pointer star, "fs.PathError".
func typeName(t reflect.Type) string {
	return strings.TrimPrefix(t.String(), "*")
}

// Of names err's meaningful type: that of the first error in its
// chain (err first, then depth-first through Unwrap() error and Unwrap()
// []error) that is not a wrapper or an anonymous errors.New/fmt.Errorf
// value. It is "fs.PathError" for fmt.Errorf("load: %w", &fs.PathError{}),
// and "error" for a chain of anonymous errors only. Panics in Unwrap are
// contained.
func Of(err error) (name string) {
	defer func() {
		if recover() != nil {
			name = typeName(reflect.TypeOf(err))
		}
	}()
	name = "error"
	walkChain(err, func(e error, _ int) bool {
		if t := reflect.TypeOf(e); !opaque(t) {
			name = typeName(t)
			return false
		}
		return true
	})
	return name
}

// Chain is err's text, then, for each typed error in its chain
// after the first line's, a line "caused by <type>: <text>":
//
//	load config: open /etc/app.yaml: no such file or directory
//	caused by fs.PathError: open /etc/app.yaml: no such file or directory
//	caused by syscall.Errno: no such file or directory
//
// Anonymous errors and wrappers add no line: their text is in the first.
// Panics in Error and Unwrap are written inline, as "!PANIC: …".
func Chain(err error) string {
	var b strings.Builder
	b.WriteString(errorText(err))
	func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(&b, "\n!PANIC: %v", p)
			}
		}()
		walkChain(err, func(e error, depth int) bool {
			if depth > 0 && !opaque(reflect.TypeOf(e)) {
				b.WriteString("\ncaused by ")
				b.WriteString(typeName(reflect.TypeOf(e)))
				b.WriteString(": ")
				b.WriteString(errorText(e))
			}
			return true
		})
	}()
	return b.String()
}

// walkChain calls f on err and on each error it wraps, depth first, until
// f returns false; depth is the number of Unwraps from err. Nil errors
// and typed nil pointers end a branch.
func walkChain(err error, f func(e error, depth int) bool) {
	seen := 0
	var walk func(e error, depth int) bool
	walk = func(e error, depth int) bool {
		if e == nil || isNilPointer(e) || seen >= maxChain {
			return true
		}
		seen++
		if !f(e, depth) {
			return false
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			return walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				if !walk(c, depth+1) {
					return false
				}
			}
		}
		return true
	}
	walk(err, 0)
}

// errorText is err.Error(), or "!PANIC: …" when it panics.
func errorText(err error) (text string) {
	defer func() {
		if p := recover(); p != nil {
			text = fmt.Sprintf("!PANIC: %v", p)
		}
	}()
	return err.Error()
}

// isNilPointer reports whether err is a typed nil pointer.
func isNilPointer(err error) bool {
	v := reflect.ValueOf(err)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
