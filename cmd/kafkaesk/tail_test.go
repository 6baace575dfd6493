package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

func (e *collectEnv) tailArgs(more ...string) []string {
	return append([]string{"tail", "--kafka-servers", strings.Join(e.brokers, ","), "--topic-prefix", e.prefix}, more...)
}

func TestTailFromBeginningToTheEnd(t *testing.T) {
	e := newCollectEnv(t)
	e.publishEvents(t, "logs.api", 0, 50, `{"schema":"Order:1","data":{"id": 7}}`)
	e.publishEvents(t, "logs.web", 50, 60)

	stdout, stderr, code := runKafkaesk(t, "", e.tailArgs("logs.*", "--from-beginning", "--exit", "--format", "json")...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 61)
	seqs := map[int]bool{}
	for _, l := range lines {
		e, err := core.DecodeEnvelope([]byte(l))
		require.NoError(t, err, l)
		var d struct{ Seq int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		if e.Schema == "PydanticLogModel:1" {
			seqs[d.Seq] = true
		}
	}
	assert.Len(t, seqs, 60)
	assert.Contains(t, stdout, `{"schema":"Order:1","data":{"id":7}}`, "compacted, one line")

	stdout, stderr, code = runKafkaesk(t, "", e.tailArgs("logs.api", "--from-beginning", "--exit")...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "INF event 0 service=api logger=e2e seq=0\n")
	assert.Contains(t, stdout, "logs.api ")
	assert.Contains(t, stdout, ` Order:1 {"id":7}`)
	assert.Equal(t, 51, strings.Count(stdout, "\n"))
}

func TestTailWithAGroupResumesWhereItStopped(t *testing.T) {
	e := newCollectEnv(t)
	e.publishEvents(t, "logs.api", 0, 20)
	args := e.tailArgs("logs.api", "--group", e.group, "--from-beginning", "--exit", "--format", "json")
	stdout, stderr, code := runKafkaesk(t, "", args...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 20, strings.Count(stdout, "\n"))
	e.publishEvents(t, "logs.api", 20, 25)
	stdout, stderr, code = runKafkaesk(t, "", args...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 5, strings.Count(stdout, "\n"), "only what came after the group's commit")
	assert.Contains(t, stdout, `"seq":24`)
}

func TestTailFollowsNewMessagesAndStopsOnSIGINT(t *testing.T) {
	e := newCollectEnv(t)
	e.publishEvents(t, "logs.api", 0, 5) // before: not shown (from now)
	p := startKafkaesk(t, e.tailArgs("logs.api")...)
	// The group must be assigned before "now" means anything: publish
	// until a line shows up.
	deadline := time.Now().Add(60 * time.Second)
	for seq := 100; !strings.Contains(p.stdout(), "INF event"); seq++ {
		require.True(t, time.Now().Before(deadline), "no line within 60s: %s", p.stderr())
		e.publishEvents(t, "logs.api", seq, seq+1)
		time.Sleep(100 * time.Millisecond)
	}
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	assert.NotContains(t, p.stdout(), "event 0 ", "from now: the backlog is not shown")
}

func TestTailUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tail"}, "PATTERN"},
		{[]string{"tail", "a", "b"}, `"b"`},
		{[]string{"tail", "a", "--format", "xml"}, "--format"},
	} {
		_, stderr, code := runMain(context.Background(), "", tc.args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want)
	}
	e := newCollectEnv(t)
	_, stderr, code := runKafkaesk(t, "", e.tailArgs("nothing.*", "--exit")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `no stream matches "nothing.*"`)
}

// saslEnv is an embedded broker that requires SASL, with a topic prefix.
type saslEnv struct {
	broker *kafkaesktest.Broker
	user   kafkaesktest.SASL
	prefix string
}

func newSASLEnv(t *testing.T, mechanism string) *saslEnv {
	user := kafkaesktest.SASL{Mechanism: mechanism, Username: "tailer", Password: "pa55"}
	return &saslEnv{broker: kafkaesktest.New(t, &kafkaesktest.Options{SASL: user}), user: user, prefix: kafkaesktest.TopicPrefix(t)}
}

// settings is --kafka-settings for user, as kafkaesk's worker takes them.
func saslSettings(user kafkaesktest.SASL) string {
	b, _ := json.Marshal(map[string]string{
		"security_protocol":   "SASL_PLAINTEXT",
		"sasl_mechanism":      user.Mechanism,
		"sasl_plain_username": user.Username,
		"sasl_plain_password": user.Password,
	})
	return string(b)
}

// tailArgs are tail's flags for the broker, authenticating as user.
func (e *saslEnv) tailArgs(user kafkaesktest.SASL, more ...string) []string {
	args := []string{"tail", "--kafka-servers", e.broker.Addr(), "--topic-prefix", e.prefix}
	if user.Mechanism != "" {
		args = append(args, "--kafka-settings", saslSettings(user))
	}
	return append(args, more...)
}

