package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrTransactionAborted is wrapped by the error of a transaction that did
// not commit: none of its messages is seen by a read_committed consumer
// (SubscribeOptions.ReadCommitted, ReadOptions.ReadCommitted), and, in a
// transactional subscription, the offsets of its messages are not
// committed, so they are handled again.
var ErrTransactionAborted = errors.New("kafkaesk: transaction aborted")

// Tx publishes messages in a Kafka transaction: a read_committed consumer
// sees all of them once the transaction commits, and none if it aborts.
// A Tx is valid inside the function given to Application.Transact, or
// inside the handler call of a transactional subscription (Message.Tx);
// it is safe for concurrent use there. A handler's messages join the
// transaction when the call returns nil: those of a call that fails
// (to be retried, skipped or dead-lettered) never do.
type Tx struct {
	app  *Application
	prod txnProducer

	// In a handler call (staging), what it publishes waits here until
	// the call succeeds: a failed attempt's messages, retried or not,
	// never join the transaction.
	staging bool
	mu      sync.Mutex
	staged  []*Record
}

// Publish adds value, encoded and validated as Application.Publish does,
// to the transaction. It returns once the message is accepted; whether it
// is written is known when the transaction ends: a message that fails
// makes the transaction abort.
func (tx *Tx) Publish(ctx context.Context, stream string, value any, opts ...PublishOption) error {
	rec, err := tx.app.prepare(ctx, stream, value)
	if err != nil {
		return err
	}
	applyOptions(rec, opts)
	return tx.produce(ctx, rec)
}

// RawPublish adds value, already encoded, to the transaction, as
// Application.RawPublish sends it; see Publish.
func (tx *Tx) RawPublish(ctx context.Context, stream string, value []byte, opts ...PublishOption) error {
	if tx.app.closed.Load() {
		return ErrClosed
	}
	rec := &Record{Topic: tx.app.Topic(stream), Value: value}
	applyOptions(rec, opts)
	return tx.produce(ctx, rec)
}

// Flush sends the messages published so far in the transaction and
// waits until the brokers took them, or ctx ends: they are in their
// topics, seen by read_uncommitted consumers, and by read_committed
// ones only once the transaction commits. Ending the transaction
// flushes anyway. In a handler, the messages it published so far join
// the transaction at once, even should the call fail after.
func (tx *Tx) Flush(ctx context.Context) error {
	if err := tx.release(ctx); err != nil {
		return err
	}
	if err := tx.prod.flush(ctx); err != nil {
		return fmt.Errorf("kafkaesk: flush the transaction: %w", err)
	}
	return nil
}

// produce creates rec's topic if needed (topics are not created inside
// transactions) and hands rec to the transaction, with the trace context
// of ctx in its headers. Its send span, if any, ends with its outcome in
// the transaction, or with its failure here.
func (tx *Tx) produce(ctx context.Context, rec *Record) error {
	if traceable(ctx) {
		tx.app.traceSend(ctx, rec)
	}
	rctx, cancel := tx.app.requestContext(ctx)
	defer cancel()
	if err := tx.app.topics.ensure(rctx, rec.Topic, rec.produce.retention); err != nil {
		err = &PublishError{Topic: rec.Topic, Err: err}
		endRecordSpan(rec, err)
		return err
	}
	if tx.staging {
		tx.mu.Lock()
		tx.staged = append(tx.staged, rec)
		tx.mu.Unlock()
		return nil
	}
	if err := tx.prod.produce(ctx, rec); err != nil {
		err = &PublishError{Topic: rec.Topic, Err: err}
		endRecordSpan(rec, err)
		return err
	}
	return nil
}

// release hands the staged messages to the transaction: the handler
// call succeeded.
func (tx *Tx) release(ctx context.Context) error {
	tx.mu.Lock()
	staged := tx.staged
	tx.staged = nil
	tx.mu.Unlock()
	for i, rec := range staged {
		if err := tx.prod.produce(ctx, rec); err != nil {
			err = &PublishError{Topic: rec.Topic, Err: err}
			for _, r := range staged[i:] {
				endRecordSpan(r, err)
			}
			return err
		}
	}
	return nil
}

// errCallFailed ends the send spans of what a failed handler call
// published in its transaction: never sent.
var errCallFailed = errors.New("kafkaesk: not sent: the handler call failed, so its messages do not join the transaction")

// discard drops the staged messages: the handler call failed. Their send
// spans end with errCallFailed.
func (tx *Tx) discard() {
	tx.mu.Lock()
	staged := tx.staged
	tx.staged = nil
	tx.mu.Unlock()
	for _, rec := range staged {
		endRecordSpan(rec, errCallFailed)
	}
}

// Transact runs fn in a transaction of the application's transactional
// producer (Config.TransactionalID; Client franz-go): when fn returns nil,
// the messages fn published through tx are committed together, else the
// transaction is aborted and fn's error returned. A commit that fails
// aborts, and the error wraps ErrTransactionAborted and the cause.
//
// Transactions of one application run one at a time: Transact waits for
// the one running. The end of the transaction (sending what is buffered,
// then committing) is bounded by Config.DeliveryTimeout, not by ctx:
// cutting it short would leave the producer in an unknown state. With
// kafka-go, or without a TransactionalID, Transact returns an error
// saying so and runs nothing.
func (a *Application) Transact(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	if a.closed.Load() {
		return ErrClosed
	}
	t, err := a.txns.get(a)
	if err != nil {
		return err
	}
	a.txns.run.Lock()
	defer a.txns.run.Unlock()
	if err := t.begin(); err != nil {
		return fmt.Errorf("%w: begin: %w", ErrTransactionAborted, err)
	}
	ferr := fn(ctx, &Tx{app: a, prod: t})
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.DeliveryTimeout)
	defer cancel()
	eerr := t.end(ectx, ferr == nil)
	switch {
	case ferr != nil && eerr != nil:
		return errors.Join(ferr, fmt.Errorf("%w: %w", ErrTransactionAborted, eerr))
	case ferr != nil:
		return ferr
	case eerr != nil:
		return fmt.Errorf("%w: %w", ErrTransactionAborted, eerr)
	}
	return nil
}

// transactions holds the application's transactional producer, made at
// the first Transact and closed by Close.
type transactions struct {
	run sync.Mutex // held while a transaction runs

	mu     sync.Mutex
	t      transactor
	closed bool
}

// get returns the transactional producer, making it at the first call.
func (ts *transactions) get(a *Application) (transactor, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return nil, ErrClosed
	}
	if ts.t == nil {
		if a.cfg.TransactionalID == "" {
			return nil, errors.New("kafkaesk: Transact needs Config.TransactionalID (the transactional_id setting)")
		}
		t, err := a.driver.newTransactor(a.cfg.TransactionalID)
		if err != nil {
			return nil, fmt.Errorf("kafkaesk: Transact: %w", err)
		}
		ts.t = t
	}
	return ts.t, nil
}

// close closes the producer, if made; a transaction running is aborted.
// Calling it again does nothing.
func (ts *transactions) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	if ts.t != nil {
		ts.t.close()
		ts.t = nil
	}
}

// errNoTransactions is the error of what needs transactions on a client
// without them.
func errNoTransactions(client string) error {
	return fmt.Errorf("transactions need Client %s: %s has no transactional producer", ClientFranzGo, client)
}
