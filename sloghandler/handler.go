package sloghandler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// Errors returned by Handle. slog.Logger discards them; they are counted
// in Stats either way.
var (
	// ErrDropped: the queue was full and the event was dropped.
	ErrDropped = errors.New("sloghandler: queue full, event dropped")
	// ErrClosed: the handler is closed.
	ErrClosed = errors.New("sloghandler: handler closed")
)

// Handler is a slog.Handler that ships each record to a Kafka stream as a
// kafkaesk log event (record.Encoder), without ever calling Kafka on the
// caller's goroutine: Handle encodes the event into a pooled buffer and
// hands it, without waiting, to the application's producer, which
// batches, retries while Kafka is down or slow, and reports each event's
// outcome once.
//
// Handlers derived with WithAttrs and WithGroup share the queue and the
// counters. All methods are safe for concurrent use. Close the root
// handler (any of them) to deliver what is queued.
type Handler struct {
	enc   *record.Encoder
	level slog.Leveler
	p     *pipeline
}

var _ slog.Handler = (*Handler)(nil)

// New returns a Handler publishing to stream through app. app is not
// closed by the handler.
func New(app *core.Application, stream string, opts *Options) (*Handler, error) {
	return assemble(app, false, stream, opts)
}

// Open returns a Handler with an application of its own for cfg; Close
// closes it. The application's own diagnostics are discarded unless
// cfg.Logger is set: logging them through this handler could loop.
func Open(cfg core.Config, stream string, opts *Options) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if opts != nil && opts.SpoolDir != "" {
		if cfg.Spool.Dir != "" && cfg.Spool.Dir != opts.SpoolDir {
			return nil, fmt.Errorf("sloghandler: Options.SpoolDir %q and Config.Spool.Dir %q differ: set one", opts.SpoolDir, cfg.Spool.Dir)
		}
		cfg.Spool.Dir = opts.SpoolDir
	}
	app, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	h, err := assemble(app, true, stream, opts)
	if err != nil {
		app.Close(context.Background())
		return nil, err
	}
	return h, nil
}

// assemble validates opts and builds a Handler.
func assemble(app *core.Application, ownsApp bool, stream string, opts *Options) (*Handler, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if stream == "" {
		return nil, errors.New("sloghandler: the stream is empty")
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	o.QueueSize = orDefault(o.QueueSize, DefaultQueueSize)
	o.BlockTimeout = orDefault(o.BlockTimeout, DefaultBlockTimeout)
	if o.Warnings == nil {
		o.Warnings = os.Stderr
	}
	if o.Key == nil {
		o.Key = []byte(record.LocalHost().Hostname)
	}
	var errs []error
	if o.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("QueueSize %d is less than allowed 1", o.QueueSize))
	}
	if o.WhenFull != DropNewest && o.WhenFull != Block {
		errs = append(errs, fmt.Errorf("WhenFull %d is not DropNewest or Block", o.WhenFull))
	}
	if o.SpoolDir != "" && !ownsApp {
		errs = append(errs, fmt.Errorf("SpoolDir %q is for Open: with New, the application's Config.Spool applies", o.SpoolDir))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sloghandler: invalid options: %w", err)
	}
	enc := record.NewEncoder(&record.Options{
		Schema:       o.Schema,
		Logger:       o.Logger,
		AddSource:    o.AddSource,
		ReplaceAttr:  o.ReplaceAttr,
		ContextAttrs: slices.Clone(o.ContextAttrs),
		StackLevel:   o.StackLevel,
	})
	p := newPipeline(app, ownsApp, stream, &o)
	if err := p.registerMetrics(app.Config().Metrics); err != nil {
		return nil, fmt.Errorf("sloghandler: metrics: %w", err)
	}
	return &Handler{enc: enc, level: o.Level, p: p}, nil
}

// Enabled reports whether l is at or above the handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle encodes r on the caller's goroutine, into the buffer of a
// settled event when there is one, and hands it to the producer. It never
// waits for Kafka: when the queue (QueueSize) or the application's
// producer buffer is full it drops the event (ErrDropped), or with the
// Block policy waits at most BlockTimeout first; when the application
// has a spool (core.Config.Spool, Options.SpoolDir), the event goes to
// the spool instead, and is dropped only when the spool is full.
// Canceling ctx does not affect the record.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	p := h.p
	if p.fullAndDropping() {
		// Dropped anyway: do not pay for the encoding. Under overload
		// every call is a drop, and callers that encode for nothing
		// take the CPU the producer needs to drain the queue.
		return p.drop()
	}
	if p.closed.Load() {
		return p.refuseClosed()
	}
	ok, left := p.takeSlot()
	if !ok {
		if p.spills {
			// The queue is full: the event waits in the application's
			// spool instead of being dropped.
			return p.spill(h.encode(ctx, r))
		}
		return p.drop()
	}
	// The event is owned by the producer from here on.
	return p.send(h.encode(ctx, r), left)
}

// encode returns the record of r: a settled event's, with its buffer,
// when there is one.
func (h *Handler) encode(ctx context.Context, r slog.Record) *core.Record {
	p := h.p
	if rec, ok := p.recycled(); ok {
		rec.Value = h.enc.Append(rec.Value, ctx, r)
		return rec
	}
	// None to reuse (starting, or Kafka behind): encode into a scratch
	// buffer and copy the event to one of its size.
	scratch := scratchPool.Get().(*[]byte)
	*scratch = h.enc.Append((*scratch)[:0], ctx, r)
	event := make([]byte, len(*scratch))
	copy(event, *scratch)
	if cap(*scratch) <= maxRecycled {
		scratchPool.Put(scratch)
	}
	return p.newRecord(event)
}

var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// WithAttrs returns a Handler whose events carry attrs, encoded once.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &Handler{enc: h.enc.WithAttrs(attrs), level: h.level, p: h.p}
}

// WithGroup returns a Handler that puts later attributes in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{enc: h.enc.WithGroup(name), level: h.level, p: h.p}
}

// Stats returns the handler's counters; see Stats.
func (h *Handler) Stats() Stats { return h.p.stats() }

// Flush blocks until every event handed to Handle before the call is
// delivered or has failed (a snapshot: events logged meanwhile are not
// waited for), or ctx ends; then it returns an error saying how many are
// left. It flushes the application's producer, so other messages
// published through the same application before the call are waited for
// too.
func (h *Handler) Flush(ctx context.Context) error { return h.p.flush(ctx) }

// Close stops accepting events (Handle returns ErrClosed) and delivers
// what is queued until ctx ends. If the handler opened its application,
// it closes it: events still undelivered at the deadline are given up on
// and counted as Failed (not in the topic) or Unknown (a request carried
// them: they may be), and the error says how many. Otherwise they stay
// with the application, which reports their outcome later, and the error
// says how many are left. A second Close returns nil.
func (h *Handler) Close(ctx context.Context) error { return h.p.close(ctx) }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
