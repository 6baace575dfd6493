package core

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"
)

// ErrSkip, returned (or wrapped) by a handler, skips the message: it is
// counted and logged, committed as handled, and the subscription goes on.
// It is kafkaesk's UnhandledMessage.
var ErrSkip = errors.New("kafkaesk: message skipped")

// Handler handles one message of a subscription. What msg.Data holds
// depends on T, as the first parameter of a kafkaesk handler does:
//
//   - a struct type (or map): the envelope's data decoded into T, and
//     validated against T's schema when T is registered;
//   - [Envelope]: the whole envelope, schema and raw data;
//   - []byte: the raw record value, envelope or not;
//   - [Record]: the Kafka record itself.
//
// A message that cannot be decoded into T (bad JSON, no data, schema
// validation fails) is skipped, counted and logged; the handler never sees
// it. The handler's error goes to the subscription's [ErrorPolicy]; a panic
// is recovered into an error. ctx ends at the subscription's Timeout, if
// one is set, and when a graceful stop's deadline passes.
type Handler[T any] func(ctx context.Context, msg *Message[T]) error

// Message is what a handler receives.
type Message[T any] struct {
	// Data is the decoded message; see Handler for what T can be.
	Data T
	// Schema is the envelope's schema key, "Foo:1", or "" when the value
	// is not an envelope (handlers of []byte and Record).
	Schema string
	// Record is the Kafka record.
	Record *Record
	// App is the application the subscription runs in.
	App *Application
	// Subscription is the subscription handling the message.
	Subscription *Subscription
	// Tx, in a transactional subscription (SubscribeOptions.Transactional),
	// is the transaction that commits this message's offset: what the
	// handler publishes through it is written exactly once with it. Nil
	// otherwise.
	Tx *Tx

	commit func(ctx context.Context) error
}

// Commit commits this message's offset (everything up to and including
// it on its partition) at once. It is for subscriptions with auto-commit
// off (Config.DisableAutoCommit); with auto-commit on, offsets of handled
// messages are committed anyway.
func (m *Message[T]) Commit(ctx context.Context) error { return m.commit(ctx) }

// Forward republishes the consumed record, value and key unchanged, to
// another stream, with its headers followed by extra ones, and waits for
// the acknowledgement: kafkaesk's subscriber.publish.
func (m *Message[T]) Forward(ctx context.Context, stream string, extra ...Header) error {
	headers := append(append([]Header(nil), m.Record.Headers...), extra...)
	if err := m.App.EnsureStream(ctx, stream, 0); err != nil {
		return err
	}
	return m.App.RawPublish(ctx, stream, m.Record.Value, Key(m.Record.Key), Headers(headers...))
}

// DeadLetter republishes the consumed record, value and key unchanged,
// to stream with DeadLetterHeaders naming why, the subscription's group
// and where the record was read, and waits for the acknowledgement: what
// ActionDeadLetter does, for a handler that decides by itself.
func (m *Message[T]) DeadLetter(ctx context.Context, stream, why string) error {
	return m.App.deadLetter(ctx, stream, m.Record, m.Subscription.Group, why)
}

// Publish publishes value, as Application.Publish does, carrying the
// consumed record's headers along (before any given in opts), except its
// trace context when ctx has one: the new message then carries ctx's
// (the handler's, in the consumed record's trace), so that its consumers'
// spans follow this handler's rather than the consumed record's
// producer's. Forward and DeadLetter keep the record's own: it is the
// same message.
func (m *Message[T]) Publish(ctx context.Context, stream string, value any, opts ...PublishOption) error {
	all := make([]PublishOption, 0, len(opts)+1)
	all = append(all, Headers(m.App.withoutTraceHeaders(ctx, m.Record.Headers)...))
	return m.App.Publish(ctx, stream, value, append(all, opts...)...)
}

