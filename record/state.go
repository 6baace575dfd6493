package record

import (
	"encoding"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonenc"
)

// state writes one JSON object's worth of fields into buf.
type state struct {
	buf    []byte
	sep    bool     // a comma goes before the next key
	groups []string // open groups, for ReplaceAttr
	rep    func(groups []string, a slog.Attr) slog.Attr

	// Duplicate detection, by the keys actually written:
	// keys[marks[depth-1]:nKeys] are those of the innermost open object
	// (marks[0]: the data object's), and depth counts the open objects,
	// 0 when not tracking. Fixed arrays keep the state on the stack; past
	// them dup is set and dedupeEvent sorts the event out.
	keys  [64]string
	nKeys int
	marks [16]int
	depth int
	dup   bool // an object got a key twice: the event needs dedupeEvent
}

func (e *Encoder) state(buf []byte, groups []string) state {
	return state{buf: buf, groups: groups, rep: e.opts.ReplaceAttr}
}

// key writes a key and its colon, after a comma when one is due, and
// notes it for duplicate detection.
func (s *state) key(k string) {
	s.track(k)
	s.rawKey(k)
}

// rawKey writes a key without noting it: a base field's, which no
// attribute can repeat (see topKey; models are checked in model).
func (s *state) rawKey(k string) {
	if s.sep {
		s.buf = append(s.buf, ',')
	}
	if plainASCII(k) {
		s.buf = append(s.buf, '"')
		s.buf = append(s.buf, k...)
		s.buf = append(s.buf, '"', ':')
	} else {
		s.buf = appendString(s.buf, k)
		s.buf = append(s.buf, ':')
	}
	s.sep = true
}

func (s *state) track(k string) {
	if s.dup || s.depth == 0 {
		return // a duplicate already, or not tracking
	}
	for _, x := range s.keys[s.marks[s.depth-1]:s.nKeys] {
		if x == k {
			s.dup = true
			return
		}
	}
	if s.nKeys == len(s.keys) {
		s.dup = true
		return
	}
	s.keys[s.nKeys] = k
	s.nKeys++
}

// open opens an object, after its key.
func (s *state) open() {
	s.buf = append(s.buf, '{')
	s.sep = false
	if s.depth < len(s.marks) {
		s.marks[s.depth] = s.nKeys
	} else {
		s.dup = true
	}
	s.depth++
}

func (s *state) close() {
	s.buf = append(s.buf, '}')
	s.sep = true
	s.depth--
	if s.depth < len(s.marks) {
		s.nKeys = s.marks[s.depth]
	}
}

// plainASCII reports whether s is written in JSON as it is: printable
// ASCII without quotes or backslashes (most keys).
func plainASCII(s string) bool {
	for i := range len(s) {
		if b := s[i]; b < 0x20 || b >= utf8.RuneSelf || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// appendTimestamp appends t in UTC as "2006-01-02T15:04:05.000000Z", the
// layout time.Format would write, without its layout parsing.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
		return append(dst, '"')
	}
	micro := t.Nanosecond() / 1000
	dst = append(dst, '"')
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, micro, 6)
	return append(dst, 'Z', '"')
}

func appendDigits(dst []byte, n, width int) []byte {
	var b [8]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[:width]...)
}

// attr writes a, following slog's rules: values resolved, ReplaceAttr
// applied to non-group attributes, empty attributes and empty groups
// dropped, groups with an empty key inlined. At the top level a key that
// names one of the event's own fields is written as "fields.<key>". It
// reports whether it wrote anything: a group that turns out empty (its
// attributes all dropped by ReplaceAttr) is taken back, as slog does.
func (s *state) attr(a slog.Attr, top bool) bool {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() != slog.KindGroup && s.rep != nil {
		a = s.rep(s.groups, a)
		a.Value = a.Value.Resolve()
	}
	if a.Equal(slog.Attr{}) {
		return false
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return false
		}
		wrote := false
		if a.Key == "" {
			for _, ga := range attrs {
				wrote = s.attr(ga, top) || wrote
			}
			return wrote
		}
		pos, sep, nKeys := len(s.buf), s.sep, s.nKeys
		s.key(topKey(a.Key, top))
		s.open()
		s.groups = append(s.groups[:len(s.groups):len(s.groups)], a.Key)
		for _, ga := range attrs {
			wrote = s.attr(ga, false) || wrote
		}
		s.groups = s.groups[:len(s.groups)-1]
		if !wrote {
			s.buf, s.sep, s.nKeys = s.buf[:pos], sep, nKeys
			s.depth--
			return false
		}
		s.close()
		return true
	}
	s.key(topKey(a.Key, top))
	s.value(a.Value)
	return true
}

func topKey(k string, top bool) string {
	if top && isReserved(k) {
		return "fields." + k
	}
	return k
}

// value writes a resolved value as slog.JSONHandler does; what cannot be
// encoded is written as an "!ERROR:" string, never a panic.
func (s *state) value(v slog.Value) {
	switch v.Kind() {
	case slog.KindString:
		s.buf = appendString(s.buf, v.String())
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		s.float(v.Float64(), 64)
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		s.buf = strconv.AppendInt(s.buf, int64(v.Duration()), 10)
	case slog.KindTime:
		s.buf = append(s.buf, '"')
		s.buf = v.Time().AppendFormat(s.buf, time.RFC3339Nano)
		s.buf = append(s.buf, '"')
	case slog.KindGroup:
		s.open()
		for _, a := range v.Group() {
			s.attr(a, false)
		}
		s.close()
	case slog.KindAny, slog.KindLogValuer:
		s.any(v.Any())
	default:
		s.buf = appendString(s.buf, fmt.Sprintf("!BADKIND:%v", v))
	}
}

// float writes f as encoding/json writes a float of bits 32 or 64.
func (s *state) float(f float64, bits int) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		s.buf = appendString(s.buf, "!ERROR:json: unsupported value: "+strconv.FormatFloat(f, 'g', -1, bits))
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	s.buf = strconv.AppendFloat(s.buf, f, format, -1, bits)
	if format == 'e' {
		n := len(s.buf)
		if n >= 4 && s.buf[n-4] == 'e' && s.buf[n-3] == '-' && s.buf[n-2] == '0' {
			s.buf[n-2] = s.buf[n-1]
			s.buf = s.buf[:n-1]
		}
	}
}

// any writes an arbitrary value: an error as its text, a json.Marshaler or
// TextMarshaler as it says, anything else through encoding/json.
func (s *state) any(v any) {
	defer func() {
		if p := recover(); p != nil {
			s.buf = appendString(s.buf, fmt.Sprintf("!PANIC: %v", p))
		}
	}()
	switch x := v.(type) {
	case nil:
		s.buf = append(s.buf, "null"...)
	case error:
		if isNilPointer(x) {
			s.buf = append(s.buf, "null"...)
			return
		}
		s.buf = appendString(s.buf, x.Error())
	case json.Marshaler:
		s.json(v)
	case encoding.TextMarshaler:
		s.json(v)
	case fmt.Stringer:
		if isNilPointer(x) {
			s.buf = append(s.buf, "null"...)
			return
		}
		s.json(v)
	default:
		s.json(v)
	}
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func (s *state) json(v any) {
	out, err := jsonenc.Append(s.buf, v)
	if err != nil {
		out = appendString(s.buf, "!ERROR:"+err.Error())
	}
	s.buf = out
}

// model writes a log model's fields at the current level, leaving out nil
// values as kafkaesk leaves out None.
func (s *state) model(m LogModel) {
	rv := reflect.ValueOf(m)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return
	}
	for _, f := range modelFields(rv.Type()) {
		fv, err := rv.FieldByIndexErr(f.index)
		if err != nil || isNil(fv) || f.omitEmpty && fv.IsZero() {
			continue
		}
		if isReserved(f.name) {
			s.dup = true // overrides a base field: dedupeEvent puts it in its place
		}
		s.key(f.name)
		if f.marshaler {
			s.any(fv.Interface())
			continue
		}
		switch fv.Kind() {
		case reflect.String:
			s.buf = appendString(s.buf, fv.String())
		case reflect.Bool:
			s.buf = strconv.AppendBool(s.buf, fv.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			s.buf = strconv.AppendInt(s.buf, fv.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			s.buf = strconv.AppendUint(s.buf, fv.Uint(), 10)
		case reflect.Float32:
			s.float(fv.Float(), 32)
		case reflect.Float64:
			s.float(fv.Float(), 64)
		default:
			s.any(fv.Interface())
		}
	}
}

func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return false
}

type modelField struct {
	name      string
	index     []int
	omitEmpty bool
	marshaler bool // a json.Marshaler or encoding.TextMarshaler: encoding/json writes it
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

var modelFieldCache sync.Map // reflect.Type → []modelField

// modelFields lists a model type's JSON fields, in order, following
// encoding/json's names; embedded structs are flattened.
func modelFields(t reflect.Type) []modelField {
	if f, ok := modelFieldCache.Load(t); ok {
		return f.([]modelField)
	}
	var out []modelField
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous && (f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct) {
			continue
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := cutComma(tag)
		if name == "" {
			name = f.Name
		}
		if slices.ContainsFunc(out, func(o modelField) bool { return o.name == name }) {
			continue // shadowed: the shallower field comes first in VisibleFields
		}
		out = append(out, modelField{name: name, index: f.Index, omitEmpty: opts == "omitempty" || opts == "omitzero",
			marshaler: f.Type.Implements(jsonMarshalerType) || f.Type.Implements(textMarshalerType)})
	}
	modelFieldCache.Store(t, out)
	return out
}

func cutComma(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// findError returns the first error value in a, or nil.
func findError(a slog.Attr) error {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && !isNilPointer(err) {
			return err
		}
	case slog.KindGroup:
		for _, ga := range v.Group() {
			if err := findError(ga); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendString appends s as a JSON string, escaping as orjson does: as
// encoding/json with HTML escaping off, but for U+2028 and U+2029, which
// are written raw (jsonenc.RawLineSeparators).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hex = "0123456789abcdef"

func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}
