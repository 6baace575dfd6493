package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Application is a kafkaesk application: the schemas and hooks registered
// on it or mounted from routers, one producer shared by every publishing
// goroutine, and the admin client that creates topics.
//
// New connects to nothing; the first Publish or Start does. An Application
// is safe for concurrent use. Close it to flush and release everything.
type Application struct {
	cfg       Config // with defaults applied; never changed after New
	reg       Router // the application's own registrations
	transport *kafka.Transport
	client    *kafka.Client
	topics    *topicManager
	producer  *producer

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
	transport, err := c.transport()
	if err != nil {
		return nil, err
	}
	a := &Application{cfg: c, transport: transport}
	a.client = &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: transport, Timeout: c.RequestTimeout}
	a.topics = newTopicManager(a.client, &a.cfg)
	if a.producer, err = newProducer(&a.cfg, transport); err != nil {
		return nil, err
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
	for _, s := range a.reg.Schemas() {
		for _, stream := range s.Streams {
			if err := a.topics.ensure(ctx, a.Topic(stream), s.Retention); err != nil {
				return err
			}
		}
	}
	a.started.Store(true)
	return nil
}

// EnsureStream creates the topic of stream if it does not exist, with the
// configured partitions and replication factor and the given retention
// (zero: the broker's default). An existing topic is left alone. Publish
// calls it for every new stream; it is exported for producers that build
// their own envelopes.
func (a *Application) EnsureStream(ctx context.Context, stream string, retention time.Duration) error {
	return a.topics.ensure(ctx, a.Topic(stream), retention)
}

// Flush blocks until every message published so far has been acknowledged
// or has failed, or ctx ends. It is safe to call concurrently with Publish;
// messages published while it waits are waited for too.
func (a *Application) Flush(ctx context.Context) error {
	return a.producer.flush(ctx)
}

// Close runs the stop hooks, flushes what is in flight (bounded by ctx),
// then closes the producer and the connections. Publishing fails with
// ErrClosed from the moment Close is called. A second Close returns nil.
func (a *Application) Close(ctx context.Context) error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if a.closed.Swap(true) {
		return nil
	}
	var errs []error
	_, onStop := a.reg.hooks()
	for _, h := range onStop {
		if err := h(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafkaesk: stop hook: %w", err))
		}
	}
	if err := a.producer.flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafkaesk: close: messages still in flight: %w", err))
	}
	if err := a.producer.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafkaesk: close producer: %w", err))
	}
	a.transport.CloseIdleConnections()
	return errors.Join(errs...)
}
