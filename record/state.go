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
	"sync/atomic"
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
	err    error // the first error value among the attributes written

	// Duplicate detection, by the keys actually written:
	// keys[marks[depth-1]:nKeys] are those of the innermost open object
	// (marks[0]: the data object's), and depth counts the open objects,
	// 0 when not tracking. Fixed arrays keep the state on the stack; past
	// them dup is set and dedupeEvent sorts the event out.
	keys  [64]string
	nKeys int
	marks [16]int
	// blooms[d] has keyBit of every key written at depth d+1 (and maybe
	// more): a key whose bit is not set is new, without a search.
	blooms [16]uint64
	depth  int
	dup    bool // an object got a key twice: the event needs dedupeEvent
}

// keyBit is k's bit in a bloom: of its length and its first and last
// bytes, which tell most keys of an object apart.
func keyBit(k string) uint64 {
	if k == "" {
		return 1
	}
	return 1 << ((uint(len(k))*7 + uint(k[0]) + uint(k[len(k)-1])*3) & 63)
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
	s.buf = append(appendString(s.buf, k), ':')
	s.sep = true
}

func (s *state) track(k string) {
	if s.dup || s.depth == 0 {
		return // a duplicate already, or not tracking
	}
	bit := keyBit(k)
	if s.blooms[s.depth-1]&bit != 0 {
		for _, x := range s.keys[s.marks[s.depth-1]:s.nKeys] {
			if x == k {
				s.dup = true
				return
			}
		}
	}
	s.blooms[s.depth-1] |= bit
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
		s.blooms[s.depth] = 0
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

// appendTimestamp appends t in UTC as "2006-01-02T15:04:05.000000Z", the
// layout time.Format would write, without its layout parsing. The text up
// to the second is kept for the last second written: events come in
// bursts within a second, and the date and clock are most of the cost.
func appendTimestamp(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	c := lastSecond.Load()
	if c == nil || c.unix != sec {
		t := t.UTC()
		if year := t.Year(); year < 0 || year > 9999 {
			dst = append(dst, '"')
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
			return append(dst, '"')
		}
		c = newSecondText(sec, t)
		lastSecond.Store(c)
	}
	dst = append(dst, c.text[:]...)
	dst = appendDigits(dst, t.Nanosecond()/1000, 6)
	return append(dst, 'Z', '"')
}

// secondText is a second's timestamp text, up to its fraction.
type secondText struct {
	unix int64
	text [len(`"2006-01-02T15:04:05.`)]byte
}

var lastSecond atomic.Pointer[secondText]

// newSecondText formats t, in UTC and of a year from 0 to 9999, whose
// Unix time is unix.
func newSecondText(unix int64, t time.Time) *secondText {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b := append(make([]byte, 0, len(secondText{}.text)), '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	c := &secondText{unix: unix}
	copy(c.text[:], b)
	return c
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
func (s *state) attr(a slog.Attr, top bool) bool { return s.attrOf(a, a.Value.Kind(), top) }

// attrOf is attr for an attribute whose value is of the given kind,
// a.Value.Kind(). It notes the first error value in s.err, whether
// ReplaceAttr keeps it or not.
func (s *state) attrOf(a slog.Attr, kind slog.Kind, top bool) bool {
	if kind == slog.KindLogValuer {
		a.Value = a.Value.Resolve()
		kind = a.Value.Kind()
	}
	if kind == slog.KindAny && s.err == nil {
		if err, ok := a.Value.Any().(error); ok && !isNilPointer(err) {
			s.err = err
		}
	}
	if kind != slog.KindGroup && s.rep != nil {
		a = s.rep(s.groups, a)
		if kind = a.Value.Kind(); kind == slog.KindLogValuer {
			a.Value = a.Value.Resolve()
			kind = a.Value.Kind()
		}
	}
	switch kind {
	case slog.KindAny:
		if isEmpty(a) {
			return false
		}
	case slog.KindGroup:
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
	s.valueOf(a.Value, kind)
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
func (s *state) value(v slog.Value) { s.valueOf(v, v.Kind()) }

// valueOf is value for a value of the given kind, v.Kind().
func (s *state) valueOf(v slog.Value, kind slog.Kind) {
	switch kind {
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
	if bits == 32 {
		s.buf = appendShortest(s.buf, f, 32)
	} else {
		s.buf = appendFloat64(s.buf, f)
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
	fields := modelFields(rv.Type())
	for i := range fields {
		f := &fields[i]
		var fv reflect.Value
		if len(f.index) == 1 {
			fv = rv.Field(f.index[0])
		} else {
			var err error
			if fv, err = rv.FieldByIndexErr(f.index); err != nil {
				continue // behind a nil embedded pointer
			}
		}
		if isNil(fv) || f.omitEmpty && fv.IsZero() {
			continue
		}
		if f.reserved {
			s.dup = true // overrides a base field: dedupeEvent puts it in its place
		}
		s.track(f.name)
		if s.sep {
			s.buf = append(s.buf, ',')
		}
		s.buf = append(s.buf, f.key...)
		s.sep = true
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
	key       string // the name encoded, with its colon: `"name":`
	index     []int
	omitEmpty bool
	marshaler bool // a json.Marshaler or encoding.TextMarshaler: encoding/json writes it
	reserved  bool // names one of the event's own fields (isReserved)
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// modelType is a model type's fields, as modelFields lists them.
type modelType struct {
	t      reflect.Type
	fields []modelField
}

var (
	modelFieldCache sync.Map // reflect.Type → *modelType
	// lastModel is the model type asked for last: a service logs one
	// or two model types over and over, and a pointer comparison is
	// cheaper than the map.
	lastModel atomic.Pointer[modelType]
)

// modelFields lists a model type's JSON fields, in order, following
// encoding/json's names; embedded structs are flattened.
func modelFields(t reflect.Type) []modelField {
	if m := lastModel.Load(); m != nil && m.t == t {
		return m.fields
	}
	if m, ok := modelFieldCache.Load(t); ok {
		lastModel.Store(m.(*modelType))
		return m.(*modelType).fields
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
		out = append(out, modelField{
			name:      name,
			key:       string(append(appendString(nil, name), ':')),
			index:     f.Index,
			omitEmpty: opts == "omitempty" || opts == "omitzero",
			marshaler: f.Type.Implements(jsonMarshalerType) || f.Type.Implements(textMarshalerType),
			reserved:  isReserved(name),
		})
	}
	m, _ := modelFieldCache.LoadOrStore(t, &modelType{t: t, fields: out})
	lastModel.Store(m.(*modelType))
	return m.(*modelType).fields
}

func cutComma(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// isEmpty reports whether a is the zero Attr, which slog ignores: a.Equal
// (slog.Attr{}) without its comparison of values.
func isEmpty(a slog.Attr) bool {
	return a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil
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
	i := plainPrefix(s)
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
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

// plainPrefix returns the length of s's longest prefix that JSON holds as
// it is: printable ASCII without quotes or backslashes. It tests eight
// bytes at a time (SWAR): most strings, keys and messages, are all plain.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		// Each term is nonzero when some byte is: a control character
		// (below 0x20), a quote, a backslash, or not ASCII.
		if (w-ones*0x20)&^w&highs|(quote-ones)&^quote&highs|(backslash-ones)&^backslash&highs|w&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= utf8.RuneSelf || b == '"' || b == '\\' {
			break
		}
	}
	return i
}

func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}
