package sloghandler

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Under the Block policy, callers far more than the queue's slots all get
// theirs as events settle: none dropped, none stuck until BlockTimeout
// while a slot is free (a lost wake-up would drop here: the timeout is
// far shorter than the test), and every settled record reused at most
// once at a time.
func TestBlockWaitersGetFreedSlots(t *testing.T) {
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:1"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	for _, queue := range []int{1, 3} {
		h, err := assemble(app, false, "logs", &Options{QueueSize: queue, WhenFull: Block, BlockTimeout: 2 * time.Second, Warnings: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		var inFlight sync.Map // *core.Record → struct{}: a record handed over twice at once is a bug
		var settling sync.WaitGroup
		h.p.produce = func(rec *core.Record, promise core.Promise) error {
			if _, dup := inFlight.LoadOrStore(rec, struct{}{}); dup {
				t.Errorf("record %p handed over while in flight", rec)
			}
			settling.Add(1)
			go func() { // the producer's goroutine, a moment later
				defer settling.Done()
				time.Sleep(50 * time.Microsecond)
				inFlight.Delete(rec)
				promise(rec, nil)
			}()
			return nil
		}
		const callers, each = 8, 300
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := slog.New(h)
				for i := range each {
					l.Info("event", "i", i)
				}
			}()
		}
		wg.Wait()
		settling.Wait()
		want := Stats{Enqueued: callers * each, Published: callers * each}
		if s := h.Stats(); s != want {
			t.Errorf("QueueSize %d: Stats %+v, want %+v", queue, s, want)
		}
		if n := h.p.taken.Load(); n != 0 {
			t.Errorf("QueueSize %d: %d slots still taken after every event settled", queue, n)
		}
	}
}

// Two slots given back back to back, with two callers waiting and
// nothing settling after: both callers get theirs at once, and neither
// waits out BlockTimeout to drop its event. (The case where freed's one
// signal must be passed on, two slots given back while both waiters are
// between their failed try and their wait, is too narrow a window to
// hit from a test: takeSlot passes the signal on for it.)
func TestBlockWaitersBothWokenByOneBurst(t *testing.T) {
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:1"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	const timeout = 5 * time.Second
	h, err := assemble(app, false, "logs", &Options{QueueSize: 2, WhenFull: Block, BlockTimeout: timeout, Warnings: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	type held struct {
		rec     *core.Record
		promise core.Promise
	}
	handed := make(chan held, 4)
	h.p.produce = func(rec *core.Record, promise core.Promise) error {
		handed <- held{rec, promise}
		return nil
	}
	l := slog.New(h)
	l.Info("first")
	l.Info("second") // the queue is full: both held, unsettled
	done := make(chan time.Duration, 2)
	for range 2 {
		go func() {
			start := time.Now()
			l.Info("waiting")
			done <- time.Since(start)
		}()
	}
	for h.p.waiters.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	a, b := <-handed, <-handed
	a.promise(a.rec, nil) // both slots back, back to back
	b.promise(b.rec, nil)
	for range 2 {
		select {
		case d := <-done:
			if d > timeout/2 {
				t.Errorf("a waiter took %v for a slot given back at once", d)
			}
		case <-time.After(timeout + time.Second):
			t.Fatal("a waiter never returned")
		}
	}
	if s := h.Stats(); s.Dropped != 0 || s.Enqueued != 4 {
		t.Errorf("Stats %+v, want 4 enqueued and none dropped", s)
	}
	for { // settle what the waiters handed over, so that nothing is left in flight
		select {
		case e := <-handed:
			e.promise(e.rec, nil)
		default:
			return
		}
	}
}
