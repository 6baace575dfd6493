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
	// they return (trace ids, request ids) are logged like the record's.
	ContextAttrs []func(ctx context.Context) []slog.Attr
}

// reserved are the event's own top-level fields. An attribute with one of
// these keys is written as "fields.<key>"; a log model's field overrides
// the field, as kafkaesk merges models over the base fields.
var reserved = []string{"timestamp", "logger", "severity", "level", "message", "exception",
	"trace", "stack", "hostname", "service", "namespace", "cluster", "source"}

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

	// For duplicate detection: the top-level keys in pre, and the keys
	// written into the innermost open group since it opened.
	topKeys, levelKeys []string
	// goas is every WithAttrs/WithGroup call, for the slow path.
	goas    []groupOrAttrs
	models  []LogModel // log models from WithAttrs
	err     error      // first error value from WithAttrs
	renamed bool       // ReplaceAttr renamed a key in pre
}

type groupOrAttrs struct {
	group string
	attrs []slog.Attr
}

// baseFields are the host fields, encoded once.
type baseFields struct {
	logger, hostname, service, namespace, cluster []byte
	hostBlock                                     []byte // `,"hostname":…,"cluster":…`
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
	e.base.hostBlock = hb.buf
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
	c.goas = append(c.goas, groupOrAttrs{attrs: slices.Clone(attrs)})
	var plain []slog.Attr
	for _, a := range attrs {
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
	s := c.state(c.pre, c.groups[:c.nOpen])
	s.sep = len(s.buf) > 0 && s.buf[len(s.buf)-1] != '{'
	// Open the groups named since the last WithAttrs.
	for _, g := range c.groups[c.nOpen:] {
		s.key(g)
		s.buf = append(s.buf, '{')
		s.sep = false
		c.levelKeys = nil
	}
	if c.nOpen < len(c.groups) {
		s.groups = c.groups
		c.nOpen = len(c.groups)
	}
	for _, a := range plain {
		if k, ok := s.attr(a, len(c.groups) == 0); ok {
			if slices.Contains(c.topKeys, k) || slices.Contains(c.levelKeys, k) {
				c.renamed = true // a duplicate within pre itself
			}
			if len(c.groups) == 0 {
				c.topKeys = append(c.topKeys, k)
			} else {
				c.levelKeys = append(c.levelKeys, k)
			}
		}
	}
	c.pre = s.buf
	c.renamed = c.renamed || s.renamed
	return c
}

// clone copies every slice, so that the derived Encoder and its siblings
// never share backing arrays (the WithGroup aliasing bug of tint and the
// samber handlers).
func (e *Encoder) clone() *Encoder {
	c := *e
	c.pre = slices.Clip(e.pre)
	c.groups = slices.Clip(e.groups)
	c.topKeys = slices.Clip(e.topKeys)
	c.levelKeys = slices.Clip(e.levelKeys)
	c.goas = slices.Clip(e.goas)
	c.models = slices.Clip(e.models)
	return &c
}

// Append appends the event of r, in the envelope, to dst. ctx is read only
// for ContextAttrs.
func (e *Encoder) Append(dst []byte, ctx context.Context, r slog.Record) []byte {
	var extra []slog.Attr
	for _, f := range e.opts.ContextAttrs {
		extra = append(extra, f(ctx)...)
	}
	var scan scanResult
	e.scan(r, extra, &scan)
	start := len(dst)
	dst, renamed := e.appendFast(dst, r, extra, &scan)
	if scan.dup || renamed || e.renamed {
		return dedupeEvent(dst, start, len(e.prefix)-1)
	}
	return dst
}

// scanResult is what a first pass over a record's attributes finds. It
// holds fixed arrays and counts rather than slices: appending to a slice
// field through a pointer makes Go move its array to the heap, and the
// common case (a few attributes, a model or two) must not allocate.
type scanResult struct {
	model      [4]LogModel
	nModel     int
	moreModels []LogModel // past len(model): rare
	err        error
	recordKeys int        // record (and context) attributes that are not models
	dup        bool       // some object would get a key twice: take the slow path
	top        bool       // record attributes go to the top level
	key        [16]string // keys at the level record attributes go to
	nKey       int
	over       [8]string // base fields a model overrides
	nOver      int
}

func (s *scanResult) addModel(m LogModel) {
	if s.nModel < len(s.model) {
		s.model[s.nModel] = m
		s.nModel++
		return
	}
	s.moreModels = append(s.moreModels, m)
}

func (s *scanResult) modelAt(i int) LogModel {
	if i < len(s.model) {
		return s.model[i]
	}
	return s.moreModels[i-len(s.model)]
}

func (s *scanResult) models() int { return s.nModel + len(s.moreModels) }

func (s *scanResult) addKey(k string) {
	for _, x := range s.key[:s.nKey] {
		if x == k {
			s.dup = true
		}
	}
	if s.nKey == len(s.key) {
		s.dup = true // too many to check here: let the slow path do it
		return
	}
	s.key[s.nKey] = k
	s.nKey++
}

func (s *scanResult) hasKey(k string) bool {
	for _, x := range s.key[:s.nKey] {
		if x == k {
			return true
		}
	}
	return false
}

func (s *scanResult) overrides(k string) bool {
	for _, x := range s.over[:s.nOver] {
		if x == k {
			return true
		}
	}
	return false
}

func (e *Encoder) scan(r slog.Record, extra []slog.Attr, s *scanResult) {
	for _, m := range e.models {
		s.addModel(m)
	}
	s.err = e.err
	s.top = len(e.groups) == 0
	if s.top {
		for _, k := range e.topKeys {
			s.addKey(k)
		}
	} else if e.nOpen == len(e.groups) {
		for _, k := range e.levelKeys {
			s.addKey(k)
		}
	}
	for _, a := range extra {
		s.visit(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		s.visit(a)
		return true
	})
	for i := range s.models() {
		for _, f := range modelFieldsOf(s.modelAt(i)) {
			switch {
			case slices.Contains(reserved, f.name):
				if s.nOver < len(s.over) {
					s.over[s.nOver] = f.name
					s.nOver++
				} else {
					s.dup = true
				}
			case s.top && s.hasKey(f.name), !s.top && slices.Contains(e.topKeys, f.name):
				s.dup = true
			}
			for j := range i {
				for _, o := range modelFieldsOf(s.modelAt(j)) {
					if o.name == f.name {
						s.dup = true
					}
				}
			}
		}
	}
}

func (s *scanResult) visit(a slog.Attr) {
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	switch v.Kind() {
	case slog.KindAny:
		switch x := v.Any().(type) {
		case LogModel:
			s.addModel(x)
			return
		case error:
			if s.err == nil && !isNilPointer(x) {
				s.err = x
			}
		}
	case slog.KindGroup:
		if s.err == nil {
			s.err = findError(slog.Attr{Key: a.Key, Value: v})
		}
	}
	if a.Key == "" && v.Kind() != slog.KindGroup || v.Kind() == slog.KindGroup && len(v.Group()) == 0 {
		return
	}
	s.recordKeys++
	if v.Kind() == slog.KindGroup && (a.Key == "" || hasDupKeys(v.Group())) {
		s.dup = true // inlined groups and groups with repeated keys
	}
	s.addKey(a.Key)
}

func hasDupKeys(attrs []slog.Attr) bool {
	for i, a := range attrs {
		for _, b := range attrs[:i] {
			if a.Key == b.Key {
				return true
			}
		}
	}
	return false
}

// appendFast writes the event into dst. It reports whether ReplaceAttr
// renamed a key, which may have made a duplicate.
func (e *Encoder) appendFast(dst []byte, r slog.Record, extra []slog.Attr, scan *scanResult) ([]byte, bool) {
	dst = append(dst, e.prefix...)
	s := e.state(dst, nil)
	dst = e.appendBase(&s, r, scan)
	s.buf = dst

	// WithAttrs output, then the record's attributes in the open groups.
	if len(e.pre) > 0 {
		if s.buf[len(s.buf)-1] != '{' {
			s.buf = append(s.buf, ',')
		}
		s.buf = append(s.buf, e.pre...)
		s.sep = true
	}
	opened := e.nOpen
	if scan.recordKeys > 0 {
		s.groups = e.groups[:e.nOpen]
		for _, g := range e.groups[e.nOpen:] {
			s.key(g)
			s.buf = append(s.buf, '{')
			s.sep = false
			s.groups = append(s.groups[:len(s.groups):len(s.groups)], g)
		}
		opened = len(e.groups)
		top := len(e.groups) == 0
		write := func(a slog.Attr) bool {
			if _, ok := AsLogModel(a.Value); !ok {
				s.attr(a, top)
			}
			return true
		}
		for _, a := range extra {
			write(a)
		}
		r.Attrs(write)
	}
	for range opened {
		s.buf = append(s.buf, '}')
	}
	s.sep = true
	s.groups = nil
	for i := range scan.models() {
		s.model(scan.modelAt(i))
	}
	return append(s.buf, "}}"...), s.renamed
}

// appendBase writes the base fields, leaving out those a log model
// overrides.
func (e *Encoder) appendBase(s *state, r slog.Record, scan *scanResult) []byte {
	over := scan.overrides
	field := func(k string, v []byte) {
		if !over(k) {
			s.key(k)
			s.buf = append(s.buf, v...)
		}
	}
	t, level, msg := r.Time, r.Level, r.Message
	dropTime := t.IsZero()
	if rep := e.opts.ReplaceAttr; rep != nil {
		if !dropTime {
			a := rep(nil, slog.Time(slog.TimeKey, r.Time))
			if a.Equal(slog.Attr{}) {
				dropTime = true
			} else if v := a.Value.Resolve(); v.Kind() == slog.KindTime {
				t = v.Time()
			}
		}
		if v := rep(nil, slog.Any(slog.LevelKey, r.Level)).Value.Resolve(); v.Kind() == slog.KindAny {
			if l, ok := v.Any().(slog.Level); ok {
				level = l
			}
		}
		if v := rep(nil, slog.String(slog.MessageKey, r.Message)).Value.Resolve(); v.Kind() == slog.KindString {
			msg = v.String()
		}
	}
	if !dropTime && !over("timestamp") {
		s.key("timestamp")
		s.buf = appendTimestamp(s.buf, t)
	}
	field("logger", e.base.logger)
	py := PythonLevel(level)
	if !over("severity") {
		s.key("severity")
		s.buf = appendString(s.buf, Severity(py))
	}
	if !over("level") {
		s.key("level")
		s.buf = strconv.AppendInt(s.buf, int64(py), 10)
	}
	if !over("message") {
		s.key("message")
		s.buf = appendString(s.buf, msg)
	}
	if !over("exception") {
		s.key("exception")
		if scan.err != nil {
			s.buf = appendString(s.buf, errorType(scan.err))
		} else {
			s.buf = append(s.buf, "null"...)
		}
	}
	field("trace", []byte("null"))
	if !over("stack") {
		s.key("stack")
		if scan.err != nil {
			s.buf = appendString(s.buf, scan.err.Error())
		} else {
			s.buf = append(s.buf, "null"...)
		}
	}
	if scan.nOver == 0 {
		s.buf = append(s.buf, e.base.hostBlock...) // all four at once
	} else {
		field("hostname", e.base.hostname)
		field("service", e.base.service)
		field("namespace", e.base.namespace)
		field("cluster", e.base.cluster)
	}
	if e.opts.AddSource && r.PC != 0 && !over("source") {
		src := source(r.PC)
		a := slog.Any(slog.SourceKey, src)
		if rep := e.opts.ReplaceAttr; rep != nil {
			a = rep(nil, a)
		}
		if !a.Equal(slog.Attr{}) {
			s.key("source")
			s.value(a.Value)
		}
	}
	return s.buf
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
	c := *h
	c.enc = h.enc.WithGroup(name)
	return &c
}
