package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// w3c is the propagator the tests configure: W3C Trace Context and
// baggage, what otel.SetTextMapPropagator is usually given.
var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// tracedConfig is fastConsumerConfig with the W3C propagator and, when
// rec is not nil, a TracerProvider recording into rec.
func tracedConfig(rec *tracetest.SpanRecorder) (core.Config, trace.TracerProvider) {
	cfg := fastConsumerConfig()
	cfg.Partitions = 1
	cfg.Propagator = w3c
	if rec == nil {
		return cfg, nil
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg.TracerProvider = tp
	return cfg, tp
}

// handled is what a handler saw of one message: its context's span
// context, its headers, and the log event it wrote through record's
// handler.
type handled struct {
	span    trace.SpanContext
	baggage string
	headers []core.Header
	event   map[string]any
}

// tracingHandler returns a handler that logs one line through a
// record.Handler and reports what it saw.
func tracingHandler(t *testing.T, got *collector[handled]) core.Handler[Foo] {
	return func(ctx context.Context, m *core.Message[Foo]) error {
		var line []byte
		logger := slog.New(record.NewHandler(func(b []byte) error { line = bytes.Clone(b); return nil }, nil, nil))
		logger.InfoContext(ctx, "handling", "bar", m.Data.Bar)
		var env struct{ Data map[string]any }
		if err := json.Unmarshal(line, &env); err != nil {
			t.Errorf("log event %s: %v", line, err)
		}
		got.add(handled{
			span:    trace.SpanContextFromContext(ctx),
			baggage: baggage.FromContext(ctx).Member("tenant").Value(),
			headers: m.Record.Headers,
			event:   env.Data,
		})
		return nil
	}
}

// headerValues returns the values of h's headers named key.
func headerValues(h []core.Header, key string) []string {
	var out []string
	for _, x := range h {
		if x.Key == key {
			out = append(out, string(x.Value))
		}
	}
	return out
}

// endedSpans waits until n spans have ended and returns them by name.
func endedSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool { return len(rec.Ended()) >= n }, 10*time.Second, 10*time.Millisecond,
		"want %d ended spans", n)
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	return spans
}

