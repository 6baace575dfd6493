package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// Collector consumes log streams and writes their events to outputs,
// at least once: an event's offset is committed only after every output
// has flushed it.
//
// Its methods are safe for concurrent use. Run it once; its outputs are
// closed when Run returns.
type Collector struct {
	app     *core.Application
	opts    Options
	log     *slog.Logger
	prefix  string
	subs    []*core.Subscription
	outputs []*outputState

	minLevel                  slog.Leveler
	services, loggers, stream *matcher
	traceIDs                  [][]byte // Filter.TraceIDs, lowercase; nil: any

	streamsMu sync.Mutex                              // serialises adding to streams
	streams   atomic.Pointer[map[string]*streamState] // by topic; copied on write

	written, skipped, deadLettered atomic.Int64
	dropped                        [numDropReasons]atomic.Int64
	commits, commitErrors          atomic.Int64
	commitSeconds                  prometheus.Histogram
	registry                       *prometheus.Registry

	started atomic.Bool
	running atomic.Bool
	runErr  atomic.Pointer[error]

	warnMu       sync.Mutex
	lastWarn     time.Time
	warnedSkips  int64 // skipped messages not logged since lastWarn
	lastSkipWhat string
}

// outputState is an output and its counters.
type outputState struct {
	out     Output
	written atomic.Int64
	errors  atomic.Int64
	failing atomic.Pointer[error] // the last Write or Flush error, until one succeeds
}

// streamState is what the collector keeps per topic.
type streamState struct {
	name     string
	excluded bool // by Filter.Streams
	received atomic.Int64
}

// Why an event was dropped (filtered out).
const (
	dropLevel = iota
	dropService
	dropLogger
	dropStream
	dropTraceID
	numDropReasons
)

var dropReasons = [numDropReasons]string{"min_level", "service", "logger", "stream", "trace_id"}

// Stats counts what a collector did.
type Stats struct {
	Received     int64 // messages consumed
	Written      int64 // events written to every output
	Skipped      int64 // messages that are not log events
	DeadLettered int64 // of those, forwarded to Options.DeadLetterStream
	Dropped      int64 // events left out by Options.Filter
	WriteErrors  int64 // failed output writes and flushes, each retried
	Commits      int64 // offset commits
	CommitErrors int64 // failed commits, retried at the next one
}

// New returns a collector of app's streams, registering its subscriptions
// on app. app must not run other subscriptions: the collector runs it.
func New(app *core.Application, opts Options) (*Collector, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	c := &Collector{
		app:      app,
		opts:     opts,
		log:      opts.Logger,
		prefix:   app.Config().TopicPrefix,
		minLevel: opts.Filter.MinLevel,
	}
	c.streams.Store(&map[string]*streamState{})
	if c.log == nil {
		c.log = app.Config().Logger
	}
	if c.opts.Concurrency == 0 {
		c.opts.Concurrency = defaultConcurrency
	}
	if c.opts.FlushInterval == 0 {
		c.opts.FlushInterval = defaultFlushInterval
	}
	if app.Config().DisableAutoCommit {
		// Outputs are flushed before each commit: without commits they
		// would be flushed only when full, and offsets never committed.
		return nil, errors.New("collector: the application's Config.DisableAutoCommit is set: the collector commits offsets itself, after its outputs flushed them")
	}
	var errs []error
	var err error
	if c.services, err = newMatcher("Services", opts.Filter.Services); err != nil {
		errs = append(errs, err)
	}
	if c.loggers, err = newMatcher("Loggers", opts.Filter.Loggers); err != nil {
		errs = append(errs, err)
	}
	if c.stream, err = newMatcher("Streams", opts.Filter.Streams); err != nil {
		errs = append(errs, err)
	}
	if c.traceIDs, err = parseTraceIDs(opts.Filter.TraceIDs); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	for _, o := range opts.Outputs {
		c.outputs = append(c.outputs, &outputState{out: o})
	}
	if err := c.registerMetrics(); err != nil {
		return nil, fmt.Errorf("collector: metrics: %w", err)
	}
	sopts := &core.SubscribeOptions{
		Concurrency:     c.opts.Concurrency,
		StartFromLatest: opts.StartFromLatest,
		// Commit as soon as the outputs have flushed: every FlushInterval
		// (or more often, when the application's CommitInterval is
		// shorter), flushing and syncing first, so that a crash
		// redelivers at most about one interval of events. With the
		// application's default of 5s, a SIGKILL while catching up a
		// backlog wrote 45% of the events twice.
		CommitInterval: min(c.opts.FlushInterval, app.Config().CommitInterval),
		BeforeCommit:   func(context.Context) error { return c.flush() },
		AfterCommit:    c.afterCommit,
		// Output failures are retried inside the handler; what reaches
		// the policy is a dead-letter publish that failed: retried too,
		// never skipped, so nothing is lost.
		OnError: core.ErrorPolicy{Retries: core.RetryForever, Backoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second},
	}
	for _, p := range opts.Patterns {
		s, err := core.Subscribe(app, p, opts.Group, c.handle, sopts)
		if err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
		c.subs = append(c.subs, s)
	}
	return c, nil
}

