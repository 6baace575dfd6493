package collector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// head is what the collector reads of a message value, in one pass that
// also validates it as JSON (what encoding/json.Valid accepts; invalid
// UTF-8 inside strings is accepted, as there).
type head struct {
	schema  []byte // the raw content of "schema", or nil
	data    []byte // the "data" value as in the message, or nil
	level   int    // data.level when it is a whole number
	logger  []byte // the raw content of data.logger, when a string
	service []byte // the raw content of data.service, when a string
	// escaped says some of schema, logger or service hold escapes: read
	// them with unquote.
	escaped bool
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

var errSyntax = errors.New("invalid JSON")

// scanner walks a JSON text. Its methods advance i past what they read
// and return false at the first syntax error, with i at the fault.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// scanEnvelope reads value as a kafkaesk envelope into h. Duplicate keys:
// the last wins, as in encoding/json.
func scanEnvelope(value []byte, h *head) error {
	*h = head{}
	s := scanner{b: value}
	s.ws()
	if !s.next('{') {
		return s.syntaxError()
	}
	s.ws()
	if s.next('}') {
		return s.end()
	}
	for {
		key, esc, ok := s.str()
		if !ok {
			return s.syntaxError()
		}
		s.ws()
		if !s.next(':') {
			return s.syntaxError()
		}
		s.ws()
		name := string(key)
		if esc {
			name = unquote(key)
		}
		switch name {
		case "schema":
			if s.peek() == '"' {
				raw, esc, ok := s.str()
				if !ok {
					return s.syntaxError()
				}
				h.schema, h.escaped = raw, h.escaped || esc
				break
			}
			h.schema = nil
			if !s.value() {
				return s.syntaxError()
			}
		case "data":
			start := s.i
			h.level, h.logger, h.service = 0, nil, nil
			if s.peek() == '{' {
				if !s.data(h) {
					return s.syntaxError()
				}
			} else if !s.value() {
				return s.syntaxError()
			}
			h.data = value[start:s.i]
		default:
			if !s.value() {
				return s.syntaxError()
			}
		}
		s.ws()
		if s.next('}') {
			return s.end()
		}
		if !s.next(',') {
			return s.syntaxError()
		}
		s.ws()
	}
}

// data scans the data object, picking the fields filters need.
func (s *scanner) data(h *head) bool {
	s.i++ // '{'
	s.ws()
	if s.next('}') {
		return true
	}
	for {
		key, esc, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if !s.next(':') {
			return false
		}
		s.ws()
		if esc {
			key = []byte(unquote(key))
		}
		switch {
		case string(key) == "level" && s.peek() != '"':
			start := s.i
			if !s.value() {
				return false
			}
			n, err := strconv.Atoi(string(s.b[start:s.i]))
			if err == nil {
				h.level = n
			}
		case (string(key) == "logger" || string(key) == "service") && s.peek() == '"':
			raw, esc, ok := s.str()
			if !ok {
				return false
			}
			if string(key) == "logger" {
				h.logger = raw
			} else {
				h.service = raw
			}
			h.escaped = h.escaped || esc
		default:
			if !s.value() {
				return false
			}
		}
		s.ws()
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
		s.ws()
	}
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.syntaxError()
	}
	return nil
}

func (s *scanner) syntaxError() error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end", errSyntax)
	}
	return fmt.Errorf("%w at byte %d", errSyntax, s.i)
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) next(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) ws() {
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

// value skips one JSON value.
func (s *scanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.str()
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
		return s.number()
	}
	return false
}

// container skips an object or an array.
func (s *scanner) container(closer byte) bool {
	if s.depth++; s.depth > maxDepth {
		return false
	}
	defer func() { s.depth-- }()
	s.i++
	s.ws()
	if s.next(closer) {
		return true
	}
	for {
		if closer == '}' {
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.next(':') {
				return false
			}
			s.ws()
		}
		if !s.value() {
			return false
		}
		s.ws()
		if s.next(closer) {
			return true
		}
		if !s.next(',') {
			return false
		}
		s.ws()
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.next('-')
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.next('.') {
		if s.digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
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

// special reports whether any byte of x is '"', '\\' or below 0x20: the
// bytes a string scan must stop at. Eight bytes per step is what makes
// the collector's scan cheaper than a byte loop on long messages.
// stopsString marks the bytes that end a run of plain string content: a
// quote, a backslash, or a control character (invalid unescaped).
var stopsString = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func special(x uint64) bool {
	q := x ^ ('"' * lanes01)
	b := x ^ ('\\' * lanes01)
	return ((q-lanes01)&^q|(b-lanes01)&^b|(x-0x20*lanes01)&^x)&lanes80 != 0
}

// str scans a string at s.i and returns its raw content (between the
// quotes) and whether it holds escapes.
func (s *scanner) str() (raw []byte, escaped, ok bool) {
	if !s.next('"') {
		return nil, false, false
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
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = i + 1
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex4(b[i+2:i+6]) {
					s.i = i
					return nil, false, false
				}
				i += 6
			default:
				s.i = i
				return nil, false, false
			}
		case c < 0x20:
			s.i = i
			return nil, false, false
		default:
			i++
		}
	}
}

func hex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote decodes the raw content of a valid JSON string that holds
// escapes.
func unquote(raw []byte) string {
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}