func attrsOf(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// A span started before Publish leads to the consumer's process span,
// across the broker: the message carries the send span's context (the
// messaging conventions' creation context), the send span is a child of
// the caller's span, and the process span a child of the send span,
// linked to it too. The handler's context is the process span's, and
// what it logs carries the trace's id and the process span's id.
func TestTraceFromPublishToHandler(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg, tp := tracedConfig(rec)
	app, _ := newTestApp(t, cfg)
	core.MustRegister[Foo](app, nil)
	got := newCollector[handled]()
	// The handler also logs through sloghandler, whose events come back
	// on "logs".
	shipper, err := sloghandler.New(app, "logs", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = shipper.Close(context.Background()) })
	handler := tracingHandler(t, got)
	_, err = core.Subscribe(app, "orders", "billing", func(ctx context.Context, m *core.Message[Foo]) error {
		slog.New(shipper).InfoContext(ctx, "shipped")
		return handler(ctx, m)
	}, nil)
	require.NoError(t, err)
	shipped := newCollector[record.Event]()
	_, err = core.Subscribe(app, "logs", "log-reader", func(_ context.Context, m *core.Message[record.Event]) error {
		shipped.add(m.Data)
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "orders", 0))
	require.NoError(t, app.EnsureStream(ctx, "logs", 0))
	member, err := baggage.NewMember("tenant", "acme")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	reqCtx, request := tp.Tracer("test").Start(baggage.ContextWithBaggage(ctx, bag), "request")
	require.NoError(t, app.Publish(reqCtx, "orders", Foo{Bar: "x"}, core.Key([]byte("order-7"))))
	request.End()

	run := startRun(t, app)
	h := got.waitFor(t, 1, 20*time.Second)[0]
	event := shipped.waitFor(t, 1, 20*time.Second)[0]
	require.NoError(t, run.stop(t))

	spans := endedSpans(t, rec, 4) // request, send, process, and the log event's reading
	topic := app.Topic("orders")
	send, process := spans["send "+topic], spans["process "+topic]
	require.NotNil(t, send, "send span; got %v", spans)
	require.NotNil(t, process, "process span; got %v", spans)

	traceID := request.SpanContext().TraceID()
	assert.Equal(t, traceID, send.SpanContext().TraceID())
	assert.Equal(t, traceID, process.SpanContext().TraceID())
	assert.Equal(t, request.SpanContext().SpanID(), send.Parent().SpanID(), "send is a child of the caller's span")
	assert.Equal(t, send.SpanContext().SpanID(), process.Parent().SpanID(), "process is a child of the send span")
	assert.True(t, process.Parent().IsRemote())
	require.Len(t, process.Links(), 1)
	assert.Equal(t, send.SpanContext().SpanID(), process.Links()[0].SpanContext.SpanID(), "process links to the creation context")
	assert.Equal(t, trace.SpanKindProducer, send.SpanKind())
	assert.Equal(t, trace.SpanKindConsumer, process.SpanKind())
	assert.Equal(t, codes.Unset, send.Status().Code)
	assert.Equal(t, codes.Unset, process.Status().Code)

	sa, pa := attrsOf(send), attrsOf(process)
	for _, a := range []map[attribute.Key]attribute.Value{sa, pa} {
		assert.Equal(t, "kafka", a["messaging.system"].AsString())
		assert.Equal(t, topic, a["messaging.destination.name"].AsString())
		assert.Equal(t, "0", a["messaging.destination.partition.id"].AsString())
		assert.Equal(t, int64(0), a["messaging.kafka.offset"].AsInt64())
		assert.Equal(t, "order-7", a["messaging.kafka.message.key"].AsString())
	}
	assert.Equal(t, "send", sa["messaging.operation.type"].AsString())
	assert.Equal(t, "send", sa["messaging.operation.name"].AsString())
	assert.Equal(t, "process", pa["messaging.operation.type"].AsString())
	assert.Equal(t, "process", pa["messaging.operation.name"].AsString())
	assert.Equal(t, "billing", pa["messaging.consumer.group.name"].AsString())
	assert.NotContains(t, sa, attribute.Key("messaging.consumer.group.name"))

	// The handler's context: the process span, with the baggage.
	assert.Equal(t, process.SpanContext(), h.span)
	assert.Equal(t, "acme", h.baggage)
	assert.Equal(t, []string{"00-" + traceID.String() + "-" + send.SpanContext().SpanID().String() + "-01"},
		headerValues(h.headers, "traceparent"))
	assert.Equal(t, []string{"tenant=acme"}, headerValues(h.headers, "baggage"))
	// What it logs leads to the trace.
	assert.Equal(t, traceID.String(), h.event["trace_id"])
	assert.Equal(t, process.SpanContext().SpanID().String(), h.event["span_id"])
	assert.JSONEq(t, `"`+traceID.String()+`"`, string(event.Fields["trace_id"]), "sloghandler's event")
	assert.JSONEq(t, `"`+process.SpanContext().SpanID().String()+`"`, string(event.Fields["span_id"]))
}

