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
