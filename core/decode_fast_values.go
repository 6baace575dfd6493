package core

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
)

// The fast decoder's values (decode_fast.go): the strings of a message,
// and the ops of booleans, numbers, strings and slices.

// strArena holds the text of a message's strings in one allocation rather
// than one each: the strings of a message's data live as long as the
// longest-lived of them, which for a message handled and dropped is no
// difference.
type strArena struct {
	buf []byte // never reallocated once a string points into it
	max int    // the capacity to allocate: the message's length
	// budget is what may still be read again (see fastBudget).
	budget int
}

func newStrArena(n int) *strArena { return &strArena{max: n, budget: fastBudget(n)} }

// reread counts v, read once more, against the budget; false when it is
// spent.
func (a *strArena) reread(v []byte) bool {
	a.budget -= len(v)
	return a.budget >= 0
}

// string returns the text of raw, the content of a JSON string.
func (a *strArena) string(raw []byte, escaped bool) string {
	if len(raw) == 0 {
		return ""
	}
	if a.buf == nil {
		a.buf = make([]byte, 0, a.max)
	}
	start := len(a.buf)
	if !escaped && utf8.Valid(raw) {
		if len(raw) > cap(a.buf)-start {
			return string(raw)
		}
		a.buf = append(a.buf, raw...)
	} else {
		text := jsonscan.Unescaped(raw, true)
		if len(text) > cap(a.buf)-start {
			return string(text) // invalid UTF-8 grows into U+FFFDs
		}
		a.buf = append(a.buf, text...)
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// decodeStrings is the op of slices of strings (tags, mostly), without
// reflection and reading the array once.
func decodeStrings(a *strArena, p unsafe.Pointer, v []byte) bool {
	list := (*[]string)(p)
	if v[0] == 'n' {
		*list = nil
		return true
	}
	if v[0] != '[' || *list != nil || !a.reread(v) {
		return false
	}
	var buf [16]string
	texts := buf[:0]
	for i := jsonscanWS(v, 1); v[i] != ']'; {
		s := jsonscan.New(v[i:])
		switch s.Peek() {
		case '"':
			raw, esc, ok := s.String()
			if !ok {
				return false
			}
			texts = append(texts, a.string(raw, esc))
		case 'n':
			if !s.Skip() {
				return false
			}
			texts = append(texts, "")
		default:
			return false
		}
		if i = jsonscanWS(v, i+s.Pos()); v[i] == ',' {
			i = jsonscanWS(v, i+1)
		}
	}
	*list = append(make([]string, 0, len(texts)), texts...)
	return true
}

// elements yields the elements of v, a well-formed JSON array.
func elements(v []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for i := jsonscanWS(v, 1); v[i] != ']'; {
			s := jsonscan.New(v[i:])
			x, _ := s.Value()
			if !yield(x) {
				return
			}
			if i = jsonscanWS(v, i+s.Pos()); v[i] == ',' {
				i = jsonscanWS(v, i+1)
			}
		}
	}
}

func countElements(v []byte) int {
	n := 0
	for range elements(v) {
		n++
	}
	return n
}

func decodeString(a *strArena, p unsafe.Pointer, v []byte) bool {
	switch v[0] {
	case '"':
		raw := v[1 : len(v)-1]
		*(*string)(p) = a.string(raw, bytes.IndexByte(raw, '\\') >= 0)
		return true
	case 'n':
		return true
	}
	return false
}

func decodeBool(_ *strArena, p unsafe.Pointer, v []byte) bool {
	switch v[0] {
	case 't':
		*(*bool)(p) = true
	case 'f':
		*(*bool)(p) = false
	case 'n':
	default:
		return false
	}
	return true
}

// number returns v as a string for strconv, without copying; ok false
// unless v is a number (null is left to the caller).
func number(v []byte) (string, bool) {
	if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(v), len(v)), true
}

func intOp(t reflect.Type) fieldOp {
	bits := int(t.Size() * 8)
	return func(_ *strArena, p unsafe.Pointer, v []byte) bool {
		if v[0] == 'n' {
			return true
		}
		s, ok := number(v)
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return false
		}
		switch bits {
		case 8:
			*(*int8)(p) = int8(n)
		case 16:
			*(*int16)(p) = int16(n)
		case 32:
			*(*int32)(p) = int32(n)
		default:
			*(*int64)(p) = n
		}
		return true
	}
}

func uintOp(t reflect.Type) fieldOp {
	bits := int(t.Size() * 8)
	return func(_ *strArena, p unsafe.Pointer, v []byte) bool {
		if v[0] == 'n' {
			return true
		}
		s, ok := number(v)
		if !ok {
			return false
		}
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return false
		}
		switch bits {
		case 8:
			*(*uint8)(p) = uint8(n)
		case 16:
			*(*uint16)(p) = uint16(n)
		case 32:
			*(*uint32)(p) = uint32(n)
		default:
			*(*uint64)(p) = n
		}
		return true
	}
}

func decodeFloat32(_ *strArena, p unsafe.Pointer, v []byte) bool {
	if v[0] == 'n' {
		return true
	}
	s, ok := number(v)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return false
	}
	*(*float32)(p) = float32(f)
	return true
}

func decodeFloat64(_ *strArena, p unsafe.Pointer, v []byte) bool {
	if v[0] == 'n' {
		return true
	}
	s, ok := number(v)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	*(*float64)(p) = f
	return true
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isValidTag is encoding/json's: a name it takes from a tag.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
