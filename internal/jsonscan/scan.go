// Package jsonscan is the project's one reader of JSON text on the hot
// path: primitives that walk a message value in place, validating it as
// they go, without allocating. core's envelope scan and record's
// log-event scan are built on it; everything else decodes with
// encoding/json.
//
// A Scanner accepts exactly what encoding/json.Valid accepts (invalid
// UTF-8 inside strings included, as there), and nests at most 10,000
// deep, as encoding/json does. Its methods advance past what they read
// and return false at the first syntax error, which Err then describes.
//
// The usual walk of an object:
//
//	s := jsonscan.New(value)
//	s.WS()
//	if !s.Object() { return s.Err() }
//	for s.More() {
//		key, escaped, ok := s.Key()
//		if !ok { return s.Err() }
//		if !s.Skip() { return s.Err() } // or read the value
//	}
//	if err := s.End(); err != nil { return err }
package jsonscan

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

// SyntaxError is a JSON syntax error: Offset is the byte at fault, or the
// length of the input when it ends too early.
type SyntaxError struct {
	Offset int
	End    bool // the input ended inside a value
	What   byte // the byte at Offset, when not End
}

func (e *SyntaxError) Error() string {
	if e.End {
		return "invalid JSON: unexpected end"
	}
	return fmt.Sprintf("invalid JSON: unexpected %q at byte %d", e.What, e.Offset)
}

// Scanner walks one JSON text. The zero value scans an empty input; use
// New. It is not safe for concurrent use, and it never copies its input.
type Scanner struct {
	b      []byte
	i      int
	depth  int
	opened bool // an object was just opened: More needs no comma
	failed bool
	errAt  int
}

// New returns a scanner at the start of b.
func New(b []byte) Scanner { return Scanner{b: b} }

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

// Bytes returns the input.
func (s *Scanner) Bytes() []byte { return s.b }

// Err describes the first syntax error, or is nil.
func (s *Scanner) Err() error {
	if !s.failed {
		return nil
	}
	if s.errAt >= len(s.b) {
		return &SyntaxError{Offset: len(s.b), End: true}
	}
	return &SyntaxError{Offset: s.errAt, What: s.b[s.errAt]}
}

// fail records a syntax error at the current position; it returns false
// for its callers to return.
func (s *Scanner) fail() bool {
	if !s.failed {
		s.failed, s.errAt = true, s.i
	}
	return false
}

// End skips trailing whitespace and checks that nothing else follows.
func (s *Scanner) End() error {
	s.WS()
	if s.i != len(s.b) {
		s.fail()
	}
	return s.Err()
}

// Peek returns the next byte, or 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *Scanner) next(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// WS skips whitespace.
func (s *Scanner) WS() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // the usual case: no whitespace at all
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Object reads the '{' that opens an object, and the whitespace after
// it. Then call More before each member.
func (s *Scanner) Object() bool {
	if !s.next('{') {
		return s.fail()
	}
	if s.depth++; s.depth > maxDepth {
		return s.fail()
	}
	s.opened = true
	s.WS()
	return true
}

// More reports whether another member of the current object follows,
// reading the comma before it; at the object's end it reads the '}' and
// returns false. It returns false too at a syntax error: check Err.
func (s *Scanner) More() bool {
	if s.failed {
		return false
	}
	s.WS()
	if s.opened {
		s.opened = false
		if s.next('}') {
			s.depth--
			return false
		}
		return true
	}
	if s.next(',') {
		s.WS()
		return true
	}
	if s.next('}') {
		s.depth--
		return false
	}
	return s.fail()
}

// Key reads a member's key, the colon and the whitespace after it. raw
// is the key's content between the quotes; escaped says it holds escapes
// (read it with Unquote).
func (s *Scanner) Key() (raw []byte, escaped, ok bool) {
	raw, escaped, ok = s.String()
	if !ok {
		return nil, false, false
	}
	s.WS()
	if !s.next(':') {
		return nil, false, s.fail()
	}
	s.WS()
	return raw, escaped, true
}

