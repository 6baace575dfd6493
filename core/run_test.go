package core

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runGoroutines returns the stacks of the goroutines still running Run's
// code (Run itself, or anything Run started directly).
func runGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "core.(*Application).Run") || strings.Contains(g, "core.cancelAfterStop") {
			found = append(found, g)
		}
	}
	return found
}

// Every goroutine Run starts ends before Run returns, whether a stop or a
// failed subscription ends it. The shutdown timer used to be left
// running, to notice the end of Run's contexts after Run had returned.
func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handled func(cancel context.CancelFunc) error
		wantErr bool
	}{
		{"stopped by its context", func(cancel context.CancelFunc) error { cancel(); return nil }, false},
		{"a subscription failed", func(context.CancelFunc) error { return errors.New("handler failed") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, _ := newInternalApp(t, Config{
				HeartbeatInterval: 200 * time.Millisecond,
				SessionTimeout:    6 * time.Second,
				CommitInterval:    100 * time.Millisecond,
				MetadataMaxAge:    500 * time.Millisecond,
				// A stop outlasts Run by this much if the timer is not
				// Run's own.
				ShutdownTimeout: time.Minute,
				Logger:          slog.New(slog.DiscardHandler),
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Subscribe(app, "stream", app.Topic("group"), func(context.Context, *Message[[]byte]) error {
				return tc.handled(cancel)
			}, nil)
			require.NoError(t, err)
			require.NoError(t, app.RawPublish(ctx, "stream", []byte(`{}`)))

			// On one P, a goroutine that Run's return wakes up does not run
			// before this one blocks: what is left is seen.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			err = app.Run(ctx)
			left := runGoroutines()
			if tc.wantErr {
				var herr *HandlerError
				require.ErrorAs(t, err, &herr)
			} else {
				require.NoError(t, err)
				require.ErrorIs(t, ctx.Err(), context.Canceled, "Run returned because the handler stopped it, not on the test's deadline")
			}
			assert.Empty(t, left, "goroutines of Run's still running after it returned")
		})
	}
}

// cancelAfterStop cancels exactly ShutdownTimeout after the stop, and
// returns without cancelling when the handlers' context ends first.
func TestCancelAfterStop(t *testing.T) {
	const timeout = 3 * time.Second
	t.Run("the deadline passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stopCtx, stop := context.WithCancel(t.Context())
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { cancelAfterStop(stopCtx, ctx, timeout, cancel); close(done) }()

			time.Sleep(time.Hour)
			synctest.Wait()
			require.NoError(t, ctx.Err(), "nothing cancelled before the stop")

			stop()
			start := time.Now()
			<-done
			assert.Equal(t, timeout, time.Since(start), "cancelled ShutdownTimeout after the stop")
			assert.ErrorIs(t, ctx.Err(), context.Canceled)
		})
	})
	t.Run("the handlers finish first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stopCtx, stop := context.WithCancel(t.Context())
			defer stop()
			ctx, cancel := context.WithCancel(t.Context())
			cancelled := false
			done := make(chan struct{})
			go func() {
				cancelAfterStop(stopCtx, ctx, timeout, func() { cancelled = true })
				close(done)
			}()
			stop()
			time.Sleep(timeout / 2)
			cancel() // Run returned: the handlers finished
			start := time.Now()
			<-done
			assert.Zero(t, time.Since(start), "returns at once")
			assert.False(t, cancelled, "the timer did not fire")
		})
	})
}
