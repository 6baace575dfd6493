package interop_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Messages Go publishes inside a span carry W3C traceparent, tracestate
// and baggage headers; Python kafkaesk, which decodes every header as
// UTF-8 before its (OpenTracing) extraction, handles them as any other
// message, and sees the headers as Go wrote them, next to the caller's.
func TestTraceHeadersToPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config()
	cfg.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	app := e.app(t, cfg)
	core.MustRegister[Event](app, nil)

	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	ts, err := trace.ParseTraceState("vendor=opaque")
	require.NoError(t, err)
	member, err := baggage.NewMember("tenant", "acme")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx := trace.ContextWithSpanContext(baggage.ContextWithBaggage(testContext(t), bag), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts,
	}))
	events := sampleEvents()
	for _, ev := range events {
		require.NoError(t, app.Publish(ctx, "traced", ev, core.Headers(core.Header{Key: "origin", Value: []byte("go")})))
	}

	got := python[pySubscribed](t, e, "subscribe.py", subscribeSpec("traced", e.group("py"), "Event", len(events)))
	require.Len(t, got, len(events), "each message once")
	for _, s := range got {
		var ev Event
		require.NoError(t, json.Unmarshal(s.Data, &ev), "Python's model.dict() %s", s.Data)
		assert.Equal(t, asJSON(t, eventByText(t, ev.Text)), jsonValue(t, s.Data), "Python's model of Go's %q", ev.Text)
		assert.Equal(t, [][2]string{
			{"origin", "go"},
			{"tracestate", "vendor=opaque"},
			{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			{"baggage", "tenant=acme"},
		}, s.Headers)
	}
}