// SubscribeOptions configures a subscription. The zero value handles one
// message at a time, with no timeout, and fails on the first handler error
// as kafkaesk does.
type SubscribeOptions struct {
	// Concurrency is how many messages are handled at once, across
	// partitions; within a partition, messages are handled one at a time,
	// in offset order. Default: 1.
	Concurrency int
	// Timeout bounds each handler call through its context. Default: none.
	Timeout time.Duration
	// OnError says what a handler error leads to. Default: fail.
	OnError ErrorPolicy
	// DiscoveryInterval is how often topics are listed to find new ones
	// matching the pattern. Default: Config.MetadataMaxAge (5s).
	DiscoveryInterval time.Duration
	// CommitInterval is how often finished offsets are committed, at
	// least 1ms, as Config.CommitInterval. Default: Config.CommitInterval
	// (5s). A consumer that makes its output durable in BeforeCommit sets
	// it to how much it may redo after a crash.
	CommitInterval time.Duration
	// StartFromLatest starts a group that has no committed offset at the end
	// of each partition. Default: from the earliest offset, as kafkaesk.
	StartFromLatest bool
	// BeforeCommit, when set, is called before each automatic commit (on
	// the interval, at a rebalance and at a graceful stop) with the offsets
	// about to be committed already fixed: everything it makes durable
	// covers them. A consumer that buffers what its handler wrote flushes
	// here, so that nothing is committed before it is written. When it
	// fails, the commit is skipped and tried again later. It runs on the
	// subscription's own goroutine, concurrently with handlers, bounded by
	// Config.RequestTimeout through ctx.
	BeforeCommit func(ctx context.Context) error
	// AfterCommit, when set, is called after each automatic commit with
	// what was committed, how long it took and its error.
	AfterCommit func(Commit)

	// ReadCommitted reads with the read_committed isolation level: the
	// messages of open transactions are held back until they commit, and
	// those of aborted ones are never handled. Needs Client franz-go:
	// kafka-go does not drop aborted records. Default: read_uncommitted,
	// as kafkaesk (aiokafka's default).
	ReadCommitted bool
	// Transactional makes the subscription exactly once from topic to
	// topic: what a handler publishes through Message.Tx, and the offsets
	// of the messages handled, are committed in one transaction, read
	// committed. The subscription polls at most 500 messages, handles
	// them, and commits its transaction before it polls again; a handler
	// call's messages join the transaction only when it returns nil.
	// When a transaction aborts (a publish failed, the group rebalanced,
	// a handler failed the subscription, or the subscription stops: a
	// stop aborts the open transaction), its messages are handled again,
	// by this member or the next owner, and what they published before is
	// never seen by read_committed consumers. Needs Client franz-go and
	// Config.TransactionalID (the subscription's transactional id is it
	// followed by "." and the group). Commits are the transactions':
	// CommitInterval, BeforeCommit and AfterCommit are not used,
	// Message.Commit returns an error, and Subscription.Partitions'
	// Committed stays at the offset committed when the partition was
	// assigned. Dead letters and Application.Publish are outside the
	// transaction. Default: false.
	Transactional bool
}

// Commit describes one automatic commit, for SubscribeOptions.AfterCommit.
type Commit struct {
	Reason   string                   // "interval", "generation end"
	Offsets  map[string]map[int]int64 // topic → partition → next offset
	Duration time.Duration            // BeforeCommit and the commit request
	Err      error
}

// ErrorPolicy says what a handler error leads to. The zero value fails:
// the subscription stops with the error and nothing past the failed
// message is committed, as kafkaesk does.
type ErrorPolicy struct {
	// Retries is how many more times a failed message is handled before
	// Then applies, or RetryForever. Default: 0.
	Retries int
	// Backoff before the first retry, doubled on each one up to MaxBackoff.
	// Default: 100ms, and 10s.
	Backoff, MaxBackoff time.Duration
	// Then is what happens when the last try fails. Default: ActionFail.
	Then Action
	// DeadLetterStream receives the failed record for ActionDeadLetter.
	DeadLetterStream string
}

