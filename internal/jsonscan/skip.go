package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// The functions of this file are the Scanner's fast path, for a caller
// that walks one known shape in a loop of its own (record.ScanEvent):
// they take and return offsets, keep no state, and report a syntax error
// only as a negative offset, so that a walk costs no method call and no
// store per token. A caller that meets an error, or anything it does not
// expect, walks the input again with a Scanner for the error's
// description.

// SkipWS returns the offset of the first byte at or after i that is not
// whitespace.
func SkipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// specialMask has the high bit set in the lane of the first byte of x
// (little-endian) that is '"', '\\' or below 0x20; lanes above it may be
// set too (borrows), lanes below never are. Zero when there is none.
func specialMask(x uint64) uint64 {
	q := x ^ ('"' * lanes01)
	b := x ^ ('\\' * lanes01)
	return ((q-lanes01)&^q | (b-lanes01)&^b | (x-0x20*lanes01)&^x) & lanes80
}

// SkipString skips the string whose opening quote is at b[i]. It returns
// the offset just past the closing quote, and whether the string holds
// escapes; end is -1 when b[i:] does not start with a valid string.
// Strings are read eight bytes at a time, the first word included: most
// keys and short values end within it.
func SkipString(b []byte, i int) (end int, escaped bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	i++
	for {
		if i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ ('"' * lanes01)
			quotes := (q - lanes01) &^ q & lanes80
			m := specialMask(x)
			if m == 0 {
				i += 8
				continue
			}
			// The first special byte is a quote when its lane is set in
			// quotes: told without reading it again, which would wait
			// for the offset just computed.
			first := m & -m
			i += bits.TrailingZeros64(m) >> 3
			if quotes&first != 0 {
				return i + 1, escaped
			}
		} else {
			for i < len(b) && !stopsString[b[i]] {
				i++
			}
			if i >= len(b) {
				return -1, false
			}
		}
		switch b[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return -1, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex4(b[i+2:i+6]) {
					return -1, false
				}
				i += 6
			default:
				return -1, false
			}
		default: // a control character
			return -1, false
		}
	}
}

// SkipNumber skips the number at b[i], returning the offset past it, or
// -1 when there is none.
func SkipNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// SkipValue skips the value at b[i] (no whitespace before it), returning
// the offset past it, or -1 when b[i:] does not start with a valid value.
// depth is how many objects and arrays enclose the value, so that
// nesting is bounded as a Scanner bounds it.
func SkipValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := SkipString(b, i)
		return end
	case c == '-' || c >= '0' && c <= '9':
		return SkipNumber(b, i)
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == '{' || c == '[':
		// Rare in log events: the Scanner walks containers.
		s := Scanner{b: b, i: i, depth: depth}
		if !s.Skip() {
			return -1
		}
		return s.i
	}
	return -1
}

func skipLiteral(b []byte, i int, lit string) int {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}
