package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// collectEnv is one collect test's brokers, topic prefix and group.
type collectEnv struct {
	brokers []string
	prefix  string
	group   string
	dir     string
}

func newCollectEnv(t *testing.T) *collectEnv {
	prefix := kafkaesktest.TopicPrefix(t)
	return &collectEnv{brokers: kafkaesktest.Brokers(t), prefix: prefix, group: prefix + "collect", dir: t.TempDir()}
}

// args are the flags every collect test passes: its cluster and prefix,
// no metrics server, quick commits.
func (e *collectEnv) args(more ...string) []string {
	return append([]string{"collect", "--kafka-servers", strings.Join(e.brokers, ","), "--topic-prefix", e.prefix,
		"--group", e.group, "--http", "", "--kafka-settings", `{"auto_commit_interval_ms":200}`}, more...)
}

// logLine is the data of log event seq, a line for publish --schema.
func logLine(seq int) string {
	return fmt.Sprintf(`{"timestamp":"2026-11-21T10:00:00.000001Z","logger":"e2e","severity":"INFO","level":20,"message":"event %d","service":"api","seq":%d}`, seq, seq)
}

// publishEvents publishes log events seq from..to-1 to stream, in process.
func (e *collectEnv) publishEvents(t *testing.T, stream string, from, to int, extra ...string) {
	t.Helper()
	app, err := core.New(core.Config{Brokers: e.brokers, TopicPrefix: e.prefix, Partitions: 3, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer closeApp(app)
	ctx := context.Background()
	require.NoError(t, app.EnsureStream(ctx, stream, 0))
	var failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	for i := from; i < to; i++ {
		require.NoError(t, app.RawPublishAsync(ctx, stream, core.AppendEnvelope(nil, "PydanticLogModel:1", []byte(logLine(i))), done))
	}
	for _, v := range extra {
		require.NoError(t, app.RawPublishAsync(ctx, stream, []byte(v), done))
	}
	require.NoError(t, app.Flush(ctx))
	require.Zero(t, failed.Load())
}

// fileSeqs counts each seq in a JSON-lines file, every line whole.
func fileSeqs(t *testing.T, path string) map[int]int {
	t.Helper()
	return countSeqs(t, path, false)
}

// liveFileSeqs is fileSeqs for a file being written, or whose writer was
// killed: its last line may be cut short in the middle of a write, and
// is not counted (the collector trims it when it opens the file again).
func liveFileSeqs(t *testing.T, path string) map[int]int {
	t.Helper()
	return countSeqs(t, path, true)
}

func countSeqs(t *testing.T, path string, live bool) map[int]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[int]int{}
	}
	require.NoError(t, err)
	if live {
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	got := map[int]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct{ Seq int }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "line %q", sc.Text())
		got[ev.Seq]++
	}
	return got
}

func waitSeqs(t *testing.T, path string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(liveFileSeqs(t, path)) >= n }, 60*time.Second, 20*time.Millisecond,
		"%s holds %d of %d events", path, len(liveFileSeqs(t, path)), n)
}

func sumOffsets(xs []int64) (n int64) {
	for _, x := range xs {
		n += max(x, 0)
	}
	return n
}

// The acceptance run: publish 1,000 events with the binary, collect them
// to a JSON-lines file with the binary, stop it with SIGINT.
func TestCollectPublishedEventsToAFileExactlyOnce(t *testing.T) {
	e := newCollectEnv(t)
	var stdin strings.Builder
	for i := range 1000 {
		stdin.WriteString(logLine(i) + "\n")
	}
	_, stderr, code := runKafkaesk(t, stdin.String(), "publish", "--kafka-servers", strings.Join(e.brokers, ","),
		"--topic-prefix", e.prefix, "--stream", "logs.api", "--schema", "PydanticLogModel:1")
	require.Equal(t, 0, code, stderr)

	path := filepath.Join(e.dir, "events.jsonl")
	p := startKafkaesk(t, e.args("--pattern", "logs.*", "--output", "jsonl:"+path)...)
	waitSeqs(t, path, 1000)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())

	got := fileSeqs(t, path)
	assert.Len(t, got, 1000)
	dups := 0
	for i := range 1000 {
		assert.GreaterOrEqual(t, got[i], 1, "seq %d", i)
		dups += max(got[i]-1, 0)
	}
	assert.Zero(t, dups, "duplicates")
	topic := e.prefix + "logs.api"
	ends, committed := testutil.EndOffsets(t, e.brokers, topic), testutil.Committed(t, e.brokers, e.group, topic)
	for p, end := range ends {
		if end == 0 {
			// Nothing to commit: kafka-go's group commits 0, franz-go
			// commits nothing (-1).
			assert.Contains(t, []int64{-1, 0}, committed[p], "empty partition %d", p)
			continue
		}
		assert.Equal(t, end, committed[p], "partition %d: every written event committed by the stop", p)
	}
	assert.Contains(t, p.stderr(), "written 1000")
}