// RetryForever, as ErrorPolicy.Retries, handles a failed message again
// and again, with backoff, until it succeeds or the subscription stops:
// the message is never skipped, and its partition waits meanwhile.
const RetryForever = -1

// Action is what an ErrorPolicy finally does with a failed message.
type Action int

const (
	// ActionFail stops the subscription with the error. The default.
	ActionFail Action = iota
	// ActionSkip logs the error, counts the message as failed and goes on.
	ActionSkip
	// ActionDeadLetter publishes the record, with headers naming the error,
	// group and original topic, to the DeadLetterStream, then goes on.
	ActionDeadLetter
)

// Headers added to dead-lettered records, after the record's own.
const (
	HeaderError     = "kafkaesk-error"
	HeaderGroup     = "kafkaesk-group"
	HeaderTopic     = "kafkaesk-topic"
	HeaderPartition = "kafkaesk-partition"
	HeaderOffset    = "kafkaesk-offset"
)

// Subscription is a registered subscription. Its counters are safe to
// read at any time.
type Subscription struct {
	// Group is the consumer group.
	Group string
	// Pattern is the stream pattern, or "" for a list of streams.
	Pattern string
	// Streams is the list of streams, or nil for a pattern.
	Streams []string

	opts    SubscribeOptions
	msgType reflect.Type // the handler's T
	handle  func(ctx context.Context, s *Subscription, app *Application, rec *Record, commit func(context.Context) error, tx *Tx) error
	running atomic.Bool
	current atomic.Pointer[offsets] // the generation being consumed

	handled, skipped, failed, retried, deadLettered atomic.Int64
}

// SubscriptionStats counts what a subscription did with its messages.
type SubscriptionStats struct {
	Handled      int64 // the handler returned nil
	Skipped      int64 // undecodable, or the handler returned ErrSkip
	Failed       int64 // the handler failed and the policy skipped it
	Retried      int64 // handler calls retried
	DeadLettered int64 // published to the dead-letter stream
}

// clone returns the same subscription with its own state and counters.
func (s *Subscription) clone() *Subscription {
	return &Subscription{Group: s.Group, Pattern: s.Pattern, Streams: s.Streams, opts: s.opts, msgType: s.msgType, handle: s.handle}
}

// MessageType returns the Go type its handler takes: a registered
// schema's type, or []byte, Envelope, map[string]any or an interface for
// any message.
func (s *Subscription) MessageType() reflect.Type { return s.msgType }

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats {
	return SubscriptionStats{
		Handled:      s.handled.Load(),
		Skipped:      s.skipped.Load(),
		Failed:       s.failed.Load(),
		Retried:      s.retried.Load(),
		DeadLettered: s.deadLettered.Load(),
	}
}

// PartitionState is where a subscription stands on one assigned
// partition.
type PartitionState struct {
	Topic     string
	Partition int
	// Committed is the last committed offset (the next to read), or -1.
	Committed int64
	// Finished is one past the last message handled, or -1 before any.
	Finished int64
	// HighWaterMark is the partition's end offset as of the last fetch,
	// or -1 before any.
	HighWaterMark int64
}

// Lag is how many messages past the last handled one the partition holds,
// as of the last fetch; 0 before any fetch.
func (p PartitionState) Lag() int64 {
	if p.HighWaterMark < 0 || p.Finished < 0 {
		return 0
	}
	return max(p.HighWaterMark-p.Finished, 0)
}

// Partitions returns the partitions assigned to this member in the
// current generation, sorted by topic and partition; nil when not
// consuming.
func (s *Subscription) Partitions() []PartitionState {
	o := s.current.Load()
	if o == nil {
		return nil
	}
	return o.states()
}

// Running reports whether the subscription is consuming.
func (s *Subscription) Running() bool { return s.running.Load() }

func (s *Subscription) String() string {
	if s.Pattern != "" {
		return fmt.Sprintf("subscription %q (group %s)", s.Pattern, s.Group)
	}
	return fmt.Sprintf("subscription %v (group %s)", s.Streams, s.Group)
}

