package streamhandler_test

import (
	"bytes"
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// A line logged inside a span ends with its trace_id and span_id, as the
// Kafka handler's events carry them, before the stack trace; outside a
// span, and with a nil context, it has neither.
func TestTraceIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	const ids = "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"
	var buf bytes.Buffer
	l := plain(&buf, nil)
	l.InfoContext(ctx, "hello", "k", 1)
	l.WithGroup("g").InfoContext(ctx, "grouped", "k", 1, "event", UserLog{User: "ana"})
	l.ErrorContext(ctx, "failed", "err", &myError{})
	l.InfoContext(context.Background(), "outside")
	l.Info("no context")
	want := "INF hello k=1 " + ids + "\n" +
		"INF grouped: user=ana g.k=1 " + ids + "\n" +
		"ERR failed err=mine exception=streamhandler_test.myError " + ids + "\n" +
		"INF outside\n" +
		"INF no context\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

type myError struct{}

func (*myError) Error() string { return "mine" }
