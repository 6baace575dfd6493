package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// franzTransactor is Application.Transact's producer: a kgo client with
// a transactional id, and the producer's options otherwise.
type franzTransactor struct {
	cl     *kgo.Client
	failed franzTxnFailure

	mu     sync.Mutex // held around ending a transaction, and by close
	closed bool
}

// newTransactor returns a transactional producer with id id. It connects
// at the first transaction, whose begin fences any producer with the same
// id (an earlier run of the application) and aborts what it left open.
func (d *franzDriver) newTransactor(id string) (transactor, error) {
	opts, err := d.produceOptions()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID(id))...)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: franz-go transactional producer %q for %s: %w", id, d.brokers(), err)
	}
	return &franzTransactor{cl: cl}, nil
}

func (t *franzTransactor) begin() error {
	t.failed.reset()
	return t.cl.BeginTransaction()
}

func (t *franzTransactor) produce(ctx context.Context, rec *Record) error {
	return franzProduceInTxn(ctx, t.cl, rec, &t.failed)
}

func (t *franzTransactor) flush(ctx context.Context) error { return t.cl.Flush(ctx) }

func (t *franzTransactor) end(ctx context.Context, commit bool) error {
	if commit {
		if err := t.cl.Flush(ctx); err != nil {
			return errors.Join(fmt.Errorf("sending its messages: %w", err), t.endLocked(ctx, false))
		}
		if err := t.failed.take(); err != nil {
			return errors.Join(fmt.Errorf("a message failed: %w", err), t.endLocked(ctx, false))
		}
	}
	return t.endLocked(ctx, commit)
}

// endLocked commits or aborts the open transaction, unless close came
// first (it aborted it: an error). A commit that fails is aborted (kgo
// leaves the transaction open then), so that the next one can begin.
func (t *franzTransactor) endLocked(ctx context.Context, commit bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if !commit {
		return t.abort(ctx)
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return errors.Join(fmt.Errorf("commit: %w", err), t.abort(ctx))
	}
	return nil
}

// abort drops what the open transaction still buffers and aborts it.
func (t *franzTransactor) abort(ctx context.Context) error {
	if err := t.cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}

// close aborts an open transaction, within about a second, and closes
// the client.
func (t *franzTransactor) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = t.abort(ctx) // nothing open is not an error; an unreachable broker aborts it at its timeout
	t.cl.Close()
}

// franzTxnFailure keeps the first failure of a record produced in the
// open transaction: the transaction must not commit.
type franzTxnFailure struct {
	mu  sync.Mutex
	err error
}

func (f *franzTxnFailure) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// take returns the failure and forgets it.
func (f *franzTxnFailure) take() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.err
	f.err = nil
	return err
}

func (f *franzTxnFailure) reset() { _ = f.take() }

// franzProduceInTxn hands rec to cl's open transaction; a failure goes to
// failed. The record lives until the transaction ends, not ctx: a
// handler's context ends when it returns, before its records are sent.
func franzProduceInTxn(ctx context.Context, cl *kgo.Client, rec *Record, failed *franzTxnFailure) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl.Produce(context.Background(), kgoRecordOf(rec), func(kr *kgo.Record, err error) {
		if err != nil {
			failed.set(fmt.Errorf("topic %q: %w", kr.Topic, err))
		} else {
			rec.Partition, rec.Offset = int(kr.Partition), kr.Offset
		}
		endRecordSpan(rec, err)
	})
	return nil
}

// franzTxnMaxRecords bounds the records of one transaction of a
// transactional member: what a kill makes it handle again, and how long
// its output waits for read_committed consumers.
const franzTxnMaxRecords = 500

// franzTxnMember is the transactional part of a franzMember (groupSpec
// transactionalID): its client is a kgo GroupTransactSession, which
// commits the offsets of what was polled in each transaction, and aborts
// a transaction the group rebalanced under.
//
// One transaction per poll (of at most franzTxnMaxRecords records):
// runTxn polls, begins, hands the records out, waits until each one's
// handler is done (its partition's fetcher was asked for the next one),
// and ends the transaction, committing only when every record polled was
// handled; then it lets the group rebalance, and polls again. An aborted
// transaction rewinds the client to the committed offsets, so its
// records are fetched and handled again.
type franzTxnMember struct {
	sess   *kgo.GroupTransactSession // set by runTxn before any record is handed out
	failed franzTxnFailure
	idle   chan struct{} // cap 1: a token when a fetcher may have become idle
}

