package core_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

const spoolChildEnv = "KAFKAESK_TEST_SPOOL_CHILD"

// runSpoolChild is a service logging through sloghandler with a spool,
// to a broker that is not there: it logs events "n0", "n1", ... as fast
// as it can and prints its handler's Spooled count after each thousand,
// until it is killed.
func runSpoolChild() {
	h, err := sloghandler.Open(core.Config{
		Brokers:        []string{os.Getenv("KAFKAESK_TEST_BROKERS")},
		TopicPrefix:    os.Getenv("KAFKAESK_TEST_PREFIX"),
		RequestTimeout: time.Second,
	}, "logs", &sloghandler.Options{SpoolDir: os.Getenv("KAFKAESK_TEST_SPOOL"), QueueSize: 1000, Warnings: io.Discard})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := slog.New(h)
	for i := 0; ; i++ {
		logger.Info("n" + strconv.Itoa(i))
		if i%1000 == 999 {
			fmt.Printf("spooled %d\n", h.Stats().Spooled)
			time.Sleep(time.Millisecond)
		}
	}
}

// A service that logs with the broker down is killed with SIGKILL; the
// next one to open its spool, with the broker up, sends every event the
// first had spooled: a process crash loses nothing that was spooled. A
// record torn at the end of the last segment (cut here by hand, as a
// crash mid-write leaves it) is cut, not sent.
func TestSpoolSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	prefix := kafkaesktest.TopicPrefix(t)
	down := freeAddr(t)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spoolChildEnv+"=1", "KAFKAESK_TEST_BROKERS="+down, "KAFKAESK_TEST_PREFIX="+prefix, "KAFKAESK_TEST_SPOOL="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	var spooled int64
	for lines.Scan() {
		n, err := strconv.ParseInt(strings.TrimPrefix(lines.Text(), "spooled "), 10, 64)
		require.NoError(t, err, "child said %q", lines.Text())
		if spooled = n; spooled >= 20_000 {
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.GreaterOrEqual(t, spooled, int64(20_000), "the child spooled before it was killed")

	// Tear the last record of the last segment, as a crash mid-write does.
	// A kill just after a roll leaves the new segment empty: it goes, as
	// a kill just before the roll would have left things, and the one
	// before it is torn.
	segs := segments(t, dir)
	require.NotEmpty(t, segs)
	last := segs[len(segs)-1]
	info, err := os.Stat(last)
	require.NoError(t, err)
	for info.Size() < 3 && len(segs) > 1 {
		require.NoError(t, os.Remove(last))
		segs = segs[:len(segs)-1]
		last = segs[len(segs)-1]
		info, err = os.Stat(last)
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, info.Size(), int64(3), "%s: a segment with a record to tear", last)
	require.NoError(t, os.Truncate(last, info.Size()-3))

	brokers := kafkaesktest.Brokers(t)
	app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: prefix, Spool: core.SpoolConfig{Dir: dir}})
	require.NoError(t, err)
	defer app.Close(context.Background())
	st := app.SpoolStats()
	assert.Positive(t, st.CutBytes, "the torn record is cut")
	assert.GreaterOrEqual(t, st.Recovered, spooled-1, "all the child had spooled, but the torn record")
	require.Eventually(t, func() bool { return app.SpoolStats().OnDisk == 0 }, 2*time.Minute, 50*time.Millisecond)
	st = app.SpoolStats()
	assert.Equal(t, st.Recovered, st.Delivered)

	topic := app.Topic("logs")
	n := testutil.MessageCount(t, brokers, topic)
	require.Equal(t, st.Recovered, n)
	var numbers []int
	for _, m := range testutil.ReadTopic(t, brokers, topic, int(n), time.Minute) {
		ev, err := record.DecodeEvent(m.Value)
		require.NoError(t, err, "every message is a whole event: %q", m.Value)
		i, err := strconv.Atoi(strings.TrimPrefix(ev.Message, "n"))
		require.NoError(t, err)
		numbers = append(numbers, i)
	}
	assert.True(t, slices.IsSorted(numbers), "in the order they were logged")
	for i := 1; i < len(numbers); i++ {
		require.Equal(t, numbers[i-1]+1, numbers[i], "no gap in what was spooled")
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	b := kafkaesktest.New(t, nil)
	addr := b.Addr()
	b.Close()
	return addr
}
