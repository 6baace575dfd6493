package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kafkaesk-go/kafkaesk/asyncapi/asyncapitest"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// Every application, subscription and embedded broker the steps start
// must be gone once run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The lines the steps print, the same on every run.
const wantSteps = `(a) published Content:1 foo=bar to content.edited.Resource
(b) group readme-subscribe got Content:1 from content.edited.Resource: foo=bar
(c) mounted a router; its group readme-router got Content:1 from content.edited.Resource: foo=bar
(d) group readme-manual got foo=bar and committed it
(d) published foo=qux; a new member of readme-manual got foo=qux, and not foo=bar again
(e) published foo=baz to review.content with headers x-request-id=req-42
(e) group readme-indexer got foo=baz with headers x-request-id=req-42 and published ContentIndexed to indexed.content
(e) group readme-audit got ContentIndexed:1 from indexed.content: foo=baz indexer=readme-indexer with headers x-request-id=req-42
all steps saw their messages
`

// runPubsub runs the program in-process, bounded by the test's own
// deadline on top of --timeout, and returns its exit code and output.
func runPubsub(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errs strings.Builder
	code = run(ctx, args, &out, &errs)
	return code, out.String(), errs.String()
}

func TestRunAgainstBrokers(t *testing.T) {
	brokers := kafkaesktest.Brokers(t) // KAFKA_BROKERS, or an embedded broker
	prefix := kafkaesktest.TopicPrefix(t)
	code, stdout, stderr := runPubsub(t,
		"--kafka-servers", strings.Join(brokers, ","),
		"--topic-prefix", prefix,
		"--timeout", "60s",
	)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.Equal(t, wantSteps, stdout)
	assert.NotContains(t, stderr, "no --kafka-servers", "the given brokers are used")
	assert.NotContains(t, stderr, "no --topic-prefix", "the given prefix is used")
}

// `go run ./examples/pubsub` on a machine with nothing but Go: an embedded
// broker and a prefix of the run's own.
func TestRunWithoutFlagsStartsAnEmbeddedBroker(t *testing.T) {
	t.Setenv(core.EnvKafkaServers, "")
	t.Setenv(core.EnvTopicPrefix, "")
	code, stdout, stderr := runPubsub(t)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.Equal(t, wantSteps, stdout)
	assert.Contains(t, stderr, "no --kafka-servers: started an embedded broker at 127.0.0.1:")
	assert.Contains(t, stderr, "no --topic-prefix: this run's topics start with pubsub-")
}

func TestRunBadFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"bad timeout", []string{"--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"empty servers", []string{"--kafka-servers", ","}, `invalid value "," for flag -kafka-servers`},
		{"bad settings", []string{"--kafka-settings", `{"lingr_ms": 5}`}, `flag --kafka-settings (value not shown: it may hold a password): unknown setting "lingr_ms"`},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPubsub(t, tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// A broker that does not answer fails step (a) at once, naming it.
func TestRunUnreachableBroker(t *testing.T) {
	addr := closedPort(t)
	code, stdout, stderr := runPubsub(t, "--kafka-servers", addr, "--topic-prefix", "unused.")
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "pubsub: (a) publish: kafkaesk: no Kafka broker reachable at "+addr)
}

// closedPort returns the address of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// The example's --kafka-settings reach a secured cluster: SASL_SSL with
// SCRAM-SHA-256.
func TestRunOverSASLSSL(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	code, stdout, stderr := runPubsub(t,
		"--kafka-servers", strings.Join(s.SASLBrokers, ","),
		"--kafka-settings", s.Settings(s.Users[1]),
		"--topic-prefix", kafkaesktest.TopicPrefix(t),
		"--timeout", "60s",
	)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.Equal(t, wantSteps, stdout)
}

// --asyncapi prints the example's contract, a valid AsyncAPI 3.0
// document, without a broker.
func TestRunPrintsAValidAsyncAPIDocument(t *testing.T) {
	code, stdout, stderr := runPubsub(t, "--asyncapi", "--topic-prefix", "demo.")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, asyncapitest.ValidateJSON([]byte(stdout)))
	for _, s := range []string{`"asyncapi": "3.0.0"`, `"title": "kafkaesk pubsub example"`, `"address": "demo.content.edited.Resource"`,
		`"const": "Content:1"`, `"demo.readme-audit"`, `"retention.ms": 86400000`} {
		assert.Contains(t, stdout, s)
	}
}
