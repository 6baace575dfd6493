package main

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newTracing returns the service's tracer provider and propagator (W3C
// Trace Context and Baggage). Every request gets a server span, which
// continues the caller's trace when the request carries a traceparent
// header; what is logged while serving it carries the span's trace_id and
// span_id, in the Kafka log event and on the console, and what it
// publishes carries the trace in its headers (core.Config.TracerProvider
// and Propagator).
//
// The spans are sampled but not exported: a real service adds an
// exporter, for example sdktrace.WithBatcher(otlptracegrpc.New(...)).
// The caller shuts the provider down.
func newTracing() (*sdktrace.TracerProvider, propagation.TextMapPropagator) {
	return sdktrace.NewTracerProvider(), propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// traced wraps h so that each request runs in a server span of tp,
// named after the request's method (paths such as /orders/7 would make
// one span name per order).
func traced(h http.Handler, tp *sdktrace.TracerProvider, prop propagation.TextMapPropagator) http.Handler {
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}
