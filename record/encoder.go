package record

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
)

// SchemaID is the schema id of the log event, kafkaesk's PydanticLogModel;
// with version 1 the envelope's schema is "PydanticLogModel:1".
const SchemaID = "PydanticLogModel"

// Options configures an Encoder. The zero value encodes kafkaesk's
// PydanticLogModel:1 events with this process's host fields.
type Options struct {
	// Schema is the envelope's schema key. Default: "PydanticLogModel:1".
	Schema string
	// Logger is the event's "logger" field. Default: the program's name.
	Logger string
	// AddSource adds a "source" object (function, file, line).
	AddSource bool
	// ReplaceAttr rewrites or drops each attribute, as in
	// slog.HandlerOptions; the built-ins are passed with slog's keys
	// (time, level, msg, source) and nil groups, and only their values
	// are used (or their removal, for time and source).
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
	// Host overrides this process's host fields. Default: LocalHost().
	Host *Host
	// ContextAttrs are called on each record's context; the attributes
	// they return (request ids) are logged like the record's. Trace ids
	// need none: the encoder writes the context's span as trace_id and
	// span_id.
	ContextAttrs []func(ctx context.Context) []slog.Attr
	// StackLevel, when set, puts the caller's stack (CallerStack) in the
	// "trace" field of records at or above its level, as Python's
	// stack_info does; it costs a stack walk per such record, on the
	// caller. Default: nil, no stack. Errors need no option: the first
	// error among a record's attributes always fills "exception" with
	// ErrorName and "stack" with ErrorChain.
	StackLevel slog.Leveler
}

// isReserved reports whether k is one of the event's own top-level
// fields. An attribute with one of these keys is written as
// "fields.<key>"; a log model's field overrides the field, as kafkaesk
// merges models over the base fields. A switch, not a slice search: it is
// asked for every top-level attribute.
//
// trace_id and span_id are reserved whether or not the event has them:
// a top-level trace_id is always the slog call's span's, in the form
// OpenTelemetry writes it, so that selecting events by trace id
// (kafkaesk collect --trace-id) finds nothing else.
func isReserved(k string) bool {
	switch k {
	case "timestamp", "logger", "severity", "level", "message", "exception",
		"trace", "stack", "hostname", "service", "namespace", "cluster", "source",
		TraceIDKey, SpanIDKey:
		return true
	}
	return false
}

// Encoder turns slog records into log events in the kafkaesk envelope.
// It is immutable: WithAttrs and WithGroup return new Encoders that share
// nothing mutable with the receiver, so it is safe for concurrent use.
type Encoder struct {
	opts   Options
	prefix []byte // `{"schema":"…","data":{`
	base   baseFields

	// Pre-encoded WithAttrs output, slog's commonHandler design: pre holds
	// the attributes and the opening of every group up to nOpen; groups
	// after nOpen are opened when a record has attributes.
	pre    []byte
	groups []string
	nOpen  int

	// For duplicate detection, the keys pre wrote into the objects it
	// leaves open: preKeys[preMarks[d]:] (up to the next mark) are those
	// of the object at depth d, 0 being the data object.
	preKeys   []string
	preMarks  []int
	preBlooms []uint64
	preDup    bool // pre holds a key twice: every event takes the slow path
	// goas is every WithAttrs/WithGroup call, for the slow path.
	goas   []groupOrAttrs
	models []LogModel // log models from WithAttrs
	err    error      // first error value from WithAttrs
}

type groupOrAttrs struct {
	group string
	attrs []slog.Attr
}

// baseFields are the host fields, encoded once.
type baseFields struct {
	logger, hostname, service, namespace, cluster []byte
	// tailBlock is nullException and `,"hostname":…,"cluster":…`.
	tailBlock []byte
	// levelBlocks[i] is `"logger":…,"severity":…,"level":…,"message":` for
	// Python level 10*(i+1): DEBUG to CRITICAL.
	levelBlocks [5][]byte
}

// NewEncoder returns an Encoder for opts (nil: defaults).
func NewEncoder(opts *Options) *Encoder {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = SchemaID + ":1"
	}
	if o.Logger == "" {
		o.Logger = filepath.Base(os.Args[0])
	}
	h := LocalHost()
	if o.Host != nil {
		h = *o.Host
	}
	o.ContextAttrs = slices.Clone(o.ContextAttrs)
	e := &Encoder{opts: o}
	e.prefix = appendString(append([]byte(nil), `{"schema":`...), o.Schema)
	e.prefix = append(e.prefix, `,"data":{`...)
	e.base = baseFields{
		logger:    appendString(nil, o.Logger),
		hostname:  appendString(nil, h.Hostname),
		service:   appendString(nil, h.Service),
		namespace: appendNullableString(nil, h.Namespace),
		cluster:   appendNullableString(nil, h.Cluster),
	}
	hb := state{buf: nil, sep: true}
	for _, f := range []struct {
		k string
		v []byte
	}{{"hostname", e.base.hostname}, {"service", e.base.service}, {"namespace", e.base.namespace}, {"cluster", e.base.cluster}} {
		hb.key(f.k)
		hb.buf = append(hb.buf, f.v...)
	}
	e.base.tailBlock = append([]byte(nullException), hb.buf...)
	for i := range e.base.levelBlocks {
		lb := state{}
		e.appendLevelFields(&lb, 10*(i+1))
		e.base.levelBlocks[i] = lb.buf
	}
	return e
}

// Schema returns the envelope schema key the encoder writes.
func (e *Encoder) Schema() string { return e.opts.Schema }