// Run collects until ctx ends, then stops gracefully: handlers in flight
// finish, outputs are flushed, offsets committed and the group left,
// within the application's Config.ShutdownTimeout; then the outputs are
// closed. It returns nil after a stop by ctx, or why it failed.
func (c *Collector) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return errors.New("collector: Run was already called")
	}
	c.running.Store(true)
	err := c.app.Run(ctx)
	c.running.Store(false)
	if err != nil {
		c.runErr.Store(&err)
	}
	for _, o := range c.outputs {
		if cerr := o.out.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("collector: close %s: %w", o.out, cerr))
		}
	}
	return err
}

// flush flushes every output. It is the subscriptions' BeforeCommit and
// the only flush while Run runs: every event written is followed, within
// an interval, by a commit of its offset and so by a flush, and an idle
// collector neither flushes nor syncs.
func (c *Collector) flush() error {
	var errs []error
	for _, o := range c.outputs {
		if err := o.out.Flush(); err != nil {
			o.fail(err)
			c.log.Warn("collector: output flush failed; offsets are not committed until it succeeds", "output", o.out.String(), "err", err)
			errs = append(errs, err)
			continue
		}
		o.ok()
	}
	return errors.Join(errs...)
}

func (c *Collector) afterCommit(cm core.Commit) {
	if cm.Err != nil {
		c.commitErrors.Add(1)
		return
	}
	c.commits.Add(1)
	c.commitSeconds.Observe(cm.Duration.Seconds())
}

func (o *outputState) fail(err error) {
	o.errors.Add(1)
	o.failing.Store(&err)
}

func (o *outputState) ok() {
	if o.failing.Load() != nil {
		o.failing.Store(nil)
	}
}

// handle is the subscriptions' handler: one message, in partition order.
func (c *Collector) handle(ctx context.Context, m *core.Message[[]byte]) error {
	rec := m.Record
	st := c.streamOf(rec.Topic)
	st.received.Add(1)

	// The view stays on the stack: the scan keeps no list of members.
	// The entry keeps of it only what Entry.Event needs.
	var v record.EventView
	if err := record.ScanEvent(rec.Value, &v); err != nil {
		return c.notLogEvent(ctx, m, st, strings.TrimPrefix(err.Error(), record.ErrNotLogEvent.Error()+": "))
	}
	if reason := c.filter(st, &v); reason >= 0 {
		c.dropped[reason].Add(1)
		return nil
	}
	data := v.Data
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		var line bytes.Buffer
		if err := json.Compact(&line, data); err != nil {
			return c.notLogEvent(ctx, m, st, "data: "+err.Error())
		}
		data = line.Bytes()
	}
	// Entries are pooled: passed to an interface method, one would
	// escape, and an allocation an event is what the pool saves.
	e := entries.Get().(*Entry)
	defer putEntry(e)
	*e = Entry{Stream: st.name, Record: rec, Data: data, Level: v.Level, schema: v.Schema, raw: v.Data}
	for _, o := range c.outputs {
		if err := c.write(ctx, o, e); err != nil {
			return err
		}
	}
	c.written.Add(1)
	return nil
}

// entries holds the Entries of handle; Output.Write keeps none.
var entries = sync.Pool{New: func() any { return new(Entry) }}

// putEntry returns e to entries, keeping nothing of its event alive.
func putEntry(e *Entry) {
	*e = Entry{}
	entries.Put(e)
}

// filter returns why the event is dropped, or -1.
func (c *Collector) filter(st *streamState, v *record.EventView) int {
	switch {
	case st.excluded:
		return dropStream
	case c.minLevel != nil && (v.Level == 0 || record.SlogLevel(v.Level) < c.minLevel.Level()):
		return dropLevel
	case c.services != nil && !c.services.match(v.Service):
		return dropService
	case c.loggers != nil && !c.loggers.match(v.Logger):
		return dropLogger
	case c.traceIDs != nil && !matchTraceID(c.traceIDs, v.TraceID):
		return dropTraceID
	}
	return -1
}

// matchTraceID reports whether id is one of ids (lowercase), in any case.
func matchTraceID(ids [][]byte, id []byte) bool {
	for _, want := range ids {
		if bytes.EqualFold(id, want) {
			return true
		}
	}
	return false
}

