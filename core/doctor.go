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
// background and at most once a probeInterval; while the last probe
// found the settings at fault, the producer fails what it would have
// retried, with the probe's error, and franz-go's buffered records are
// aborted (not sent, so failed, not unknown).
type doctor struct {
	cfg *Config

	mu        sync.Mutex
	verdict   error     // the last probe's misconfiguration; nil when it found none
	probedAt  time.Time // when the last probe started
	probing   bool
	probed    chan struct{} // closed when the running probe ends
	closed    bool
	listeners []func(error) // told of each misconfiguration found
	wg        sync.WaitGroup
	cancel    context.CancelFunc // ends a running probe at close
	ctx       context.Context

	// next is canceled, with the verdict as its cause, when a probe
	// finds a misconfiguration; a new one takes its place.
	next       context.Context
	cancelNext context.CancelCauseFunc
}

// probeInterval is the least time between two probes.
const probeInterval = time.Second

func newDoctor(cfg *Config) *doctor {
	d := &doctor{cfg: cfg}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.next, d.cancelNext = context.WithCancelCause(context.Background())
	return d
}

// onMisconfigured registers fn, called (on the doctor's goroutine) with
// every misconfiguration a probe finds.
func (d *doctor) onMisconfigured(fn func(error)) {
	d.mu.Lock()
	d.listeners = append(d.listeners, fn)
	d.mu.Unlock()
}

// suspect is told that a client failed to reach a broker with err. It
// starts a probe unless one runs or ran within probeInterval. It never
// blocks.
func (d *doctor) suspect(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
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

// probe runs one probe and keeps its verdict.
func (d *doctor) probe() {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.RequestTimeout)
	err := probe(ctx, d.cfg)
	cancel()
	var verdict error
	if errors.Is(err, ErrMisconfigured) {
		verdict = err
	}
	d.mu.Lock()
	d.probing = false
	close(d.probed)
	if d.ctx.Err() != nil {
		d.mu.Unlock()
		return // closing: a cut probe says nothing
	}
	news := verdict != nil && (d.verdict == nil || d.verdict.Error() != verdict.Error())
	d.verdict = verdict
	listeners := d.listeners
	if verdict != nil {
		d.cancelNext(verdict)
		d.next, d.cancelNext = context.WithCancelCause(context.Background())
	}
	d.mu.Unlock()
	if news {
		d.cfg.Logger.Error("kafkaesk: the connection settings do not match the brokers", "err", verdict)
	}
	if verdict != nil {
		for _, fn := range listeners {
			fn(verdict)
		}
	}
}

// diagnose is suspect, then waits (until ctx ends) for the probe it
// started or found running, and returns its misconfiguration, or nil.
func (d *doctor) diagnose(ctx context.Context, err error) error {
	d.suspect(err)
	d.mu.Lock()
	probing, probed := d.probing, d.probed
	d.mu.Unlock()
	if probing {
		select {
		case <-probed:
		case <-ctx.Done():
		}
	}
	return d.misconfigured()
}

// misconfigured returns the last probe's misconfiguration, or nil.
func (d *doctor) misconfigured() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verdict
}

// guard returns a context that also ends, with the misconfiguration as
// its cause, when a probe finds one (or has found one already): a
// client's request that retries by itself (franz-go's) stops then.
func (d *doctor) guard(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	d.mu.Lock()
	verdict, next := d.verdict, d.next
	d.mu.Unlock()
	if verdict != nil {
		cancel(verdict)
		return ctx, func() {}
	}
	stop := context.AfterFunc(next, func() { cancel(context.Cause(next)) })
	return ctx, func() { stop(); cancel(nil) }
}

// close ends a running probe and waits for it. Calling it again does
// nothing.
func (d *doctor) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// doctorHook tells the doctor of franz-go's failed connections: a
// failed dial, TLS handshake, ApiVersions or SASL exchange.
type doctorHook struct{ d *doctor }

var _ kgo.HookBrokerConnect = doctorHook{}

func (h doctorHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.d.suspect(err)
}
