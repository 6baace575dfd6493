package core

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The global provider before the program sets one is told apart, so
// that an application without a TracerProvider makes no spans and pays
// nothing for them; so is a noop.TracerProvider. Were otel to rename
// its stand-in, unsetGlobalProvider would be nil: spans that record
// nothing, paid for on every message.
func TestNoTracerWithoutAProvider(t *testing.T) {
	if unsetGlobalProvider == nil {
		t.Fatal("otel's unset global TracerProvider is not recognised: its type was renamed")
	}
	if tr := new(tracing).tracer(&Config{}); tr != nil {
		t.Errorf("tracer with the global provider unset: got %T, want nil", tr)
	}
	if tr := new(tracing).tracer(&Config{TracerProvider: noop.NewTracerProvider()}); tr != nil {
		t.Errorf("tracer with a noop provider: got %T, want nil", tr)
	}
}

// Publishing outside a trace costs no allocation for tracing: the one
// check each publish makes.
func TestTraceableAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sc trace.SpanContext
	allocs := testing.AllocsPerRun(100, func() {
		if traceable(ctx) {
			sc = trace.SpanContextFromContext(ctx)
		}
	})
	if allocs != 0 || sc.IsValid() {
		t.Errorf("traceable: %v allocations, want 0", allocs)
	}
}
