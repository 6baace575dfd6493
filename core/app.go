package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Application is a kafkaesk application: the schemas and hooks registered
// on it or mounted from routers, one producer shared by every publishing
// goroutine, and the admin client that creates topics.
//
// New connects to nothing; the first Publish or Start does. It starts the
// producer's goroutine, which Close ends. An Application is safe for
// concurrent use. Close it to deliver what is buffered and release
// everything.
type Application struct {
	cfg      Config // with defaults applied; never changed after New
	reg      Router // the application's own registrations
	driver   driver // the Kafka client, by Config.Client
	topics   *topicManager
	producer *producer
	doctor   *doctor         // tells misconfigured connections from brokers away
	metrics  *metrics        // nil without Config.Metrics
	txns     transactions    // the transactional producer of Transact
	spare    chan *[]*Record // pointer slices of batch hand-overs, for the next ones
	tracing  tracing         // the tracer of its spans, found when first needed

	adHoc sync.Map // reflect.Type → *Schema for unregistered types

	startMu sync.Mutex  // serialises Start
	started atomic.Bool // Start succeeded; read on every Publish

	running atomic.Bool // Run is running

	closeMu sync.Mutex  // serialises Close
	closed  atomic.Bool // Close was called; producing methods fail
}

// New returns an Application for cfg. It validates cfg and reports every
// problem at once, naming each field; it does not connect to the brokers.
func New(cfg Config) (*Application, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	a := &Application{cfg: c, spare: make(chan *[]*Record, spareRecords)}
	a.doctor = newDoctor(&a.cfg)
	var err error
	if a.metrics, err = newMetrics(c.Metrics); err != nil {
		return nil, fmt.Errorf("kafkaesk: Config.Metrics: %w", err)
	}
	if a.driver, err = newDriver(&a.cfg, a.doctor); err != nil {
		return nil, err
	}
	a.topics = newTopicManager(a.driver, &a.cfg, a.metrics)
	start := time.Now()
	a.producer, err = newProducer(&a.cfg, a.driver, a.topics, a.metrics, a.doctor)
	a.metrics.action("producer_start", start, err)
	if err != nil {
		a.driver.close()
		return nil, err
	}
	if c.Metrics != nil {
		if err := scraped.Add(c.Metrics, a); err != nil {
			_ = a.producer.close(context.Background())
			a.driver.close()
			return nil, fmt.Errorf("kafkaesk: Config.Metrics: %w", err)
		}
	}
	return a, nil
}

func (a *Application) registry() *Router { return &a.reg }

// Config returns the application's configuration with defaults applied.
func (a *Application) Config() Config {
	c := a.cfg
	c.Brokers = slices.Clone(c.Brokers)
	return c
}

// Topic returns the topic name of a stream: the topic prefix followed by
// the stream id.
func (a *Application) Topic(stream string) string { return a.cfg.TopicPrefix + stream }

// Mount merges a router's schemas, subscriptions and hooks into the
// application. The application gets its own copy of each subscription, so
// that a router can be mounted into several applications: read its state
// and counters from Application.Subscriptions. A schema
// that conflicts with one already registered is a *SchemaConflictError,
// and nothing of the router is merged.
func (a *Application) Mount(r *Router) error {
	return a.reg.merge(r)
}

// Subscriptions returns the application's subscriptions in the order added.
func (a *Application) Subscriptions() []*Subscription { return a.reg.Subscriptions() }

// Schemas returns the application's registered schemas ordered by key.
func (a *Application) Schemas() []*Schema { return a.reg.Schemas() }

// OnStart adds a hook run by Start; see [Router.OnStart].
func (a *Application) OnStart(h Hook) { a.reg.OnStart(h) }

// OnStop adds a hook run by Close; see [Router.OnStop].
func (a *Application) OnStop(h Hook) { a.reg.OnStop(h) }

// Start runs the start hooks and creates the streams of every registered
// schema that names some, with that schema's retention. It is called by
// the first Publish if the program has not called it; once it has
// succeeded, later calls do nothing. A failed Start may be retried.
func (a *Application) Start(ctx context.Context) error {
	if a.started.Load() {
		return nil
	}
	a.startMu.Lock()
	defer a.startMu.Unlock()
	if a.started.Load() {
		return nil
	}
	if a.closed.Load() {
		return ErrClosed
	}
	onStart, _ := a.reg.hooks()
	for _, h := range onStart {
		if err := h(ctx); err != nil {
			return fmt.Errorf("kafkaesk: start hook: %w", err)
		}
	}
	start := time.Now()
	for _, s := range a.reg.Schemas() {
		for _, stream := range s.Streams {
			if err := a.topics.ensure(ctx, a.Topic(stream), s.Retention); err != nil {
				a.metrics.action("sync_admin_connect", start, err)
				return err
			}
		}
	}
	a.metrics.action("sync_admin_connect", start, nil)
	a.started.Store(true)
	return nil
}

// EnsureStream creates the topic of stream if it does not exist, with the
// configured partitions and replication factor and the given retention
// (zero: the broker's default). An existing topic is left alone. The
// producer creates the topic of every stream it is first handed anyway
// (with the schema's retention, for Publish): EnsureStream is the
// explicit admin call, for a topic wanted before anything is published.
func (a *Application) EnsureStream(ctx context.Context, stream string, retention time.Duration) error {
	return a.topics.ensure(ctx, a.Topic(stream), retention)
}

// Flush blocks until every message accepted before the call has been
// acknowledged or has failed for good, and its callback has returned, or
// ctx ends. Messages published while it waits are not waited for, so a
// Flush ends even while other goroutines keep publishing.
func (a *Application) Flush(ctx context.Context) error {
	start := time.Now()
	err := a.producer.flush(ctx)
	a.metrics.action("producer_flush", start, err)
	if err != nil {
		return fmt.Errorf("kafkaesk: flush: %w", err)
	}
	return nil
}

// Close runs the stop hooks, then delivers what the producer holds,
// retrying as usual, until everything is settled or ctx ends. When ctx
// ends first, every message left is reported (through its callback, and
// counted in ProducerStats) as failed when no request ever carried it,
// and with ErrOutcomeUnknown when one did: the requests in flight are cut
// off rather than waited for. Then the connections are closed; every
// goroutine of the application has ended when Close returns. Publishing
// fails with ErrClosed from the moment Close is called. A second Close
// returns nil.
func (a *Application) Close(ctx context.Context) error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if a.closed.Swap(true) {
		return nil
	}
	a.doctor.close() // no probe outlives Close, nor starts because Close cuts connections
	var errs []error
	_, onStop := a.reg.hooks()
	for _, h := range onStop {
		if err := h(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafkaesk: stop hook: %w", err))
		}
	}
	start := time.Now()
	err := a.producer.close(ctx)
	a.metrics.action("producer_stop", start, err)
	if err != nil {
		errs = append(errs, fmt.Errorf("kafkaesk: close: %w", err))
	}
	a.txns.close()
	a.driver.close()
	if a.cfg.Metrics != nil {
		scraped.Remove(a.cfg.Metrics, a)
	}
	return errors.Join(errs...)
}