// txn returns the member's transactional producer; nil unless the
// spec has a transactionalID.
func (m *franzMember) txn() txnProducer {
	if m.spec.transactionalID == "" {
		return nil
	}
	return m
}

// produce hands rec to the open transaction.
func (m *franzMember) produce(ctx context.Context, rec *Record) error {
	return franzProduceInTxn(ctx, m.tx.sess.Client(), rec, &m.tx.failed)
}

// flush sends what the open transaction holds.
func (m *franzMember) flush(ctx context.Context) error { return m.tx.sess.Client().Flush(ctx) }

// runTxn is run for a transactional member.
func (m *franzMember) runTxn(ctx context.Context) error {
	s, err := kgo.NewGroupTransactSession(m.opts...)
	if err != nil {
		return fmt.Errorf("group %s: transactional id %q: %w", m.spec.group, m.spec.transactionalID, err)
	}
	m.tx.sess = s
	m.cl.Store(s.Client())
	var runErr error
	for {
		fs := s.PollRecords(ctx, franzTxnMaxRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		if err := s.Begin(); err != nil {
			runErr = fmt.Errorf("group %s: begin a transaction: %w", m.spec.group, err)
			break
		}
		m.tx.failed.reset()
		m.dispatch(fs)
		handled := m.awaitHandled(ctx)
		if err := m.endTxn(handled); err != nil {
			runErr = err
			break
		}
		s.AllowRebalance()
	}
	s.CloseAllowingRebalance()
	m.cl.Store(nil)
	if left := m.takeAll(); len(left.tps) > 0 {
		m.revoke(left, true, false)
	}
	return runErr
}

// endTxn ends the open transaction: it commits when every record handed
// out was handled and none of the records produced failed, else it
// aborts. An error from kgo (the transactional id was fenced by another
// producer, the client retried past its limit) ends the membership: the
// client cannot go on.
func (m *franzMember) endTxn(handled bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.d.cfg.DeliveryTimeout)
	defer cancel()
	commit := handled
	if commit {
		// Every publish's outcome is known before deciding: End would
		// flush, but only after the decision.
		if err := m.tx.sess.Client().Flush(ctx); err != nil {
			commit = false
			m.spec.log.Warn("kafkaesk: the transaction's messages could not be sent in time; aborting it: its messages will be handled again", "err", err)
		}
	}
	if err := m.tx.failed.take(); err != nil && commit {
		commit = false
		m.spec.log.Warn("kafkaesk: a message published in the transaction failed; aborting it: its messages will be handled again", "err", err)
	}
	committed, err := m.tx.sess.End(ctx, kgo.TransactionEndTry(commit))
	if err != nil {
		return fmt.Errorf("group %s: end the transaction: %w", m.spec.group, err)
	}
	if commit && !committed {
		m.spec.log.Warn("kafkaesk: transaction aborted (the group rebalanced, or its offsets could not be committed); its messages will be handled again")
	}
	return nil
}

// awaitHandled waits until every fetcher the member owns is idle: what
// it was pushed was handed out, and its handler is done. It returns
// true then, unless a fetcher dropped records unhandled (its partition's
// goroutine ended without finishing them: a handler failure or a stop).
// When ctx ends first, it stops the fetchers handing out more, waits for
// the handlers running, and returns false: what is left is not handled.
// The transaction must abort when it returns false.
func (m *franzMember) awaitHandled(ctx context.Context) bool {
	for !m.allIdle(false) {
		select {
		case <-m.tx.idle:
		case <-ctx.Done():
			m.mu.Lock()
			for _, f := range m.owned {
				f.hold()
			}
			m.mu.Unlock()
			for !m.allIdle(true) {
				<-m.tx.idle
			}
			return false
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.owned {
		if f.abandoned.Load() {
			return false
		}
	}
	return true
}

// allIdle reports whether every owned fetcher is idle; with heldOnly,
// whether none has a record handed out whose handler runs. pending is
// read before handling, which next sets before it lowers pending: a
// record being handed out is seen in one or the other.
func (m *franzMember) allIdle(heldOnly bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.owned {
		closed := f.closed.Load()
		pending := f.pending.Load() > 0 && !closed
		if f.handling.Load() || (!heldOnly && pending) {
			return false
		}
	}
	return true
}

// wakeIdle is the fetchers' hook: one may have become idle.
func (m *franzMember) wakeIdle() {
	select {
	case m.tx.idle <- struct{}{}:
	default:
	}
}
