package jsonscan

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendUnquote appends the text of raw, the content of a JSON string as
// String returned it, to dst, decoding its escapes as encoding/json does:
// a lone surrogate and each byte of invalid UTF-8 become U+FFFD.
func AppendUnquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			switch e := raw[i+1]; e {
			case 'b':
				dst, i = append(dst, '\b'), i+2
			case 'f':
				dst, i = append(dst, '\f'), i+2
			case 'n':
				dst, i = append(dst, '\n'), i+2
			case 'r':
				dst, i = append(dst, '\r'), i+2
			case 't':
				dst, i = append(dst, '\t'), i+2
			case 'u':
				r, ok := hexRune(raw[i+2:])
				if !ok {
					return append(dst, raw[i:]...) // not from String
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(unicode.ReplacementChar), false
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2, ok = hexRune(raw[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != unicode.ReplacementChar {
						r, i = dec, i+6
					} else {
						r = unicode.ReplacementChar
					}
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst, i = append(dst, e), i+2
			}
		case c < utf8.RuneSelf:
			dst, i = append(dst, c), i+1
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, unicode.ReplacementChar)
			} else {
				dst = append(dst, raw[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

func hexRune(b []byte) (rune, bool) {
	if len(b) < 4 || !hex4(b[:4]) {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Text returns the text of a string's raw content, as encoding/json
// decodes it. It allocates the string; a plain one (no escapes, valid
// UTF-8) is copied as it is.
func Text(raw []byte, escaped bool) string {
	if !escaped && utf8.Valid(raw) {
		return string(raw)
	}
	return string(AppendUnquote(make([]byte, 0, len(raw)), raw))
}

// Unescaped returns raw's text as bytes: raw itself when it has no escapes
// and is valid UTF-8, else a decoded copy.
func Unescaped(raw []byte, escaped bool) []byte {
	if !escaped && utf8.Valid(raw) {
		return raw
	}
	return AppendUnquote(make([]byte, 0, len(raw)), raw)
}