// Without a TracerProvider (and with the global one unset) there are no
// spans, yet the trace context goes through: the message carries the
// caller's span context itself, and the handler's context holds it as
// the remote span context, so that its logs carry the producer's trace.
func TestTraceContextWithoutTracer(t *testing.T) {
	cfg, _ := tracedConfig(nil)
	app, _ := newTestApp(t, cfg)
	core.MustRegister[Foo](app, nil)
	got := newCollector[handled]()
	_, err := core.Subscribe(app, "orders", "billing", tracingHandler(t, got), nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "orders", 0))
	caller := callerSpanContext(t)
	require.NoError(t, app.Publish(trace.ContextWithSpanContext(ctx, caller), "orders", Foo{Bar: "x"}))
	require.NoError(t, app.Publish(ctx, "orders", Foo{Bar: "outside"}))

	run := startRun(t, app)
	hs := got.waitFor(t, 2, 20*time.Second)
	require.NoError(t, run.stop(t))

	h := hs[0]
	assert.Equal(t, []string{"00-" + caller.TraceID().String() + "-" + caller.SpanID().String() + "-01"}, headerValues(h.headers, "traceparent"))
	assert.True(t, h.span.IsRemote(), "no process span: the remote span context itself")
	assert.Equal(t, caller.TraceID(), h.span.TraceID())
	assert.Equal(t, caller.SpanID(), h.span.SpanID())
	assert.Equal(t, caller.TraceID().String(), h.event["trace_id"])
	assert.Equal(t, caller.SpanID().String(), h.event["span_id"])

	outside := hs[1]
	assert.Empty(t, outside.headers, "outside a trace, nothing is added")
	assert.False(t, outside.span.IsValid())
	assert.NotContains(t, outside.event, "trace_id")
}

// A producer without a TracerProvider sends its caller's span context
// itself, so a span started before Publish is the direct parent of the
// consumer's process span: the two services of the acceptance line, the
// producer only propagating, the consumer tracing. (With spans on both
// sides, TestTraceFromPublishToHandler: the send span comes between.)
func TestCallerSpanIsTheProcessSpansParent(t *testing.T) {
	producerCfg, _ := tracedConfig(nil)
	producer, brokers := newTestApp(t, producerCfg)
	core.MustRegister[Foo](producer, nil)

	rec := tracetest.NewSpanRecorder()
	consumerCfg, tp := tracedConfig(rec)
	consumerCfg.Brokers = brokers
	consumerCfg.TopicPrefix = strings.TrimSuffix(producer.Topic("orders"), "orders")
	consumer, err := core.New(consumerCfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, consumer.Close(context.Background())) })
	core.MustRegister[Foo](consumer, nil)
	got := newCollector[handled]()
	_, err = core.Subscribe(consumer, "orders", "billing", tracingHandler(t, got), nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, producer.EnsureStream(ctx, "orders", 0))
	reqCtx, request := tp.Tracer("test").Start(ctx, "request")
	require.NoError(t, producer.Publish(reqCtx, "orders", Foo{Bar: "x"}))
	request.End()

	run := startRun(t, consumer)
	h := got.waitFor(t, 1, 20*time.Second)[0]
	require.NoError(t, run.stop(t))

	spans := endedSpans(t, rec, 2)
	process := spans["process "+consumer.Topic("orders")]
	require.NotNil(t, process, "process span; got %v", spans)
	assert.Nil(t, spans["send "+producer.Topic("orders")], "the producer has no tracer")
	assert.Equal(t, request.SpanContext().TraceID(), process.SpanContext().TraceID())
	assert.Equal(t, request.SpanContext().SpanID(), process.Parent().SpanID(), "the caller's span is the process span's parent")
	assert.True(t, process.Parent().IsRemote())
	assert.Equal(t, process.SpanContext(), h.span)
	assert.Equal(t, request.SpanContext().TraceID().String(), h.event["trace_id"], "the handler's log event carries the trace")
}

// callerSpanContext is a sampled span context of a caller's own.
func callerSpanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

