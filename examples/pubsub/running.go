package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// running is an application's Run on a goroutine of its own, so that a step
// can wait for its handlers and then stop it.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once Run has returned
	err    error         // Run's error; written before done is closed
}

// start runs app until stop is called or ctx ends.
func start(ctx context.Context, app *core.Application) *running {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = app.Run(ctx)
	}()
	return r
}

// stop stops Run gracefully (handlers in flight finish, offsets are
// committed unless auto-commit is off) and returns its error. It may be
// called more than once.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// await returns the next thing a handler sent on ch. It fails when Run
// returns first (a subscription failed) or ctx ends.
func (r *running) await(ctx context.Context, ch <-chan seen) (seen, error) {
	select {
	case s := <-ch:
		return s, nil
	case <-r.done:
		err := r.err
		if err == nil {
			err = errors.New("the application stopped")
		}
		return seen{}, fmt.Errorf("no message: %w", err)
	case <-ctx.Done():
		return seen{}, fmt.Errorf("no message: %w", ctx.Err())
	}
}

// runUntil runs app until one of its handlers sends on ch, and returns
// what it sent.
func runUntil(ctx context.Context, app *core.Application, ch <-chan seen) (seen, error) {
	r := start(ctx, app)
	s, err := r.await(ctx, ch)
	return s, errors.Join(err, r.stop())
}

// send hands s to the step waiting on ch. ch is buffered beyond what any
// step receives, so a handler never waits here in practice.
func send(ctx context.Context, ch chan<- seen, s seen) error {
	select {
	case ch <- s:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
