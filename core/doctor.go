package core

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// doctor tells a misconfigured connection from a broker that is away.
// The clients retry every failure to connect, which is right while a
// broker restarts and wrong when the password is: the retries would go
// on until DeliveryTimeout and hide the cause. When a client fails to
// reach the cluster, the doctor probes it as Ping does, in the
// background and at most once a probeInterval. While its verdict holds
// (the last probes found the settings at fault, no connection has
// succeeded since, and it is less than verdictTTL old), the producer
// fails what it would have retried with the probe's error, franz-go's
// buffered records and admin requests are aborted, and a subscription
// waiting for topics fails.
//
// A verdict resting on a closed connection alone (a broker hanging up
// after ApiVersions, or during SASL) is what a broker going down also
// does: it needs two probes in a row. One resting on the broker's word
// (SASL_AUTHENTICATION_FAILED) or on TLS verification needs one.
//
// The probe goroutine is the doctor's: close ends it. Its methods are
// safe for concurrent use and never block, but for diagnose.
type doctor struct {
	cfg *Config

	mu        sync.Mutex
	verdict   error     // the misconfiguration found; nil when none holds
	verdictAt time.Time // when it was found
	tentative error     // a verdict on a closed connection, to be confirmed by the next probe
	probedAt  time.Time // when the last probe started
	probing   bool
	probed    chan struct{} // closed when the running probe ends
	closed    bool
	listeners []func(error) // told of each verdict found
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc // ends a running probe at close

	// next is canceled, with the verdict as its cause, when a probe
	// finds a misconfiguration; a new one takes its place.
	next       context.Context
	cancelNext context.CancelCauseFunc
}

const (
	probeInterval = time.Second     // the least time between two probes
	verdictTTL    = 5 * time.Second // how long a verdict holds without a new probe
)

func newDoctor(cfg *Config) *doctor {
	d := &doctor{cfg: cfg}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.next, d.cancelNext = context.WithCancelCause(context.Background())
	return d
}

// onMisconfigured registers fn, called on the doctor's goroutine with
// every verdict a probe finds.
func (d *doctor) onMisconfigured(fn func(error)) {
	d.mu.Lock()
	d.listeners = append(d.listeners, fn)
	d.mu.Unlock()
}

// suspect is told that a client failed to reach a broker with err. It
// starts a probe unless one runs or ran within probeInterval.
func (d *doctor) suspect(err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errAborted) || errors.Is(err, net.ErrClosed) {
		return // nothing wrong, or the application closing
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.probing || time.Since(d.probedAt) < probeInterval {
		return
	}
	d.probing, d.probedAt = true, time.Now()
	d.probed = make(chan struct{})
	d.wg.Go(d.probe)
}

// healthy is told that a client connected (and authenticated): no
// verdict holds any more.
func (d *doctor) healthy() {
	d.mu.Lock()
	d.verdict, d.tentative = nil, nil
	d.mu.Unlock()
}

// probe runs one probe and keeps its verdict.
func (d *doctor) probe() {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.RequestTimeout)
	err := probe(ctx, d.cfg)
	cancel()
	var found error
	if errors.Is(err, ErrMisconfigured) {
		found = err
	}
	d.mu.Lock()
	d.probing = false
	close(d.probed)
	if d.ctx.Err() != nil {
		d.mu.Unlock()
		return // closing: a cut probe says nothing
	}
	was := d.verdict
	switch {
	case found == nil:
		d.verdict, d.tentative = nil, nil
	case isTentative(found) && d.tentative == nil:
		d.verdict, d.tentative = nil, found // confirmed, or not, by the next probe
	default:
		d.verdict, d.verdictAt, d.tentative = found, time.Now(), nil
		d.cancelNext(found)
		d.next, d.cancelNext = context.WithCancelCause(context.Background())
	}
	verdict, listeners := d.verdict, d.listeners
	d.mu.Unlock()
	if verdict == nil {
		return
	}
	if was == nil {
		d.cfg.Logger.Error("kafkaesk: the connection settings do not match the brokers", "err", verdict)
	}
	for _, fn := range listeners {
		fn(verdict)
	}
}

// isTentative reports whether err rests on a closed connection alone.
func isTentative(err error) bool {
	var ce *ConnectionError
	return errors.As(err, &ce) && ce.tentative
}

// misconfigured returns the verdict that holds, or nil.
func (d *doctor) misconfigured() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.verdict != nil && time.Since(d.verdictAt) > verdictTTL {
		d.verdict = nil
	}
	return d.verdict
}

// diagnose is suspect, then waits (until ctx ends) for the probe it
// started or found running, and for one more after probeInterval when
// that one's finding needs confirming; it returns the verdict, or nil.
func (d *doctor) diagnose(ctx context.Context, err error) error {
	for range 2 {
		d.suspect(err)
		d.mu.Lock()
		probing, probed := d.probing, d.probed
		d.mu.Unlock()
		if probing {
			select {
			case <-probed:
			case <-ctx.Done():
				return nil
			}
		}
		d.mu.Lock()
		verdict, tentative, wait := d.verdict, d.tentative, probeInterval-time.Since(d.probedAt)
		d.mu.Unlock()
		if verdict != nil || tentative == nil {
			return verdict
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
	return d.misconfigured()
}

// guard returns a context that also ends, with the verdict as its
// cause, when a probe finds one: a client's request that retries by
// itself (franz-go's) stops then.
func (d *doctor) guard(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	d.mu.Lock()
	next := d.next
	d.mu.Unlock()
	stop := context.AfterFunc(next, func() { cancel(context.Cause(next)) })
	return ctx, func() { stop(); cancel(nil) }
}

// close ends a running probe and waits for it; nothing is probed
// afterwards. Calling it again does nothing.
func (d *doctor) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// doctorHook tells the doctor of franz-go's connections: a failed dial,
// TLS handshake, ApiVersions or SASL exchange, or one that succeeded.
type doctorHook struct{ d *doctor }

var _ kgo.HookBrokerConnect = doctorHook{}

func (h doctorHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.d.healthy()
		return
	}
	h.d.suspect(err)
}