// A traceparent the caller set is kept, as kafkaesk never overwrites a
// header: no second traceparent, no tracestate of ours beside it. The
// send span links to the caller's context, the message's creation
// context. Forward keeps the record's traceparent, once.
func TestCallerTraceparentIsKept(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg, tp := tracedConfig(rec)
	app, _ := newTestApp(t, cfg)
	core.MustRegister[Foo](app, nil)
	forwarded := newCollector[[]core.Header]()
	_, err := core.Subscribe(app, "orders", "billing", func(ctx context.Context, m *core.Message[Foo]) error {
		return m.Forward(ctx, "audit")
	}, nil)
	require.NoError(t, err)
	_, err = core.Subscribe(app, "audit", "auditor", func(_ context.Context, m *core.Message[[]byte]) error {
		forwarded.add(m.Record.Headers)
		return nil
	}, nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "orders", 0))
	require.NoError(t, app.EnsureStream(ctx, "audit", 0))
	const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ts, err := trace.ParseTraceState("vendor=x")
	require.NoError(t, err)
	reqCtx, request := tp.Tracer("test").Start(ctx, "request")
	reqCtx = trace.ContextWithSpanContext(reqCtx, request.SpanContext().WithTraceState(ts))
	require.NoError(t, app.Publish(reqCtx, "orders", Foo{Bar: "x"}, core.Headers(core.Header{Key: "traceparent", Value: []byte(own)})))
	request.End()

	run := startRun(t, app)
	h := forwarded.waitFor(t, 1, 20*time.Second)[0]
	require.NoError(t, run.stop(t))

	assert.Equal(t, []string{own}, headerValues(h, "traceparent"))
	assert.Empty(t, headerValues(h, "tracestate"), "our tracestate would not belong with the caller's traceparent")
	spans := endedSpans(t, rec, 5) // request, send, process, the forward's send, its process
	send := spans["send "+app.Topic("orders")]
	require.NotNil(t, send)
	require.Len(t, send.Links(), 1)
	assert.Equal(t, "b7ad6b7169203331", send.Links()[0].SpanContext.SpanID().String())
}

// A handler's Message.Publish carries the handler's trace context, not
// the consumed record's: the next consumer's process span follows the
// handler's span, in the same trace.
func TestMessagePublishContinuesTheHandlersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg, tp := tracedConfig(rec)
	app, _ := newTestApp(t, cfg)
	core.MustRegister[Foo](app, nil)
	got := newCollector[handled]()
	_, err := core.Subscribe(app, "orders", "billing", func(ctx context.Context, m *core.Message[Foo]) error {
		return m.Publish(ctx, "invoices", Foo{Bar: "invoice"})
	}, nil)
	require.NoError(t, err)
	_, err = core.Subscribe(app, "invoices", "mailer", tracingHandler(t, got), nil)
	require.NoError(t, err)

	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "orders", 0))
	require.NoError(t, app.EnsureStream(ctx, "invoices", 0))
	reqCtx, request := tp.Tracer("test").Start(ctx, "request")
	require.NoError(t, app.Publish(reqCtx, "orders", Foo{Bar: "x"}))
	request.End()

	run := startRun(t, app)
	h := got.waitFor(t, 1, 20*time.Second)[0]
	require.NoError(t, run.stop(t))

	spans := endedSpans(t, rec, 5)
	first, resend := spans["process "+app.Topic("orders")], spans["send "+app.Topic("invoices")]
	require.NotNil(t, first)
	require.NotNil(t, resend)
	assert.Equal(t, first.SpanContext().SpanID(), resend.Parent().SpanID())
	assert.Len(t, headerValues(h.headers, "traceparent"), 1)
	assert.Equal(t, request.SpanContext().TraceID(), h.span.TraceID())
	if second := spans["process "+app.Topic("invoices")]; assert.NotNil(t, second) {
		assert.Equal(t, resend.SpanContext().SpanID(), second.Parent().SpanID())
	}
}