// publishEvents publishes log events seq from..to-1 to stream, in
// process, authenticated.
func (e *saslEnv) publishEvents(t *testing.T, stream string, from, to int) {
	t.Helper()
	app, err := core.New(core.Config{Brokers: e.broker.Brokers(), TopicPrefix: e.prefix, Partitions: 3, SASL: core.SASL(e.user), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer closeApp(app)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := from; i < to; i++ {
		require.NoError(t, app.RawPublish(ctx, stream, core.AppendEnvelope(nil, "PydanticLogModel:1", []byte(logLine(i)))))
	}
}

// jsonSeqs returns the seq of each line tail printed with --format json.
func jsonSeqs(t *testing.T, stdout string) []int {
	t.Helper()
	var seqs []int
	for l := range strings.Lines(stdout) {
		e, err := core.DecodeEnvelope([]byte(l))
		require.NoError(t, err, l)
		var d struct{ Seq int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		seqs = append(seqs, d.Seq)
	}
	slices.Sort(seqs)
	return seqs
}

func seqRange(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// tail --exit authenticated with the command's own SASL settings reads
// every partition to its end, with and without a group. (It used to
// list the end offsets on a bare connection, without SASL or TLS.)
func TestTailExitWithSASL(t *testing.T) {
	e := newSASLEnv(t, "SCRAM-SHA-256")
	e.publishEvents(t, "logs.api", 0, 30)
	e.publishEvents(t, "logs.web", 30, 40)

	stdout, stderr, code := runKafkaesk(t, "", e.tailArgs(e.user, "logs.*", "--from-beginning", "--exit", "--format", "json")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, seqRange(0, 40), jsonSeqs(t, stdout))

	stdout, stderr, code = runKafkaesk(t, "", e.tailArgs(e.user, "logs.*", "--exit")...)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout, "from now: nothing to print")

	stdout, stderr, code = runKafkaesk(t, "", e.tailArgs(e.user, "logs.api", "--from-beginning", "--exit", "--read-committed")...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "INF event 29 service=api logger=e2e seq=29\n")
	assert.Equal(t, 30, strings.Count(stdout, "\n"))

	args := e.tailArgs(e.user, "logs.api", "--group", e.prefix+"g", "--from-beginning", "--exit", "--format", "json")
	stdout, stderr, code = runKafkaesk(t, "", args...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, seqRange(0, 30), jsonSeqs(t, stdout))
}

// tail --from-beginning without --exit, authenticated, prints the backlog
// and then what is published while it runs, until SIGINT.
func TestTailFromBeginningWithSASLFollows(t *testing.T) {
	e := newSASLEnv(t, "PLAIN")
	e.publishEvents(t, "logs.api", 0, 20)
	p := startKafkaesk(t, e.tailArgs(e.user, "logs.*", "--from-beginning", "--format", "json")...)
	for i := range 20 { // partitions come in any order
		p.waitOutput(t, fmt.Sprintf(`"seq":%d}`, i), 60*time.Second)
	}
	e.publishEvents(t, "logs.api", 20, 25)
	e.publishEvents(t, "logs.new", 25, 30) // a stream that appears meanwhile: read from its start
	for i := 20; i < 30; i++ {
		p.waitOutput(t, fmt.Sprintf(`"seq":%d}`, i), 60*time.Second)
	}
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	assert.Equal(t, seqRange(0, 30), jsonSeqs(t, p.stdout()))
}

// Without credentials, or with wrong ones, tail fails at once with an
// error naming the broker.
func TestTailWithoutSASLCredentialsFailsNamingTheBroker(t *testing.T) {
	e := newSASLEnv(t, "SCRAM-SHA-512")
	e.publishEvents(t, "logs.api", 0, 3)
	wrong := e.user
	wrong.Password = "guess"
	for _, tt := range []struct {
		name string
		user kafkaesktest.SASL
	}{
		{"none", kafkaesktest.SASL{}},
		{"wrong password", wrong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, more := range [][]string{{"--exit"}, {"--from-beginning"}} {
				start := time.Now()
				stdout, stderr, code := runKafkaesk(t, "", e.tailArgs(tt.user, append([]string{"logs.api"}, more...)...)...)
				assert.Equal(t, 1, code, "%v: %s", more, stderr)
				assert.Empty(t, stdout)
				assert.Contains(t, stderr, e.broker.Addr(), more)
				assert.Less(t, time.Since(start), 20*time.Second, more)
			}
		})
	}
}

// A group tail with --exit is done when every non-empty partition is
// assigned and finished up to its end; a partition the group has no
// offset for counts as done when tail started from now (the group starts
// it at its end, no earlier than the end tail took), and not when it
// started from the beginning.
func TestTailGroupEndsDone(t *testing.T) {
	parts := map[string][]core.PartitionOffsets{"t": {{Partition: 0, First: 0, End: 10}, {Partition: 1, First: 5, End: 5}}}
	state := func(finished, committed int64) []core.PartitionState {
		return []core.PartitionState{{Topic: "t", Partition: 0, Finished: finished, Committed: committed, HighWaterMark: -1}}
	}
	for _, tt := range []struct {
		name          string
		fromBeginning bool
		states        []core.PartitionState
		want          bool
	}{
		{"not assigned", true, nil, false},
		{"not assigned, from now", false, nil, false},
		{"no offset, from the beginning", true, state(-1, -1), false},
		{"no offset, from now", false, state(-1, -1), true},
		{"committed short of the end", false, state(7, 7), false},
		{"finished short of the end", true, state(9, 3), false},
		{"finished at the end", true, state(10, 3), true},
		{"committed at the end", false, state(10, 10), true},
		{"another topic's partition", true, []core.PartitionState{{Topic: "u", Partition: 0, Finished: 10, Committed: 10}}, false},
	} {
		e := &groupEnds{fromBeginning: tt.fromBeginning, parts: parts}
		assert.Equal(t, tt.want, e.done(tt.states), tt.name)
	}
	empty := &groupEnds{parts: map[string][]core.PartitionOffsets{"t": {{Partition: 0, First: 3, End: 3}}}}
	assert.True(t, empty.done(nil), "only empty partitions: nothing to wait for")
}
