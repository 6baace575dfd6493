package collector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// logRecords keeps the records logged through it, with their attributes.
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]any // "msg" and "time", then the attributes
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "time": r.Time}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

func (l *logRecords) all() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any(nil), l.recs...)
}

// Skipped messages are logged at most once a second, and the next
// warning counts those left out meanwhile. synctest makes the second
// exact.
func TestWarnSkippedLogsOnceASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecords{}
		c := &Collector{log: slog.New(logs), prefix: "p."}
		rec := &core.Record{Topic: "p.logs", Partition: 2}
		skip := func(offset int64) {
			rec.Offset = offset
			c.warnSkipped(rec, "not JSON")
		}

		start := time.Now()
		skip(0) // logged
		for i := range 9 {
			time.Sleep(100*time.Millisecond - time.Nanosecond)
			skip(int64(1 + i)) // within the second: counted
		}
		require.Len(t, logs.all(), 1, "one warning in the first second")
		time.Sleep(time.Second - time.Since(start))
		skip(10) // a second after the first warning: logged
		skip(11) // counted

		got := logs.all()
		require.Len(t, got, 2)
		assert.Equal(t, "logs", got[0]["stream"])
		assert.Equal(t, int64(0), got[0]["offset"])
		assert.NotContains(t, got[0], "more_skipped_since_last_warning")
		assert.Equal(t, int64(10), got[1]["offset"])
		assert.Equal(t, int64(9), got[1]["more_skipped_since_last_warning"], "the nine left out are counted")
		assert.Equal(t, time.Second, got[1]["time"].(time.Time).Sub(got[0]["time"].(time.Time)))
		assert.Equal(t, int64(1), c.warnedSkips, "the next warning counts the one after it")
	})
}

// failingOutput fails its first failures writes.
type failingOutput struct {
	Output
	failures int
	writes   []time.Duration // since the test began, when each write was tried
	start    time.Time
}

func (f *failingOutput) Write(*Entry) error {
	f.writes = append(f.writes, time.Since(f.start))
	if len(f.writes) <= f.failures {
		return errors.New("disk full")
	}
	return nil
}

func (f *failingOutput) String() string { return "failing" }

// A failing output is written again with a backoff that doubles from
// 100ms up to 5s, and the event is never skipped; the stop's deadline
// ends the retries with an error naming the output.
func TestWriteRetriesAFailingOutputWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Collector{log: slog.New(slog.DiscardHandler)}
		out := &failingOutput{failures: 8, start: time.Now()}
		o := &outputState{out: out}
		require.NoError(t, c.write(t.Context(), o, &Entry{}))
		var want []time.Duration
		at, backoff := time.Duration(0), 100*time.Millisecond
		for range 9 {
			want = append(want, at)
			at, backoff = at+backoff, min(2*backoff, 5*time.Second)
		}
		assert.Equal(t, want, out.writes, "0.1, 0.2, 0.4, 0.8, 1.6, 3.2, then 5s apart")
		assert.Equal(t, int64(8), o.errors.Load())
		assert.Equal(t, int64(1), o.written.Load())

		out = &failingOutput{failures: 1 << 30, start: time.Now()}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err := c.write(ctx, &outputState{out: out}, &Entry{})
		assert.EqualError(t, err, "collector: failing: disk full")
		assert.Equal(t, 3*time.Second, time.Since(out.start), "ends at the deadline, in the middle of a backoff")
	})
}