// Subscribe registers handler for the streams matching pattern, in
// consumer group group, on r (a *Router or *Application). A pattern holding
// "*" matches fnmatch-style ("orders.*" reads "orders.eu" and
// "orders.eu.refunds"); any other pattern is one exact stream. The topic
// prefix is prepended. Topics matching later are picked up within
// DiscoveryInterval; subscribers never create topics. The subscription
// runs in Application.Run.
func Subscribe[T any](r Registrar, pattern, group string, handler Handler[T], opts *SubscribeOptions) (*Subscription, error) {
	if pattern == "" {
		return nil, errors.New("kafkaesk: Subscribe: the pattern is empty")
	}
	return subscribe(r, &Subscription{Group: group, Pattern: pattern}, handler, opts)
}

// SubscribeStreams registers handler for an exact list of streams, as
// kafkaesk's subscribe_to_topics.
func SubscribeStreams[T any](r Registrar, streams []string, group string, handler Handler[T], opts *SubscribeOptions) (*Subscription, error) {
	if len(streams) == 0 {
		return nil, errors.New("kafkaesk: SubscribeStreams: no streams given")
	}
	return subscribe(r, &Subscription{Group: group, Streams: append([]string(nil), streams...)}, handler, opts)
}

func subscribe[T any](r Registrar, s *Subscription, handler Handler[T], opts *SubscribeOptions) (*Subscription, error) {
	if s.Group == "" {
		return nil, fmt.Errorf("kafkaesk: %s: a consumer group is required", s)
	}
	if handler == nil {
		return nil, fmt.Errorf("kafkaesk: %s: the handler is nil", s)
	}
	if opts != nil {
		s.opts = *opts
	}
	if err := s.opts.validate(); err != nil {
		return nil, fmt.Errorf("kafkaesk: %s: %w", s, err)
	}
	s.msgType = reflect.TypeFor[T]()
	if s.opts.Concurrency == 0 {
		s.opts.Concurrency = 1
	}
	dec, err := newDecoder[T](r.registry())
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: %s: %w", s, err)
	}
	s.handle = func(ctx context.Context, s *Subscription, app *Application, rec *Record, commit func(context.Context) error, tx *Tx) error {
		msg := &Message[T]{Record: rec, App: app, Subscription: s, Tx: tx, commit: commit}
		if err := dec(app, rec, msg); err != nil {
			return &decodeError{err: err}
		}
		return handler(ctx, msg)
	}
	r.registry().addSubscription(s)
	return s, nil
}

// minCommitInterval is the least CommitInterval, as Config's: a shorter
// one would commit in a busy loop.
const minCommitInterval = time.Millisecond

func (o *SubscribeOptions) validate() error {
	var errs []error
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("Concurrency %d is negative", o.Concurrency))
	}
	if o.CommitInterval < 0 {
		errs = append(errs, fmt.Errorf("CommitInterval %v is negative", o.CommitInterval))
	} else if o.CommitInterval > 0 && o.CommitInterval < minCommitInterval {
		errs = append(errs, fmt.Errorf("CommitInterval %v is less than allowed %v", o.CommitInterval, minCommitInterval))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v is negative", o.Timeout))
	}
	if o.OnError.Retries < RetryForever {
		errs = append(errs, fmt.Errorf("OnError.Retries %d is negative (RetryForever is %d)", o.OnError.Retries, RetryForever))
	}
	switch o.OnError.Then {
	case ActionFail, ActionSkip:
	case ActionDeadLetter:
		if o.OnError.DeadLetterStream == "" {
			errs = append(errs, errors.New("OnError.Then is ActionDeadLetter but DeadLetterStream is empty"))
		}
	default:
		errs = append(errs, fmt.Errorf("OnError.Then %d is not an Action", o.OnError.Then))
	}
	return errors.Join(errs...)
}

// decodeError marks a message that could not be decoded for the handler.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }
