package core

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the tracer of core's spans.
const instrumentationName = "github.com/kafkaesk-go/kafkaesk/core"

// The W3C Trace Context headers. They go together: see injectCarrier.
const (
	headerTraceparent = "traceparent"
	headerTracestate  = "tracestate"
)

// tracing is an application's tracer, found when first needed: the
// zero value is ready, and reads Config.TracerProvider.
type tracing struct {
	found atomic.Pointer[tracerRef] // set once the provider is known; never changed after
}

// tracerRef is the tracer of the application's spans; nil when its
// provider makes none (a noop.TracerProvider).
type tracerRef struct{ tracer trace.Tracer }

// unsetGlobalProvider is the type of what otel.GetTracerProvider returns
// before the program sets a provider: a stand-in that hands out spans
// that record nothing, yet cost a context and an allocation each. It is
// told apart by its type, read here while no program has set one; nil if
// otel names it otherwise (then every provider counts as real: spans
// that record nothing, paid for, but never a missed one).
var unsetGlobalProvider = func() reflect.Type {
	t := reflect.TypeOf(otel.GetTracerProvider())
	if t == nil || t.String() != "*global.tracerProvider" {
		return nil
	}
	return t
}()

// tracer returns the tracer of the application's spans, or nil when
// there are none to make: the provider is a no-op, or it is the global
// one and the program has not set it yet (it is looked up again on the
// next call, and kept once set, as otel's global tracers are delegated
// once). It allocates nothing once the provider is known.
func (t *tracing) tracer(cfg *Config) trace.Tracer {
	if r := t.found.Load(); r != nil {
		return r.tracer
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if unsetGlobalProvider != nil && reflect.TypeOf(tp) == unsetGlobalProvider {
			return nil
		}
	}
	r := &tracerRef{}
	if _, ok := tp.(noop.TracerProvider); !ok {
		r.tracer = tp.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL))
	}
	t.found.CompareAndSwap(nil, r)
	return t.found.Load().tracer
}

// propagator returns Config.Propagator, or the global one.
func (c *Config) propagator() propagation.TextMapPropagator {
	if c.Propagator != nil {
		return c.Propagator
	}
	return otel.GetTextMapPropagator()
}

// traceable reports whether a publish within ctx has trace context to
// carry: a valid span context, or baggage. Publishing outside any trace
// adds no header and starts no span, so that background publishers (the
// log pipeline among them) never make a trace per message.
func traceable(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid() || baggage.FromContext(ctx).Len() > 0
}

// traceSend prepares rec, about to be handed to the producer, for a
// publish within ctx, which traceable accepted: it starts rec's send
// span when ctx holds a valid span context and there is a tracer, and
// writes the trace context (the send span's, else ctx's) into
// rec.Headers, leaving the caller's headers as they are. It reports
// whether it started a span; if rec is then not accepted, the caller
// ends it with endSend.
func (a *Application) traceSend(ctx context.Context, rec *Record) (started bool) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		if tr := a.tracing.tracer(&a.cfg); tr != nil {
			ctx = startSend(ctx, tr, rec)
			started = true
		}
	}
	// Clipped, so that what is injected never lands in a spare part of
	// the caller's array, which other records may share.
	rec.Headers = slices.Clip(rec.Headers)
	a.cfg.propagator().Inject(ctx, &injectCarrier{headers: &rec.Headers, own: len(rec.Headers)})
	return started
}

// sendTrace is a record's send span, while the producer has the record.
type sendTrace struct {
	span trace.Span
	done any // the record's own callback, as produceState.done
}

// startSend starts rec's send span, a child of ctx's, and puts
// tracedDone in front of rec's callback, to end it with the outcome. It
// returns ctx with the span, whose context the message then carries
// (the messaging conventions' creation context), unless the caller's
// headers hold one of their own, which the span links to instead.
func startSend(ctx context.Context, tr trace.Tracer, rec *Record) context.Context {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(rec.Topic),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("send"),
		semconv.MessagingMessageBodySize(len(rec.Value)),
	)
	if key, ok := messageKey(rec.Key); ok {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(key))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...)}
	if own := creationContext(rec.Headers); own.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: own}))
	}
	ctx, span := tr.Start(ctx, "send "+rec.Topic, opts...)
	rec.trace = sendTrace{span: span, done: rec.produce.done}
	rec.produce.done = tracedDone
	return ctx
}

// tracedDone is the callback of a record with a send span: it ends the
// span with the outcome, then calls the record's own callback.
var tracedDone Promise = func(r *Record, err error) {
	t := r.trace
	r.trace = sendTrace{}
	r.produce.done = t.done
	endSend(t.span, r, err)
	deliver(t.done, r, err)
}

// deliver calls done, a callback as produceState.done holds it, with
// r's outcome: the one place that knows the callback types (settle and
// the traced callback use it).
func deliver(done any, r *Record, err error) {
	switch d := done.(type) {
	case Promise:
		d(r, err)
	case Delivery:
		d(err)
	case BatchDelivery:
		d(r.Value, err)
	case *waiter:
		d.done <- err
	}
}

// endSend ends a send span with the outcome: where the message was
// written, or the error.
func endSend(span trace.Span, r *Record, err error) {
	if err == ErrSpooled {
		// Not sent yet, not failed: it leaves from the spool later,
		// with this span's context in its headers.
		span.SetAttributes(attribute.Bool("kafkaesk.spooled", true))
		span.End()
		return
	}
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(
			semconv.MessagingDestinationPartitionID(strconv.Itoa(r.Partition)),
			semconv.MessagingKafkaOffset(int(r.Offset)),
		)
	}
	span.End()
}

// endRecordSpan ends rec's send span, if it has one, with err: for a
// record the producer never took, or one of a transaction.
func endRecordSpan(rec *Record, err error) {
	if rec.trace.span == nil {
		return
	}
	span := rec.trace.span
	rec.produce.done = rec.trace.done
	rec.trace = sendTrace{}
	endSend(span, rec, err)
}

// traceProcess returns the context of a handler call on m: ctx with the
// trace context m's headers carry (so that the handler, and what it logs
// and publishes, continue the producer's trace, with or without a
// tracer) and, when there is a tracer, m's process span, a child of that
// context which also links to it, as the messaging conventions ask of
// every process span. span is nil when there is none; endProcess ends it.
func (a *Application) traceProcess(ctx context.Context, m *Record, group string) (_ context.Context, span trace.Span) {
	if len(m.Headers) > 0 {
		ctx = a.cfg.propagator().Extract(ctx, (*headerCarrier)(&m.Headers))
	}
	tr := a.tracing.tracer(&a.cfg)
	if tr == nil {
		return ctx, nil
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingConsumerGroupName(group),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(m.Partition)),
		semconv.MessagingKafkaOffset(int(m.Offset)),
		semconv.MessagingMessageBodySize(len(m.Value)),
	)
	if key, ok := messageKey(m.Key); ok {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(key))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsRemote() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return tr.Start(ctx, "process "+m.Topic, opts...)
}

// endProcess ends a process span with the handler call's error. ErrSkip
// is the handler's decision, not a failure.
func endProcess(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ErrSkip) {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// withoutTraceHeaders returns h without the headers the propagator
// writes, when ctx has trace context of its own to put there instead: a
// handler's Message.Publish carries the consumed record's headers, but
// its trace context is the handler's, whose trace is the consumed
// record's. Otherwise it returns h.
func (a *Application) withoutTraceHeaders(ctx context.Context, h []Header) []Header {
	if len(h) == 0 || !traceable(ctx) {
		return h
	}
	fields := a.cfg.propagator().Fields()
	if len(fields) == 0 {
		return h
	}
	return slices.DeleteFunc(slices.Clone(h), func(x Header) bool { return slices.Contains(fields, x.Key) })
}

// creationContext returns the span context that h, a record's headers,
// carries in traceparent; invalid when none.
func creationContext(h []Header) trace.SpanContext {
	for _, x := range h {
		if x.Key == headerTraceparent {
			ctx := propagation.TraceContext{}.Extract(context.Background(), (*headerCarrier)(&h))
			return trace.SpanContextFromContext(ctx)
		}
	}
	return trace.SpanContext{}
}

// messageKey returns a record key as the messaging.kafka.message.key
// attribute takes it: a valid UTF-8 string, not empty.
func messageKey(key []byte) (string, bool) {
	if len(key) == 0 || !utf8.Valid(key) {
		return "", false
	}
	return string(key), true
}

// errorType names err for the error.type attribute: as core's metrics
// name it in their error label (errorClass: "NotLeaderForPartitionError",
// "DeliveryTimeout", "ValidationError", a Go type), so that a span and
// the counters it moved agree; of a *PublishError, its cause.
func errorType(err error) string {
	var pe *PublishError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return errorClass(err)
}

// headerCarrier is a record's headers as an OpenTelemetry carrier, for
// extraction. Of a header given twice, the first counts.
type headerCarrier []Header

func (c *headerCarrier) Get(key string) string {
	for _, h := range *c {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set adds a header; see injectCarrier for what publishing does.
func (c *headerCarrier) Set(key, value string) {
	*c = append(*c, Header{Key: key, Value: []byte(value)})
}

func (c *headerCarrier) Keys() []string {
	keys := make([]string, len(*c))
	for i, h := range *c {
		keys[i] = h.Key
	}
	return keys
}

// injectCarrier is a record's headers as an OpenTelemetry carrier for
// injection, which never overwrites what the caller set, as kafkaesk's
// publish never does: a key among the first own headers is not added
// again. traceparent and tracestate go together: when the caller set
// either, neither is added, so that a trace context of the caller's is
// never mixed with the publish's.
type injectCarrier struct {
	headers *[]Header
	own     int // (*headers)[:own] are the caller's
}

func (c *injectCarrier) Get(key string) string { return (*headerCarrier)(c.headers).Get(key) }

func (c *injectCarrier) Set(key, value string) {
	if c.callerSet(key) {
		return
	}
	if (key == headerTraceparent || key == headerTracestate) && (c.callerSet(headerTraceparent) || c.callerSet(headerTracestate)) {
		return
	}
	(*headerCarrier)(c.headers).Set(key, value)
}

func (c *injectCarrier) Keys() []string { return (*headerCarrier)(c.headers).Keys() }

func (c *injectCarrier) callerSet(key string) bool {
	for _, h := range (*c.headers)[:c.own] {
		if h.Key == key {
			return true
		}
	}
	return false
}
