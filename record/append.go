package record

import (
	"context"
	"log/slog"
	"slices"
)

// Append appends the event of r, in the envelope, to dst. ctx is read for
// ContextAttrs and for its span context: when it holds a valid one, the
// event has trace_id and span_id (TraceIDKey, SpanIDKey) after the base
// fields. ctx may be nil.
//
// It makes one pass over the record's attributes, writing each as it
// comes and resolving each LogValuer once, as slog.JSONHandler does. The
// log models among them are written last, merged into the event; the
// first error among them fills "exception" and "stack", written as null
// first and replaced at the end when there is one.
func (e *Encoder) Append(dst []byte, ctx context.Context, r slog.Record) []byte {
	start := len(dst)
	dst = append(dst, e.prefix...)
	s := e.state(dst, nil)
	var models modelList
	exceptionAt, withStack := e.appendBase(&s, r)
	sc := spanContext(ctx)
	appendTraceFields(&s, &sc)
	e.loadPre(&s)

	// WithAttrs output, then the context's and the record's attributes in
	// the open groups.
	if len(e.pre) > 0 {
		if s.buf[len(s.buf)-1] != '{' {
			s.buf = append(s.buf, ',')
		}
		s.buf = append(s.buf, e.pre...)
		s.sep = true
	}
	opened := e.nOpen
	if r.NumAttrs() > 0 || len(e.opts.ContextAttrs) > 0 {
		pos, sep, depth, nKeys := len(s.buf), s.sep, s.depth, s.nKeys
		for _, g := range e.groups[e.nOpen:] {
			s.key(topKey(g, s.depth == 1))
			s.open()
		}
		s.groups = e.groups
		written := len(s.buf)
		top := len(e.groups) == 0
		for _, f := range e.opts.ContextAttrs {
			for _, a := range f(ctx) {
				s.recordAttr(a, top, &models)
			}
		}
		r.Attrs(func(a slog.Attr) bool {
			s.recordAttr(a, top, &models)
			return true
		})
		if len(s.buf) == written {
			// Nothing written (only models, or ReplaceAttr dropped it
			// all): no empty groups, as slog.JSONHandler does.
			s.buf, s.sep, s.depth, s.nKeys = s.buf[:pos], sep, depth, nKeys
		} else {
			opened = len(e.groups)
		}
	}
	for range opened {
		s.close()
	}
	s.groups = nil
	for _, m := range e.models {
		s.model(m)
	}
	for i := range models.len() {
		s.model(models.at(i))
	}
	err := e.err
	if err == nil {
		err = s.err
	}
	if err != nil || withStack {
		s.buf = replaceException(s.buf, exceptionAt, err, withStack, r.PC)
	}
	dst = append(s.buf, "}}"...)
	if s.dup || e.preDup {
		return dedupeEvent(dst, start, len(e.prefix)-1)
	}
	return dst
}

// recordAttr writes one of the record's (or the context's) attributes,
// unless it holds a log model, which it adds to models instead.
func (s *state) recordAttr(a slog.Attr, top bool, models *modelList) {
	kind := a.Value.Kind()
	if kind == slog.KindLogValuer {
		a.Value = a.Value.Resolve()
		kind = a.Value.Kind()
	}
	if kind == slog.KindAny {
		if m, ok := a.Value.Any().(LogModel); ok {
			models.add(m)
			return
		}
	}
	s.attrOf(a, kind, top)
}

// modelList is the record's log models. It holds a fixed array and a
// count rather than a slice: appending to a slice through a pointer
// makes Go move its array to the heap, and the common case (a model or
// two) must not allocate.
type modelList struct {
	first [4]LogModel
	n     int
	more  []LogModel // past len(first): rare
}

func (l *modelList) add(m LogModel) {
	if l.n < len(l.first) {
		l.first[l.n] = m
		l.n++
		return
	}
	l.more = append(l.more, m)
}

func (l *modelList) at(i int) LogModel {
	if i < len(l.first) {
		return l.first[i]
	}
	return l.more[i-len(l.first)]
}

func (l *modelList) len() int { return l.n + len(l.more) }

// nullException is what appendBase writes for exception, trace and stack:
// what most events have.
const nullException = `,"exception":null,"trace":null,"stack":null`

// appendBase writes the base fields. A log model that names one of them
// writes it again, later, and dedupeEvent puts its value in the base
// field's place, as a Python dict update does. It returns where
// nullException is in s.buf, for replaceException, and whether the
// record's level asks for its stack (Options.StackLevel).
func (e *Encoder) appendBase(s *state, r slog.Record) (exceptionAt int, withStack bool) {
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
	if !dropTime {
		s.rawKey("timestamp")
		s.buf = appendTimestamp(s.buf, t)
	}
	py := PythonLevel(level)
	if py%10 == 0 && py >= LevelDebug && py <= LevelCritical {
		// logger, severity, level and the message key, encoded once.
		if s.sep {
			s.buf = append(s.buf, ',')
		}
		s.buf = append(s.buf, e.base.levelBlocks[py/10-1]...)
		s.sep = true
	} else {
		e.appendLevelFields(s, py)
	}
	s.buf = appendString(s.buf, msg)
	exceptionAt = len(s.buf)
	// exception, trace and stack as null, hostname, service, namespace,
	// cluster: encoded once.
	s.buf = append(s.buf, e.base.tailBlock...)
	if e.opts.AddSource && r.PC != 0 {
		src := source(r.PC)
		a := slog.Any(slog.SourceKey, src)
		if rep := e.opts.ReplaceAttr; rep != nil {
			a = rep(nil, a)
		}
		if !a.Equal(slog.Attr{}) {
			s.rawKey("source")
			s.value(a.Value)
		}
	}
	return exceptionAt, e.opts.StackLevel != nil && level >= e.opts.StackLevel.Level()
}

// replaceException puts err's name and chain, and the caller's stack
// when withStack, in the place of nullException at buf[at:].
func replaceException(buf []byte, at int, err error, withStack bool, pc uintptr) []byte {
	var scratch [256]byte
	b := append(scratch[:0], `,"exception":`...)
	if err == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, ErrorName(err))
	}
	b = append(b, `,"trace":`...)
	if withStack {
		b = appendString(b, CallerStack(pc))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"stack":`...)
	if err == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, ErrorChain(err))
	}
	return slices.Replace(buf, at, at+len(nullException), b...)
}
