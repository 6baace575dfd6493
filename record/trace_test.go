package record

import (
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// testSpan is a sampled span context, as a slog call inside a span has.
func testSpan(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

const testTrace = `,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`

// An event logged inside a span has its trace_id and span_id, lowercase
// hex, right after the base fields; outside one it has neither. An
// attribute named trace_id or span_id is written as fields.trace_id, as
// other base fields' names are, with or without a span: a top-level
// trace_id is always the span's. A log model's field overrides it, as it
// does any base field.
func TestTraceFields(t *testing.T) {
	type traced struct {
		Model
		TraceID string `json:"trace_id"`
	}
	h, rec := newTestHandler(nil)
	ctx := testSpan(t)
	for _, tt := range []struct {
		name string
		ctx  context.Context
		h    slog.Handler
		args []any
		want string
	}{
		{"in a span", ctx, h, []any{"a", 1}, testBase + testTrace + `,"a":1`},
		{"outside a span", context.Background(), h, []any{"a", 1}, testBase + `,"a":1`},
		{"nil context", nil, h, nil, testBase},
		{"attribute of the name, in a span", ctx, h, []any{"trace_id", "mine", "span_id", 2}, testBase + testTrace + `,"fields.trace_id":"mine","fields.span_id":2`},
		{"attribute of the name, outside a span", context.Background(), h, []any{"trace_id", "mine"}, testBase + `,"fields.trace_id":"mine"`},
		{"in WithAttrs", ctx, h.WithAttrs([]slog.Attr{slog.String("trace_id", "mine")}), nil, testBase + testTrace + `,"fields.trace_id":"mine"`},
		{"in a group", ctx, h.WithGroup("g"), []any{"trace_id", "mine"}, testBase + testTrace + `,"g":{"trace_id":"mine"}`},
		{"log model", ctx, h, []any{"m", traced{TraceID: "model"}}, testBase + `,"trace_id":"model","span_id":"00f067aa0ba902b7"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rec.emitCtx(t, tt.ctx, tt.h, slog.LevelInfo, "hello", tt.args...)
			if want := wantEvent(tt.want); got != want {
				t.Errorf("event\n got %s\nwant %s", got, want)
			}
		})
	}
}

// The collector's scan reads trace_id when it is a string.
func TestScanTraceID(t *testing.T) {
	for _, tt := range []struct{ data, want string }{
		{`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{`"trace_id":7`, ""},
		{`"other":1`, ""},
	} {
		var v EventView
		if err := ScanEvent([]byte(`{"schema":"PydanticLogModel:1","data":{`+tt.data+`}}`), &v); err != nil {
			t.Fatal(err)
		}
		if string(v.TraceID) != tt.want {
			t.Errorf("%s: TraceID %q, want %q", tt.data, v.TraceID, tt.want)
		}
	}
}
