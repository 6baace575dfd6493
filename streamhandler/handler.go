package streamhandler

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/lmittmann/tint"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// Handler is a [slog.Handler] that writes one human-readable line per
// record, in tint's format, with log models rendered into the message as
// kafkaesk's PydanticStreamHandler renders them.
//
// A Handler is immutable and safe for concurrent use. WithAttrs and
// WithGroup return new Handlers that share the writer and its mutex with
// the receiver, so lines from all of them never interleave. Nothing here
// starts a goroutine or blocks, apart from waiting for that mutex and for
// the writer.
type Handler struct {
	// tint writes the lines. It is given every WithAttrs (with the open
	// groups applied by hand) but never a WithGroup: see WithGroup.
	tint  slog.Handler
	level slog.Leveler
	// groups are the names passed to WithGroup, outermost first. Shared
	// with clones, so never appended to in place.
	groups []string
	// models is ": pairs" for each log model passed to WithAttrs, in order.
	models string
	// stackLevel is Options.StackLevel.
	stackLevel slog.Leveler
}

var _ slog.Handler = (*Handler)(nil)

// New returns a Handler writing to w. opts nil means all defaults; New
// copies *opts and never writes to it. Whether lines are coloured is
// decided here, once (see [ColorAuto]).
func New(w io.Writer, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.TimeFormat == "" {
		o.TimeFormat = time.StampMilli
	}
	return &Handler{
		// tint.NewTextHandler writes its defaults into the Options it is
		// given; this one is ours.
		tint: tint.NewTextHandler(w, &tint.Options{
			AddSource:   o.AddSource,
			Level:       o.Level,
			ReplaceAttr: o.ReplaceAttr,
			TimeFormat:  o.TimeFormat,
			NoColor:     !useColor(w, o.Color),
		}),
		level:      o.Level,
		stackLevel: o.StackLevel,
	}
}

// Enabled reports whether l is at or above the handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle writes r as one line, with a single Write on the writer while
// holding the mutex shared by all handlers derived from the same New:
//
//	Jan  2 15:04:05.000 INF dir/file.go:42 signed in: user=ana, attempts=2 ip=10.0.0.1 req.id=7
//
// that is the time (in TimeFormat; left out when r.Time is zero), the level
// (DBG, INF, WRN, ERR, with +n/-n for levels in between), the source with
// AddSource, the message, then key=value attributes, group names joined
// to keys with dots and values quoted where they need it. This is tint's
// format, unchanged.
//
// Each top-level attribute whose value is a log model (see
// record.AsLogModel), whether from r or from WithAttrs, is left out of the
// attributes and appended to the message as ": " followed by its fields,
// exactly as kafkaesk's stream handler does: name=value pairs joined by
// ", ", by JSON name in field order, strings unquoted and other values as
// JSON, stopping after the pair with which the pairs' summed length first
// exceeds 256 characters. kafkaesk renders only the first model of a
// record; Handle renders each in turn, those from WithAttrs first, each
// with its own ": ". The attribute's key is not shown. A model inside a
// group is not detected and is written as an ordinary value.
//
// An error among the top-level attributes is written as its text, as tint
// writes it, followed by exception= and its meaningful type
// (record.ErrorName: "fs.PathError", not fmt's wrapper) unless that is
// only "error". When ctx holds a valid OpenTelemetry span context, the
// line then has trace_id= and span_id=, the span's ids in lowercase hex,
// as the Kafka handler's events have them. With Options.StackLevel, lines
// at or above it end with trace= and the caller's stack.
//
// Values are resolved when written; a LogValuer may be resolved more than
// once per record (once to look for a model, once to write it), so its
// LogValue should be cheap and free of side effects. Handle never panics
// on a value: panics in LogValue, MarshalJSON, String and the like are
// written inline. It returns only the writer's error.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	model, extra := h.scan(ctx, r)
	if h.models == "" && len(h.groups) == 0 && !model {
		if len(extra) > 0 {
			r = r.Clone()
			r.AddAttrs(extra...)
		}
		return h.tint.Handle(ctx, r)
	}
	msg := append([]byte(r.Message), h.models...)
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		if m, ok := record.AsLogModel(a.Value); ok {
			msg = appendModel(msg, m)
		} else {
			// The unresolved attribute, so that tint.Attr colours survive.
			attrs = append(attrs, a)
		}
		return true
	})
	nr := slog.NewRecord(r.Time, r.Level, string(msg), r.PC)
	nr.AddAttrs(h.inGroups(attrs)...)
	nr.AddAttrs(extra...)
	return h.tint.Handle(ctx, nr)
}