// kafkaesk's test_run: SIGINT while consuming a backlog exits 0, and
// what was written is committed (nothing written is left uncommitted,
// nothing committed is missing from the file).
func TestCollectSIGINTWhileConsumingCommitsWhatWasWritten(t *testing.T) {
	e := newCollectEnv(t)
	const n = 30000
	e.publishEvents(t, "logs.api", 0, n)
	path := filepath.Join(e.dir, "events.jsonl")
	p := startKafkaesk(t, e.args("--pattern", "logs.api", "--output", "jsonl:"+path, "--concurrency", "1")...)
	waitSeqs(t, path, 1000)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())

	got := fileSeqs(t, path)
	topic := e.prefix + "logs.api"
	committed := testutil.Committed(t, e.brokers, e.group, topic)
	require.NotZero(t, sumOffsets(committed))
	// Map each committed (partition, offset) to its event: all in the file.
	msgs := testutil.ReadTopic(t, e.brokers, topic, n, 60*time.Second)
	missing := 0
	for _, m := range msgs {
		if m.Offset < committed[m.Partition] {
			var env struct{ Data struct{ Seq int } }
			require.NoError(t, json.Unmarshal(m.Value, &env))
			if got[env.Data.Seq] == 0 {
				missing++
			}
		}
	}
	assert.Zero(t, missing, "committed events missing from the file")
	assert.Equal(t, int64(len(got)), sumOffsets(committed), "the stop commits exactly what was written")
}

// kill -9 mid-stream, after some commits, then a restart on the same
// group and file: every event is in the file at least once.
func TestCollectKilledAndRestartedLosesNothing(t *testing.T) {
	e := newCollectEnv(t)
	const n = 100000
	e.publishEvents(t, "logs.api", 0, n)
	topic := e.prefix + "logs.api"
	path := filepath.Join(e.dir, "events.jsonl")
	args := append(e.args("--pattern", "logs.api", "--output", "jsonl:"+path),
		"--kafka-settings", `{"auto_commit_interval_ms":50}`)
	p := startKafkaesk(t, args...)
	require.Eventually(t, func() bool { return sumOffsets(testutil.Committed(t, e.brokers, e.group, topic)) > 0 },
		60*time.Second, 5*time.Millisecond, "a first commit")
	p.signal(os.Kill)
	require.Equal(t, -1, p.wait(30*time.Second))
	committed := sumOffsets(testutil.Committed(t, e.brokers, e.group, topic))
	before := len(liveFileSeqs(t, path))
	require.Less(t, committed, int64(n), "killed mid-stream, before everything was committed")

	p = startKafkaesk(t, args...)
	waitSeqs(t, path, n)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	got := fileSeqs(t, path)
	dups := 0
	for i := range n {
		require.GreaterOrEqual(t, got[i], 1, "seq %d lost", i)
		dups += got[i] - 1
	}
	assert.LessOrEqual(t, int64(dups), int64(before)-committed, "only what was written after the last commit is written again")
	t.Logf("killed with %d events in the file and %d committed; %d of %d events written twice", before, committed, dups, n)
}

func TestCollectCountsAndSkipsNonLogMessages(t *testing.T) {
	e := newCollectEnv(t)
	e.publishEvents(t, "logs.api", 0, 10, `{"schema":"Order:1","data":{"id":1}}`, `not json at all`)
	path := filepath.Join(e.dir, "events.jsonl")
	p := startKafkaesk(t, e.args("--pattern", "logs.*", "--output", "jsonl:"+path, "--dead-letter", "logs-dead")...)
	waitSeqs(t, path, 10)
	require.Eventually(t, func() bool { return testutil.MessageCount(t, e.brokers, e.prefix+"logs-dead") == 2 }, 30*time.Second, 20*time.Millisecond)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	assert.Contains(t, p.stderr(), "skipped 2 (not log events)")
	assert.Contains(t, p.stderr(), "message is not a log event; skipped")
	assert.Len(t, fileSeqs(t, path), 10)
}

func TestCollectServesMetricsAndStartsItsOwnBroker(t *testing.T) {
	p := startKafkaesk(t, "collect", "--pattern", "logs.*", "--group", "g", "--output", "jsonl",
		"--broker-port", "0", "--http", "127.0.0.1:0")
	line := p.waitOutput(t, "embedded broker listening on 127.0.0.1:", 30*time.Second)
	assert.NotContains(t, line, "127.0.0.1:0")
	p.waitOutput(t, "collecting logs.* (group g) into jsonl", 30*time.Second)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
}

func TestCollectBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"collect", "--group", "g"}, "--pattern is required"},
		{[]string{"collect", "--pattern", "logs.*"}, "--group is required"},
		{[]string{"collect", "--pattern", "logs.*", "--group", "g", "--output", "syslog"}, `--output: "syslog"`},
		{[]string{"collect", "--pattern", "logs.*", "--group", "g", "--min-level", "loud"}, `--min-level: "loud"`},
		{[]string{"collect", "--pattern", "logs.*", "--group", "g", "--bogus"}, "--bogus"},
		{[]string{"collect", "--pattern", "logs.*", "--group", "g", "--drain-timeout", "-1s"}, "--drain-timeout"},
		{[]string{"collect", "--pattern", "logs.*", "--group", "g", "extra"}, `"extra"`},
	} {
		_, stderr, code := runMain(context.Background(), "", tc.args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

func TestCollectUnreachableBrokerFailsFast(t *testing.T) {
	start := time.Now()
	_, stderr, code := runKafkaesk(t, "", "collect", "--pattern", "logs.*", "--group", "g", "--kafka-servers", "127.0.0.1:1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "127.0.0.1:1")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestCollectUnwritableOutputNamesIt(t *testing.T) {
	e := newCollectEnv(t)
	_, stderr, code := runMain(context.Background(), "", e.args("--pattern", "logs.*", "--output", "file:/nonexistent/dir/x.jsonl")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "file:/nonexistent/dir/x.jsonl")
}

// After a SIGKILL while collecting, the events written twice are at
// most about one second's worth: the collector commits every flush
// interval (1s), as soon as its outputs have flushed. Regression: it
// committed on the application's interval (5s by default), and three
// SIGKILLs while catching up 200,000 events wrote 45% of them twice.
//
// The collector reads a backlog faster than a test can kill it mid-way
// (over 500,000 events/s here), so after a backlog of 50,000 the events
// arrive at a steady 20,000/s that it keeps up with; it is killed 2.5s
// after a commit is seen. Its rate is measured from the file once the
// backlog is in, and bounds the duplicates with half a second of slack:
// a 5s commit interval would redo all 2.5 seconds.
func TestCollectKilledWhileCollectingRedoesAboutOneSecond(t *testing.T) {
	e := newCollectEnv(t)
	const backlog, live, batch = 50000, 200000, 1000
	const n = backlog + live
	topic := e.prefix + "logs.api"
	app, err := core.New(core.Config{Brokers: e.brokers, TopicPrefix: e.prefix, Partitions: 3, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, app.EnsureStream(context.Background(), "logs.api", 0))
	closeApp(app)
	values := make([][]byte, n)
	for i := range values {
		values[i] = core.AppendEnvelope(nil, "PydanticLogModel:1", []byte(logLine(i)))
	}
	testutil.Produce(t, e.brokers, topic, values[:backlog])

	path := filepath.Join(e.dir, "events.jsonl")
	// No --kafka-settings: the application's commit interval stays at
	// its default, 5s, and the collector's own 1s must apply.
	args := []string{"collect", "--kafka-servers", strings.Join(e.brokers, ","), "--topic-prefix", e.prefix,
		"--group", e.group, "--http", "", "--pattern", "logs.api", "--output", "jsonl:" + path}
	p := startKafkaesk(t, args...)

	waitSeqs(t, path, backlog)
	from, fromCount := time.Now(), len(liveFileSeqs(t, path))
	// Then up to 20,000 events a second: a batch of 1,000 every 50ms.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := backlog; i < n; i += batch {
			<-tick.C
			testutil.Produce(t, e.brokers, topic, values[i:i+batch])
		}
	}()
	defer func() { <-produced }()
	// Kill 2.5s after a commit is seen: a 1s interval commits twice more
	// meanwhile, a 5s one does not.
	c0 := sumOffsets(testutil.Committed(t, e.brokers, e.group, topic))
	require.Eventually(t, func() bool { return sumOffsets(testutil.Committed(t, e.brokers, e.group, topic)) != c0 },
		15*time.Second, 10*time.Millisecond, "a commit")
	time.Sleep(2500 * time.Millisecond)
	p.signal(os.Kill)
	require.Equal(t, -1, p.wait(30*time.Second))
	ran := time.Since(from)
	before := len(liveFileSeqs(t, path))
	committed := sumOffsets(testutil.Committed(t, e.brokers, e.group, topic))
	require.Less(t, before, n, "killed before the last event")
	rate := float64(before-fromCount) / ran.Seconds()

	p = startKafkaesk(t, args...)
	waitSeqs(t, path, n)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	got := fileSeqs(t, path)
	dups := 0
	for i := range n {
		require.GreaterOrEqual(t, got[i], 1, "seq %d lost", i)
		dups += got[i] - 1
	}
	bound := int(rate * 1.5)
	t.Logf("killed %v after the backlog, at %.0f events/s, with %d events in the file and %d committed; %d of %d written twice (bound %d: 1.5s)",
		ran.Round(time.Millisecond), rate, before, committed, dups, n, bound)
	assert.LessOrEqual(t, dups, bound, "events written twice after a SIGKILL: more than about one second's worth")
}