// write writes e to one output, retrying with backoff while it fails:
// an event is never skipped, and a failing output holds its partition
// back (and so the fetching) until it recovers or the stop's deadline
// cancels ctx.
func (c *Collector) write(ctx context.Context, o *outputState, e *Entry) error {
	backoff := 100 * time.Millisecond
	for {
		err := o.out.Write(e)
		if err == nil {
			o.written.Add(1)
			return nil
		}
		o.fail(err)
		c.log.Warn("collector: output write failed; retrying", "output", o.out.String(), "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("collector: %s: %w", o.out, err)
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// notLogEvent counts, reports and (when configured) dead-letters a
// message that is not a log event, and lets the collector go on.
func (c *Collector) notLogEvent(ctx context.Context, m *core.Message[[]byte], st *streamState, why string) error {
	rec := m.Record
	if c.opts.DeadLetterStream != "" {
		err := m.DeadLetter(ctx, c.opts.DeadLetterStream, "not a log event: "+why)
		if err != nil {
			return fmt.Errorf("dead-letter to %s: %w", c.opts.DeadLetterStream, err)
		}
		c.deadLettered.Add(1)
	}
	c.skipped.Add(1)
	c.warnSkipped(rec, why)
	return nil
}

// warnSkipped logs skipped messages, at most one line a second, so that
// a stream of garbage does not flood the collector's own log.
func (c *Collector) warnSkipped(rec *core.Record, why string) {
	c.warnMu.Lock()
	defer c.warnMu.Unlock()
	if time.Since(c.lastWarn) < time.Second {
		c.warnedSkips++
		return
	}
	args := []any{"stream", strings.TrimPrefix(rec.Topic, c.prefix), "partition", rec.Partition, "offset", rec.Offset, "why", why}
	if c.warnedSkips > 0 {
		args = append(args, "more_skipped_since_last_warning", c.warnedSkips)
	}
	if c.opts.DeadLetterStream != "" {
		args = append(args, "dead_letter_stream", c.opts.DeadLetterStream)
	}
	c.log.Warn("collector: message is not a log event; skipped", args...)
	c.lastWarn, c.warnedSkips = time.Now(), 0
}

// streamOf returns the state of topic's stream. Reading is lock-free:
// streams are few and the map is copied to add one.
func (c *Collector) streamOf(topic string) *streamState {
	if st := (*c.streams.Load())[topic]; st != nil {
		return st
	}
	c.streamsMu.Lock()
	defer c.streamsMu.Unlock()
	old := *c.streams.Load()
	if st := old[topic]; st != nil {
		return st
	}
	name := strings.TrimPrefix(topic, c.prefix)
	st := &streamState{name: name, excluded: !c.stream.match([]byte(name))}
	m := make(map[string]*streamState, len(old)+1)
	maps.Copy(m, old)
	m[topic] = st
	c.streams.Store(&m)
	return st
}

// eachStream calls f for every stream seen.
func (c *Collector) eachStream(f func(*streamState)) {
	for _, st := range *c.streams.Load() {
		f(st)
	}
}

// Stats returns the collector's counters.
func (c *Collector) Stats() Stats {
	s := Stats{
		Written:      c.written.Load(),
		Skipped:      c.skipped.Load(),
		DeadLettered: c.deadLettered.Load(),
		Commits:      c.commits.Load(),
		CommitErrors: c.commitErrors.Load(),
	}
	c.eachStream(func(st *streamState) { s.Received += st.received.Load() })
	for i := range c.dropped {
		s.Dropped += c.dropped[i].Load()
	}
	for _, o := range c.outputs {
		s.WriteErrors += o.errors.Load()
	}
	return s
}

// Healthy returns nil while Run is running and no subscription failed.
func (c *Collector) Healthy() error {
	if !c.running.Load() {
		if err := c.runErr.Load(); err != nil {
			return fmt.Errorf("collector stopped: %w", *err)
		}
		return errors.New("collector is not running")
	}
	return c.app.HealthCheck()
}

// Ready returns nil when the collector is healthy, every subscription
// has joined its group and matched a stream, and no output is failing.
func (c *Collector) Ready() error {
	if err := c.Healthy(); err != nil {
		return err
	}
	for _, s := range c.subs {
		if s.Partitions() == nil {
			return fmt.Errorf("waiting for streams matching %q to exist and for group %s to assign them", s.Pattern, s.Group)
		}
	}
	for _, o := range c.outputs {
		if err := o.failing.Load(); err != nil {
			return fmt.Errorf("output %s is failing: %w", o.out, *err)
		}
	}
	return nil
}