// WithAttrs returns a Handler that writes attrs, in the open groups, on
// every line. Log models among them are rendered once, here, and appended
// to every message (see Handle). attrs is not retained.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	var models []byte
	rest := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if m, ok := record.AsLogModel(a.Value); ok {
			models = appendModel(models, m)
		} else {
			rest = append(rest, a)
		}
	}
	h2.models += string(models)
	if len(rest) > 0 {
		h2.tint = h.tint.WithAttrs(h.inGroups(rest))
	}
	return &h2
}

// WithGroup returns a Handler that writes the attributes that follow
// (from WithAttrs and from records) inside group name, as name.key. An
// empty name returns h.
//
// The group is kept here, not handed to tint: tint v1.2.1's WithGroup
// appends to a slice it shares with its parent, so of two sibling groups
// opened on a handler three groups deep the second overwrites the first in
// the groups ReplaceAttr receives (and the two race). Instead attributes
// are nested in slog.Group values before tint sees them, which gives the
// same keys and the right ReplaceAttr groups, and this slice is clipped
// before every append.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	return &h2
}

// inGroups returns attrs nested in the open groups, innermost last.
func (h *Handler) inGroups(attrs []slog.Attr) []slog.Attr {
	if len(h.groups) == 0 || len(attrs) == 0 {
		return attrs
	}
	g := slog.GroupAttrs(h.groups[len(h.groups)-1], attrs...)
	for i := len(h.groups) - 2; i >= 0; i-- {
		g = slog.GroupAttrs(h.groups[i], g)
	}
	return []slog.Attr{g}
}

// scan reports, in one pass over r's top-level attributes, whether one is
// a log model, and returns the attributes the line gains: "exception",
// the meaningful type of the first error (record.ErrorName; left out when
// it is only "error", which the err= text already says), "trace_id" and
// "span_id" of ctx's span, and "trace", the caller's stack, at or above
// Options.StackLevel.
func (h *Handler) scan(ctx context.Context, r slog.Record) (model bool, extra []slog.Attr) {
	var firstErr error
	r.Attrs(func(a slog.Attr) bool {
		if _, ok := record.AsLogModel(a.Value); ok {
			model = true
		}
		if firstErr == nil && a.Value.Kind() == slog.KindAny {
			if err, ok := a.Value.Any().(error); ok && err != nil {
				firstErr = err
			}
		}
		return true
	})
	if firstErr != nil {
		if name := safeErrorName(firstErr); name != "error" {
			extra = append(extra, slog.String("exception", name))
		}
	}
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			extra = append(extra, slog.String(record.TraceIDKey, sc.TraceID().String()), slog.String(record.SpanIDKey, sc.SpanID().String()))
		}
	}
	if h.stackLevel != nil && r.Level >= h.stackLevel.Level() {
		extra = append(extra, slog.String("trace", record.CallerStack(r.PC)))
	}
	return model, extra
}

// safeErrorName is record.ErrorName, "error" for a typed nil pointer.
func safeErrorName(err error) (name string) {
	defer func() {
		if recover() != nil {
			name = "error"
		}
	}()
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.IsNil() {
		return "error"
	}
	return record.ErrorName(err)
}