// Skip skips one value.
func (s *Scanner) Skip() bool {
	s.opened = false
	switch c := s.Peek(); {
	case c == '"':
		_, _, ok := s.String()
		return ok
	case c == '{':
		return s.container('}')
	case c == '[':
		return s.container(']')
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.Number()
	}
	return s.fail()
}

// Value skips one value and returns it as in the input.
func (s *Scanner) Value() (raw []byte, ok bool) {
	start := s.i
	if !s.Skip() {
		return nil, false
	}
	return s.b[start:s.i], true
}

// container skips an object or an array.
func (s *Scanner) container(closer byte) bool {
	if s.depth++; s.depth > maxDepth {
		return s.fail()
	}
	s.i++
	s.WS()
	if s.next(closer) {
		s.depth--
		return true
	}
	for {
		if closer == '}' {
			if _, _, ok := s.Key(); !ok {
				return false
			}
		}
		if !s.Skip() {
			return false
		}
		s.WS()
		if s.next(closer) {
			s.depth--
			return true
		}
		if !s.next(',') {
			return s.fail()
		}
		s.WS()
	}
}

func (s *Scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	// Point at the first byte that differs, as encoding/json does.
	for j := 0; j < len(lit) && s.i < len(s.b) && s.b[s.i] == lit[j]; j++ {
		s.i++
	}
	return s.fail()
}

// Number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner) Number() bool {
	s.next('-')
	switch c := s.Peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail()
	}
	if s.next('.') {
		if s.digits() == 0 {
			return s.fail()
		}
	}
	if c := s.Peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.Peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail()
		}
	}
	return true
}

func (s *Scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// SWAR constants: a byte repeated in every lane of a uint64.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// stopsString marks the bytes that end a run of plain string content: a
// quote, a backslash, or a control character (invalid unescaped).
var stopsString = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// special reports whether any byte of x is '"', '\\' or below 0x20: the
// bytes a string scan must stop at. Eight bytes per step is what makes
// the scan cheaper than a byte loop on long strings.
func special(x uint64) bool {
	q := x ^ ('"' * lanes01)
	b := x ^ ('\\' * lanes01)
	return ((q-lanes01)&^q|(b-lanes01)&^b|(x-0x20*lanes01)&^x)&lanes80 != 0
}

// String reads a string and returns its raw content (between the
// quotes) and whether it holds escapes.
func (s *Scanner) String() (raw []byte, escaped, ok bool) {
	s.opened = false
	if end, esc := SkipString(s.b, s.i); end >= 0 {
		raw, s.i = s.b[s.i+1:end-1], end
		return raw, esc, true
	}
	// Not a valid string: walk it again for where it fails.
	if !s.next('"') {
		return nil, false, s.fail()
	}
	b, start := s.b, s.i
	i := start
	for {
		// Most strings (keys, short values) end within a few bytes: a
		// table lookup a byte is cheaper there than words of eight.
		// Past 16 plain bytes, the rest goes a word at a time.
		end := min(i+16, len(b))
		for i < end && !stopsString[b[i]] {
			i++
		}
		if i == end {
			for i+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[i:])) {
				i += 8
			}
			for i < len(b) && !stopsString[b[i]] {
				i++
			}
		}
		if i >= len(b) {
			s.i = i
			return nil, false, s.fail()
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = len(b)
				return nil, false, s.fail()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex4(b[i+2:i+6]) {
					s.i = min(i+2, len(b))
					for s.i < min(i+6, len(b)) && isHex(b[s.i]) {
						s.i++
					}
					return nil, false, s.fail()
				}
				i += 6
			default:
				s.i = i + 1
				return nil, false, s.fail()
			}
		default: // a control character
			s.i = i
			return nil, false, s.fail()
		}
	}
}

func hex4(b []byte) bool {
	for _, c := range b {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
