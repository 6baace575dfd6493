package record

import (
	"context"
	hexenc "encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// The event's trace fields, named as in OpenTelemetry's log data model:
// the trace and span of the slog call's context, as lowercase hex (32
// and 16 digits). An event logged outside a span has neither.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// spanContext returns the span context of a slog call's ctx, which may
// be nil; invalid when it holds none. It allocates nothing, and the
// context of a call without one (slog.Info's context.Background) costs
// a comparison, not a lookup.
func spanContext(ctx context.Context) trace.SpanContext {
	if ctx == nil || ctx == background {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(ctx)
}

// background is the context slog's calls without a context pass.
var background = context.Background()

// appendTraceFields writes trace_id and span_id, after the base fields,
// when sc is valid.
func appendTraceFields(s *state, sc *trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	s.rawKey(TraceIDKey)
	s.buf = append(s.buf, '"')
	s.buf = hexenc.AppendEncode(s.buf, tid[:])
	s.buf = append(s.buf, '"')
	s.rawKey(SpanIDKey)
	s.buf = append(s.buf, '"')
	s.buf = hexenc.AppendEncode(s.buf, sid[:])
	s.buf = append(s.buf, '"')
}
