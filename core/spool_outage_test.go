package core_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The outage of issue 16: a service logs 10,000 events a second for 30
// seconds, with the broker away for 20 of them, through sloghandler with
// its default queue of 10,000. With a spool every event arrives and none
// is dropped; without one, the same run drops, and counts what it drops.
// Both run side by side, through the same outage.
func TestBrokerHangSpoolOutage(t *testing.T) {
	t.Run("embedded stopped", func(t *testing.T) {
		broker := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})
		testSpoolOutage(t, broker.Brokers(), func(d time.Duration) {
			start := broker.Stop()
			time.Sleep(d)
			require.NoError(t, start())
		})
	})
	brokers, pid := kafkaesktest.RealBrokers(), os.Getenv(envBrokerPID)
	if brokers == nil || pid == "" {
		return // no real broker this test may stop
	}
	t.Run("real broker SIGSTOP", func(t *testing.T) {
		n, err := strconv.Atoi(pid)
		require.NoError(t, err, "%s=%q", envBrokerPID, pid)
		testSpoolOutage(t, brokers, func(d time.Duration) {
			require.NoError(t, syscall.Kill(n, syscall.SIGSTOP), "SIGSTOP broker PID %d", n)
			defer func() { require.NoError(t, syscall.Kill(n, syscall.SIGCONT), "SIGCONT broker PID %d", n) }()
			time.Sleep(d)
		})
	})
}

func testSpoolOutage(t *testing.T, brokers []string, outage func(time.Duration)) {
	const (
		perSecond = 10_000
		seconds   = 30
		total     = perSecond * seconds
		awayAt    = 5 * time.Second
		awayFor   = 20 * time.Second
	)
	prefix := kafkaesktest.TopicPrefix(t)
	open := func(stream, spoolDir string) (*sloghandler.Handler, *core.Application) {
		app, err := core.New(core.Config{
			Brokers:         brokers,
			TopicPrefix:     prefix,
			Partitions:      1,
			RequestTimeout:  2 * time.Second,
			RetryBackoffMax: 200 * time.Millisecond,
			Spool:           core.SpoolConfig{Dir: spoolDir},
		})
		require.NoError(t, err)
		t.Cleanup(func() { app.Close(context.Background()) })
		h, err := sloghandler.New(app, stream, &sloghandler.Options{Warnings: io.Discard})
		require.NoError(t, err)
		return h, app
	}
	spooled, spoolApp := open("spooled", t.TempDir())
	dropping, _ := open("dropping", "")

	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(awayAt)
		outage(awayFor)
	})
	for _, h := range []*sloghandler.Handler{spooled, dropping} {
		logger := slog.New(h)
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < total; {
				<-tick.C
				for range perSecond / 100 {
					logger.Info("e" + strconv.Itoa(i))
					i++
				}
			}
		})
	}
	wg.Wait()

	// A running service drains its spool once Kafka is back: wait for
	// that, rather than let Close give up on what is left (after
	// RequestTimeout without an acknowledgement it stops waiting, and
	// the spool keeps the rest for the next process; a real broker woken
	// by SIGCONT may take longer than that to answer again).
	deadline := time.Now().Add(2 * time.Minute)
	for spoolApp.SpoolStats().OnDisk > 0 || spooled.Stats().Queued > 0 {
		require.True(t, time.Now().Before(deadline), "the spool drains: %+v, %+v", spoolApp.SpoolStats(), spooled.Stats())
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, spooled.Close(ctx))
	require.NoError(t, dropping.Close(ctx))

	s := spooled.Stats()
	t.Logf("with a spool: %+v", s)
	assert.Equal(t, int64(total), s.Enqueued)
	assert.Zero(t, s.Dropped, "none dropped")
	assert.Zero(t, s.Failed)
	assert.Zero(t, s.Unknown)
	assert.Zero(t, s.Queued)
	assert.Positive(t, s.Spooled, "the outage outlasted the queue")
	assert.Equal(t, s.Enqueued, s.Published+s.Spooled)
	assert.Equal(t, total, distinctEvents(t, brokers, prefix+"spooled"), "every event arrives")

	d := dropping.Stats()
	t.Logf("without: %+v", d)
	assert.Equal(t, int64(total), d.Enqueued)
	assert.Positive(t, d.Dropped, "without a spool the outage drops")
	assert.Zero(t, d.Spooled)
	assert.Equal(t, d.Enqueued, d.Published+d.Dropped+d.Failed+d.Unknown, "and counts every event")
	// An event whose outcome is unknown (a request carried it when it was
	// given up on) may be in the topic, or not.
	got := distinctEvents(t, brokers, prefix+"dropping")
	assert.GreaterOrEqual(t, got, int(d.Published), "every published event is in the topic")
	assert.LessOrEqual(t, got, int(d.Published+d.Unknown), "and no dropped or failed one")
}

// distinctEvents counts the distinct events of topic by their message,
// checking that each is a whole event.
func distinctEvents(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	n := testutil.MessageCount(t, brokers, topic)
	seen := map[string]bool{}
	for _, m := range testutil.ReadTopic(t, brokers, topic, int(n), 2*time.Minute) {
		_, rest, ok := bytes.Cut(m.Value, []byte(`"message":"`))
		msg, _, closed := bytes.Cut(rest, []byte(`"`))
		require.True(t, ok && closed && bytes.HasSuffix(m.Value, []byte("}}")), "a whole event: %q", m.Value)
		seen[string(msg)] = true
	}
	return len(seen)
}