// A handler error ends the process span with an error status and
// error.type; ErrSkip does not, being the handler's decision.
func TestProcessSpanRecordsTheHandlersError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg, _ := tracedConfig(rec)
	app, _ := newTestApp(t, cfg)
	var calls sync.WaitGroup
	calls.Add(2)
	_, err := core.Subscribe(app, "jobs", "worker", func(_ context.Context, m *core.Message[[]byte]) error {
		defer calls.Done()
		if string(m.Record.Value) == `"skip"` {
			return core.ErrSkip
		}
		return &core.TopicError{Topic: "x", Err: context.DeadlineExceeded}
	}, &core.SubscribeOptions{OnError: core.ErrorPolicy{Then: core.ActionSkip}})
	require.NoError(t, err)
	ctx := testContext(t)
	require.NoError(t, app.RawPublish(ctx, "jobs", []byte(`"skip"`)))
	require.NoError(t, app.RawPublish(ctx, "jobs", []byte(`"fail"`)))
	run := startRun(t, app)
	calls.Wait()
	require.NoError(t, run.stop(t))

	require.Eventually(t, func() bool { return len(rec.Ended()) == 2 }, 5*time.Second, 10*time.Millisecond)
	spans := rec.Ended()
	assert.Equal(t, codes.Unset, spans[0].Status().Code, "ErrSkip")
	assert.Equal(t, codes.Error, spans[1].Status().Code)
	assert.Equal(t, "Timeout", attrsOf(spans[1])["error.type"].AsString(), "as core's metrics name it")
}

// A transaction's messages carry the trace context and have send spans,
// ended when the broker took them in the transaction; a staged message
// of a failed handler call ends its span with the reason it was never
// sent. Transactions run on franz-go whatever KAFKAESK_CLIENT says.
func TestTransactionSendSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg, tp := tracedConfig(rec)
	cfg.Client = core.ClientFranzGo
	prefix := kafkaesktest.TopicPrefix(t)
	cfg.TransactionalID = prefix + "tx"
	app, _ := newTestApp(t, cfg)
	ctx := testContext(t)
	reqCtx, request := tp.Tracer("test").Start(ctx, "request")
	require.NoError(t, app.Transact(reqCtx, func(ctx context.Context, tx *core.Tx) error {
		return tx.RawPublish(ctx, "out", []byte(`{}`))
	}))
	request.End()

	spans := endedSpans(t, rec, 2)
	send := spans["send "+app.Topic("out")]
	require.NotNil(t, send, "got %v", spans)
	assert.Equal(t, request.SpanContext().SpanID(), send.Parent().SpanID())
	assert.Equal(t, codes.Unset, send.Status().Code)
	assert.Equal(t, "0", attrsOf(send)["messaging.destination.partition.id"].AsString())

	// In a transactional subscription, a failed call's message is dropped.
	fail := true
	handled := make(chan struct{}, 2)
	_, err := core.Subscribe(app, "out", "relay", func(ctx context.Context, m *core.Message[[]byte]) error {
		defer func() { handled <- struct{}{} }()
		if err := m.Tx.RawPublish(ctx, "relayed", m.Record.Value); err != nil {
			return err
		}
		if fail {
			fail = false
			return context.DeadlineExceeded
		}
		return nil
	}, &core.SubscribeOptions{Transactional: true, OnError: core.ErrorPolicy{Retries: 1, Backoff: time.Millisecond}})
	require.NoError(t, err)
	require.NoError(t, app.EnsureStream(ctx, "relayed", 0))
	run := startRun(t, app)
	for range 2 {
		select {
		case <-handled:
		case <-time.After(30 * time.Second):
			t.Fatal("the message was not handled twice")
		}
	}
	// A stop aborts the open transaction: wait for the broker to take the
	// retry's message first.
	relayed := func() (n int) {
		for _, s := range rec.Ended() {
			if s.Name() == "send "+app.Topic("relayed") {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return relayed() == 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, run.stop(t))
	var dropped, sent int
	for _, s := range rec.Ended() {
		if s.Name() != "send "+app.Topic("relayed") {
			continue
		}
		if s.Status().Code == codes.Error {
			dropped++
			assert.Contains(t, s.Status().Description, "handler call failed")
		} else {
			sent++
		}
	}
	assert.Equal(t, 1, dropped, "the failed call's message")
	assert.Equal(t, 1, sent, "the retry's message")
}
