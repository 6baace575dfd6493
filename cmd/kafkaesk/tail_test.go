package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
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