// WithGroup returns an Encoder that puts later attributes in group name;
// an empty name returns e.
func (e *Encoder) WithGroup(name string) *Encoder {
	if name == "" {
		return e
	}
	c := e.clone()
	c.groups = append(c.groups, name)
	c.goas = append(c.goas, groupOrAttrs{group: name})
	return c
}

// WithAttrs returns an Encoder that writes attrs in every event, encoded
// once here. Log models among them are merged into every event.
func (e *Encoder) WithAttrs(attrs []slog.Attr) *Encoder {
	if len(attrs) == 0 {
		return e
	}
	c := e.clone()
	// Resolve once, here, as slog.JSONHandler does: never again per record.
	resolved := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		resolved[i] = resolveAttr(a)
	}
	c.goas = append(c.goas, groupOrAttrs{attrs: resolved})
	var plain []slog.Attr
	for _, a := range resolved {
		if m, ok := AsLogModel(a.Value); ok {
			c.models = append(c.models, m)
			continue
		}
		if c.err == nil {
			c.err = findError(a)
		}
		plain = append(plain, a)
	}
	if len(plain) == 0 {
		return c
	}
	s := c.state(c.pre, nil)
	c.loadPre(&s)
	s.sep = len(s.buf) > 0 && s.buf[len(s.buf)-1] != '{'
	// Open the groups named since the last WithAttrs.
	for _, g := range c.groups[c.nOpen:] {
		s.key(topKey(g, s.depth == 1))
		s.open()
	}
	s.groups = c.groups
	opened := len(s.buf)
	for _, a := range plain {
		s.attr(a, len(c.groups) == 0)
	}
	if len(s.buf) == opened {
		// Nothing written (empty groups, empty attributes, all dropped by
		// ReplaceAttr): no empty groups either, as slog.JSONHandler does.
		return c
	}
	c.pre = s.buf
	c.nOpen = len(c.groups)
	c.preKeys = slices.Clone(s.keys[:s.nKeys])
	c.preMarks = slices.Clone(s.marks[:min(s.depth, len(s.marks))])
	c.preBlooms = slices.Clone(s.blooms[:min(s.depth, len(s.blooms))])
	c.preDup = c.preDup || s.dup
	return c
}

// loadPre sets s to track keys as pre leaves the objects: open at depth
// len(preMarks), with the keys pre wrote.
func (e *Encoder) loadPre(s *state) {
	s.depth = 1 // the data object
	if len(e.preMarks) == 0 {
		return
	}
	if len(e.preKeys) > len(s.keys) || len(e.preMarks) > len(s.marks) {
		s.dup = true // too many to track: let the slow path sort it out
	}
	s.nKeys = copy(s.keys[:], e.preKeys)
	copy(s.marks[:], e.preMarks)
	s.depth = len(e.preMarks)
	copy(s.blooms[:], e.preBlooms)
}

// clone copies every slice, so that the derived Encoder and its siblings
// never share backing arrays (the WithGroup aliasing bug of tint and the
// samber handlers).
func (e *Encoder) clone() *Encoder {
	c := *e
	c.pre = slices.Clip(e.pre)
	c.groups = slices.Clip(e.groups)
	c.preKeys = slices.Clip(e.preKeys)
	c.preMarks = slices.Clip(e.preMarks)
	c.preBlooms = slices.Clip(e.preBlooms)
	c.goas = slices.Clip(e.goas)
	c.models = slices.Clip(e.models)
	return &c
}

// resolveAttr resolves a's value and, in a group, its members' values.
func resolveAttr(a slog.Attr) slog.Attr {
	a.Value = resolveValue(a.Value)
	return a
}

func resolveValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindLogValuer:
		// Only a LogValuer needs Resolve, whose deferred recover costs
		// more than the rest of a plain attribute's encoding.
		v = v.Resolve()
		if v.Kind() != slog.KindGroup {
			return v
		}
	case slog.KindGroup:
	default:
		return v
	}
	if !needsResolve(v.Group()) {
		return v
	}
	g := v.Group()
	out := make([]slog.Attr, len(g))
	for i, a := range g {
		out[i] = resolveAttr(a)
	}
	return slog.GroupValue(out...)
}

func needsResolve(as []slog.Attr) bool {
	for _, a := range as {
		switch a.Value.Kind() {
		case slog.KindLogValuer:
			return true
		case slog.KindGroup:
			if needsResolve(a.Value.Group()) {
				return true
			}
		}
	}
	return false
}

// appendLevelFields writes logger, severity and level, and the message
// key: pre-encoded once per standard level, written as is for the others.
func (e *Encoder) appendLevelFields(s *state, py int) {
	s.rawKey("logger")
	s.buf = append(s.buf, e.base.logger...)
	s.rawKey("severity")
	s.buf = appendString(s.buf, Severity(py))
	s.rawKey("level")
	s.buf = strconv.AppendInt(s.buf, int64(py), 10)
	s.rawKey("message")
}

func source(pc uintptr) *slog.Source {
	fs := runtime.CallersFrames([]uintptr{pc})
	f, _ := fs.Next()
	return &slog.Source{Function: f.Function, File: f.File, Line: f.Line}
}

// Handler is an Encoder as a synchronous slog.Handler writing each event,
// one Write per event, to a writer: for tests (slogtest runs on it) and
// for programs that want events on a stream.
type Handler struct {
	enc   *Encoder
	level slog.Leveler
	write func([]byte) error
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a Handler that passes each encoded event to write.
// write must not retain the slice.
func NewHandler(write func([]byte) error, level slog.Leveler, opts *Options) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{enc: NewEncoder(opts), level: level, write: write}
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	return h.write(h.enc.Append(nil, ctx, r))
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.enc = h.enc.WithAttrs(attrs)
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.enc = h.enc.WithGroup(name)
	return &c
}
