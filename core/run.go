package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Run starts the application (Start) and every subscription, and blocks
// until ctx ends or a subscription fails.
//
// When ctx ends, Run stops gracefully: it stops fetching, lets handlers in
// flight finish (for at most Config.ShutdownTimeout, after which their
// contexts are cancelled), commits what finished, leaves the consumer
// groups, and returns nil. Unlike kafkaesk, which commits nothing on
// shutdown, nothing handled is redelivered to the next member.
//
// When a subscription fails (a handler error its ErrorPolicy did not
// absorb), the others stop the same way and Run returns the failure, a
// *HandlerError. A program stops Run on SIGINT and SIGTERM with
// signal.NotifyContext.
func (a *Application) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("kafkaesk: Run is already running")
	}
	defer a.running.Store(false)
	if err := a.Start(ctx); err != nil {
		return err
	}
	subs := a.Subscriptions()
	if len(subs) == 0 {
		return errors.New("kafkaesk: Run: no subscriptions registered")
	}

	runCtx, stop := context.WithCancel(ctx)
	// Handlers outlive runCtx by ShutdownTimeout, so that a stop lets them
	// finish.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	// The shutdown timer is Run's: it ends before Run returns, whichever
	// way Run returns.
	var timer sync.WaitGroup
	defer func() {
		stop()
		cancelHandlers()
		timer.Wait()
	}()
	timer.Go(func() { cancelAfterStop(runCtx, handlerCtx, a.cfg.ShutdownTimeout, cancelHandlers) })

	consumers := make([]*consumer, len(subs))
	for i, s := range subs {
		c, err := newConsumer(a, s, handlerCtx)
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	errs := make(chan error, len(consumers))
	for _, c := range consumers {
		go func() { errs <- c.run(runCtx) }()
	}
	var first error
	for range consumers {
		if err := <-errs; err != nil && first == nil {
			first = err
			stop() // the others stop gracefully
		}
	}
	return first
}

// HealthCheck returns an error naming the first subscription that is not
// running: before Run, after it returned, or after the subscription failed.
func (a *Application) HealthCheck() error {
	for _, s := range a.Subscriptions() {
		if !s.Running() {
			return fmt.Errorf("kafkaesk: %s is not running", s)
		}
	}
	return nil
}

// cancelAfterStop calls cancel timeout after stopCtx ends, unless ctx
// ends first. It returns when either has happened.
func cancelAfterStop(stopCtx, ctx context.Context, timeout time.Duration, cancel context.CancelFunc) {
	select {
	case <-stopCtx.Done():
	case <-ctx.Done():
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-t.C:
		cancel()
	case <-ctx.Done():
	}
}
