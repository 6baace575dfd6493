package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// kafkaArgs returns the flags pointing a command at the test cluster
// (KAFKA_BROKERS or an embedded broker) under a topic prefix of the
// test's own.
func kafkaArgs(t *testing.T) (brokers []string, prefix string, args []string) {
	t.Helper()
	brokers = kafkaesktest.Brokers(t)
	prefix = kafkaesktest.TopicPrefix(t)
	return brokers, prefix, []string{"--kafka-servers", strings.Join(brokers, ","), "--topic-prefix", prefix}
}

// publishArgs is "publish" followed by args.
func publishArgs(args ...[]string) []string {
	return slices.Concat(append([][]string{{"publish"}}, args...)...)
}

// values returns the message values of msgs, sorted.
func values(msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	slices.Sort(out)
	return out
}

// readValues reads n messages of topic and returns their values, sorted.
func readValues(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	var vs [][]byte
	for _, m := range testutil.ReadTopic(t, brokers, topic, n, 30*time.Second) {
		vs = append(vs, m.Value)
	}
	if got := testutil.MessageCount(t, brokers, topic); got != int64(n) {
		t.Errorf("topic %s holds %d messages, want %d", topic, got, n)
	}
	return values(vs)
}

// The binary publishes 1000 stdin lines as log events: each one is
// wrapped in the PydanticLogModel:1 envelope, compacted, validated, and
// read back from the stream's topic, which has the configured partitions.
func TestPublishThousandLogEventsFromStdin(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	var in strings.Builder
	var want [][]byte
	for i := range 1000 {
		fmt.Fprintf(&in, "{ \"message\": \"event %d\", \"level\": 20, \"timestamp\": \"2026-11-21T15:04:05.%06dZ\", \"n\": %d }\n", i, i, i)
		want = append(want, fmt.Appendf(nil, `{"schema":"PydanticLogModel:1","data":{"message":"event %d","level":20,"timestamp":"2026-11-21T15:04:05.%06dZ","n":%d}}`, i, i, i))
	}
	stdout, stderr, code := runKafkaesk(t, in.String(), publishArgs([]string{"--stream", "logs.cli", "--schema", "PydanticLogModel:1"}, kafka)...)
	if code != 0 || stdout != "" || strings.TrimSpace(stderr) != "kafkaesk publish: published 1000, failed 0 to logs.cli" {
		t.Fatalf("exit code %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	topic := prefix + "logs.cli"
	got := readValues(t, brokers, topic, 1000)
	if w := values(want); !slices.Equal(got, w) {
		t.Fatalf("read back %d values; first differing: %q", len(got), firstDiff(got, w))
	}
	for _, v := range got[:3] {
		if e, err := record.DecodeEvent([]byte(v)); err != nil || e.Level != 20 {
			t.Errorf("DecodeEvent(%s) = %+v, %v", v, e, err)
		}
	}
	if n := len(testutil.Partitions(t, brokers, topic)); n != core.DefaultPartitions {
		t.Errorf("topic %s has %d partitions, want the configured %d", topic, n, core.DefaultPartitions)
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %s, want %s", got[i], want[i])
		}
	}
	return fmt.Sprintf("got %d values, want %d", len(got), len(want))
}

// Malformed JSON on stdin line 3 of 5 is reported with its line number;
// the 4 valid lines are published; the exit code is 1.
func TestPublishMalformedLineIsReportedAndSkipped(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	in := "{\"n\":1}\n{\"n\":2}\n{\"n\":3,\n{\"n\":4}\n{\"n\":5}\n"
	_, stderr, code := runKafkaesk(t, in, publishArgs([]string{"--stream", "s", "--schema", "Count:1"}, kafka)...)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"stdin:3: invalid JSON: ", "kafkaesk publish: published 4, failed 1 to s\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr:\n%s\nwant %q", stderr, want)
		}
	}
	if strings.Count(stderr, "stdin:") != 1 {
		t.Errorf("stderr reports other lines:\n%s", stderr)
	}
	want := []string{`{"schema":"Count:1","data":{"n":1}}`, `{"schema":"Count:1","data":{"n":2}}`, `{"schema":"Count:1","data":{"n":4}}`, `{"schema":"Count:1","data":{"n":5}}`}
	if got := readValues(t, brokers, prefix+"s", 4); !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
}

// A document that does not match --schema-file is refused with its line
// number and the failing field; the others are published.
func TestPublishSchemaFileRefusesMismatch(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	file := filepath.Join(t.TempDir(), "payment.json")
	schema := `{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer","minimum":0}}}`
	if err := os.WriteFile(file, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	in := "{\"amount\":5}\n\n{\"amount\":-1}\n{\"amount\":7,\"note\":\"x\"}\n{\"note\":\"no amount\"}\n"
	_, stderr, code := runKafkaesk(t, in, publishArgs([]string{"--stream", "payments", "--schema", "Payment:2", "--schema-file", file}, kafka)...)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		"stdin:3: does not match schema Payment:2: field /amount: ",
		"stdin:5: does not match schema Payment:2: field (document): ",
		"published 2, failed 2 to payments",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr:\n%s\nwant %q", stderr, want)
		}
	}
	want := []string{`{"schema":"Payment:2","data":{"amount":5}}`, `{"schema":"Payment:2","data":{"amount":7,"note":"x"}}`}
	if got := readValues(t, brokers, prefix+"payments", 2); !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
}

// A missing or invalid --schema-file is an error naming the file, before
// anything is published or even connected to.
func TestPublishBadSchemaFile(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	notSchema := filepath.Join(dir, "wrong.json")
	for name, text := range map[string]string{notJSON: `{"type":`, notSchema: `{"type":"no such type"}`} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{filepath.Join(dir, "missing.json"), notJSON, notSchema} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			// No broker listens on 127.0.0.1:1: reaching it would fail differently.
			_, stderr, code := runMain(context.Background(), "{}\n", "publish", "--kafka-servers", "127.0.0.1:1",
				"--stream", "s", "--schema", "Payment:1", "--schema-file", file)
			if code != 1 || !strings.Contains(stderr, "schema file "+file+": ") || strings.Contains(stderr, "127.0.0.1:1") {
				t.Errorf("exit code %d, stderr:\n%s\nwant 1 naming the file only", code, stderr)
			}
		})
	}
}

// Without --schema, each line must be a whole envelope, and it is
// published as it is (so tail --format json output replays); a log event
// envelope is validated; anything else is refused with its line number.
func TestPublishEnvelopesAsTheyAre(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	lines := []string{
		`{"schema":"Order:3","data":{"id":"o-1"}}`,
		`{"data": {"id": "o-2"}, "schema": "Order:3"}`,
		`{"id":"o-3"}`,
		`{"schema":"Order:3"}`,
		`{"schema":"PydanticLogModel:1","data":{"message":"hi","level":20}}`,
		`{"schema":"PydanticLogModel:2","data":{"message":"hi","level":"INFO"}}`,
		`[1,2]`,
	}
	_, stderr, code := runMain(context.Background(), strings.Join(lines, "\r\n")+"\r\n", publishArgs([]string{"--stream", "replay"}, kafka)...)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		"stdin:3: not a kafkaesk envelope",
		"stdin:4: not a kafkaesk envelope",
		"stdin:6: does not match schema PydanticLogModel:2: field /level: ",
		"stdin:7: not a kafkaesk envelope",
		"published 3, failed 4 to replay",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr:\n%s\nwant %q", stderr, want)
		}
	}
	want := []string{lines[0], lines[1], lines[4]}
	slices.Sort(want)
	if got := readValues(t, brokers, prefix+"replay", 3); !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
}

// --data publishes one document; --key sets the record key; a bad --data
// is refused before connecting.
func TestPublishDataWithKey(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	for range 2 {
		_, stderr, code := runMain(context.Background(), "ignored", publishArgs([]string{"--stream", "keyed", "--schema", "Order:1", "--key", "customer-7", "--data", `{"id": 1}`}, kafka)...)
		if code != 0 || !strings.Contains(stderr, "published 1, failed 0 to keyed") {
			t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
		}
	}
	msgs := testutil.ReadTopic(t, brokers, prefix+"keyed", 2, 30*time.Second)
	for _, m := range msgs {
		if string(m.Key) != "customer-7" || string(m.Value) != `{"schema":"Order:1","data":{"id":1}}` {
			t.Errorf("message key %q value %s", m.Key, m.Value)
		}
	}
	if msgs[0].Partition != msgs[1].Partition {
		t.Errorf("one key went to partitions %d and %d", msgs[0].Partition, msgs[1].Partition)
	}

	_, stderr, code := runMain(context.Background(), "", "publish", "--kafka-servers", "127.0.0.1:1", "--stream", "s", "--schema", "Order:1", "--data", `{"id":`)
	if code != 1 || !strings.Contains(stderr, "--data: invalid JSON: ") || !strings.Contains(stderr, "published 0, failed 1 to s") || strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("bad --data: exit code %d, stderr:\n%s", code, stderr)
	}
}

// An unreachable broker fails within a few seconds, naming its address,
// with exit code 1, whether the documents come from stdin or --data.
func TestPublishUnreachableBroker(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--stream", "s", "--schema", "Order:1", "--data", `{"id":1}`},
		{"--stream", "s", "--schema", "Order:1"},
	} {
		start := time.Now()
		_, stderr, code := runKafkaesk(t, "{\"id\":1}\n", publishArgs([]string{"--kafka-servers", "127.0.0.1:1"}, args)...)
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("took %v, want under 10s", elapsed)
		}
		if code != 1 || !strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("exit code %d, stderr:\n%s\nwant 1 naming 127.0.0.1:1", code, stderr)
		}
	}
}

// Without --kafka-servers, publish looks for a broker on 127.0.0.1:9092
// and says how to get one.
func TestPublishDefaultsToLocalBroker(t *testing.T) {
	if localBroker != "127.0.0.1:9092" {
		t.Errorf("localBroker is %s, want 127.0.0.1:9092", localBroker)
	}
	// Never publish to whatever listens on 9092 on this machine: point the
	// default at a closed port and check that publish used it.
	defer func(was string) { localBroker = was }(localBroker)
	localBroker = "127.0.0.1:1"
	t.Setenv(core.EnvKafkaServers, "")
	_, stderr, code := runMain(context.Background(), "", "publish", "--stream", "default-broker", "--schema", "Order:1", "--data", "{}")
	if code != 1 || !strings.Contains(stderr, "127.0.0.1:1") || !strings.Contains(stderr, "kafkaesk broker") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 naming the default broker and suggesting 'kafkaesk broker'", code, stderr)
	}
}

// A message the broker refuses counts as failed, with its line number,
// and the others are still published.
func TestPublishDeliveryFailureCounts(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2000"}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	big := `{"pad":"` + strings.Repeat("x", 5000) + `"}`
	in := "{\"n\":1}\n" + big + "\n{\"n\":3}\n"
	// One message per batch, so that the broker refuses the big one alone.
	_, stderr, code := runMain(context.Background(), in, "publish", "--kafka-servers", addr, "--kafka-settings", `{"max_batch_messages":1}`,
		"--stream", "s", "--schema", "Pad:1")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"stdin:2: kafkaesk: publish to topic \"s\": ", "published 2, failed 1 to s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr:\n%s\nwant %q", stderr, want)
		}
	}
	if got := testutil.MessageCount(t, []string{addr}, "s"); got != 2 {
		t.Errorf("topic holds %d messages, want 2", got)
	}
}

// A message larger than the producer's batch limit is refused before it
// is sent, with its line number.
func TestPublishLineOverBatchLimit(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	big := `{"pad":"` + strings.Repeat("x", 5000) + `"}`
	_, stderr, code := runMain(context.Background(), big+"\n{\"n\":2}\n", publishArgs([]string{"--stream", "s", "--schema", "Pad:1", "--kafka-settings", `{"max_batch_size":2000}`}, kafka)...)
	if code != 1 || !strings.Contains(stderr, "stdin:1: ") || !strings.Contains(stderr, "larger than the batch limit") || !strings.Contains(stderr, "published 1, failed 1 to s") {
		t.Errorf("exit code %d, stderr:\n%s", code, stderr)
	}
	if got := readValues(t, brokers, prefix+"s", 1); len(got) != 1 || got[0] != `{"schema":"Pad:1","data":{"n":2}}` {
		t.Errorf("published %q", got)
	}
}

// shortFlush makes publish wait at most d for outcomes, for one test,
// which must not run in parallel with others.
func shortFlush(t *testing.T, d time.Duration) {
	was := flushTimeout
	flushTimeout = d
	t.Cleanup(func() { flushTimeout = was })
}

// While the broker refuses every write with a retriable error, publish
// retries until its flush deadline, then reports each line as failed (none
// reached the topic), exits 1, and takes no longer than the deadline.
func TestPublishRetriesThenFailsWhileTheBrokerRefuses(t *testing.T) {
	shortFlush(t, 2*time.Second)
	broker := kafkaesktest.New(t, nil)
	prefix := kafkaesktest.TopicPrefix(t)
	createStream(t, broker.Brokers(), prefix, "s")
	resume := broker.Pause()
	defer resume()
	start := time.Now()
	_, stderr, code := runMain(context.Background(), "{\"n\":1}\n{\"n\":2}\n",
		"publish", "--kafka-servers", broker.Addr(), "--topic-prefix", prefix, "--stream", "s", "--schema", "N:1")
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v, want about the 2s flush deadline", elapsed)
	}
	if code != 1 || !strings.Contains(stderr, "stdin:1: ") || !strings.Contains(stderr, "stdin:2: ") ||
		!strings.Contains(stderr, "published 0, failed 2 to s\n") || strings.Contains(stderr, "unknown") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1, both lines failed, none unknown", code, stderr)
	}
	resume()
	if got := testutil.MessageCount(t, broker.Brokers(), prefix+"s"); got != 0 {
		t.Errorf("topic holds %d messages; a line reported failed must not be in it", got)
	}
}

// When the flush deadline passes while a request carrying the lines is
// unanswered, their outcome is unknown: publish says so, apart from the
// failures, and exits 1. They may be in the topic after all (here, they
// are once the broker answers).
func TestPublishReportsUnknownOutcomes(t *testing.T) {
	shortFlush(t, time.Second)
	broker := kafkaesktest.New(t, nil)
	prefix := kafkaesktest.TopicPrefix(t)
	createStream(t, broker.Brokers(), prefix, "s")
	release := broker.SlowProduce(time.Hour)
	defer release()
	start := time.Now()
	_, stderr, code := runMain(context.Background(), "{\"n\":1}\n{\"n\":2}\n",
		"publish", "--kafka-servers", broker.Addr(), "--topic-prefix", prefix, "--stream", "s", "--schema", "N:1")
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v, want about the 1s flush deadline", elapsed)
	}
	if code != 1 || !strings.Contains(stderr, "stdin:1: ") || !strings.Contains(stderr, core.ErrOutcomeUnknown.Error()) ||
		!strings.Contains(stderr, "published 0, failed 0 to s; 2 with an unknown outcome, which may be in the topic") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1 and both lines unknown, not failed", code, stderr)
	}
	release()
	if got := readValues(t, broker.Brokers(), prefix+"s", 2); len(got) != 2 {
		t.Errorf("after the broker answered, the topic holds %q", got)
	}
}

// When the producer's buffer stays full for a request timeout, publish
// stops reading stdin instead of waiting as long again for every line
// left, and exits 1 saying where it stopped.
func TestPublishStopsReadingWhenTheBufferStaysFull(t *testing.T) {
	shortFlush(t, time.Second)
	broker := kafkaesktest.New(t, nil)
	prefix := kafkaesktest.TopicPrefix(t)
	createStream(t, broker.Brokers(), prefix, "s")
	resume := broker.Pause()
	defer resume()
	var in strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&in, "{\"n\":%d}\n", i)
	}
	start := time.Now()
	_, stderr, code := runMain(context.Background(), in.String(),
		"publish", "--kafka-servers", broker.Addr(), "--topic-prefix", prefix, "--stream", "s", "--schema", "N:1",
		"--kafka-settings", `{"max_buffered_messages":2,"request_timeout_ms":500}`)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %v, want about a request timeout and the flush deadline", elapsed)
	}
	if code != 1 || !strings.Contains(stderr, "stdin:3: ") || !strings.Contains(stderr, "stopped reading stdin at line 3") ||
		!strings.Contains(stderr, "published 0, failed 3 to s") || strings.Contains(stderr, "stdin:4: ") {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1, stopped at line 3", code, stderr)
	}
}

// A signal while publish waits for stdin stops it at once; what was read
// is published, and the stop is not a failure.
func TestPublishStopsOnSignalWhileReading(t *testing.T) {
	t.Parallel()
	brokers, prefix, kafka := kafkaArgs(t)
	createStream(t, brokers, prefix, "s") // so that ReadTopic can wait on it
	p := startKafkaesk(t, publishArgs([]string{"--stream", "s", "--schema", "Order:1"}, kafka)...)
	if _, err := io.WriteString(p.stdin, "{\"id\":1}\n"); err != nil {
		t.Fatal(err)
	}
	// Once the line is in the topic, publish is waiting for the next one.
	testutil.ReadTopic(t, brokers, prefix+"s", 1, 30*time.Second)
	p.signal(os.Interrupt)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code after SIGINT: %d, want 0", code)
	}
	if want := "published 1, failed 0 to s (interrupted before the end of stdin)"; !strings.Contains(p.stderr(), want) {
		t.Errorf("stderr:\n%s\nwant %q", p.stderr(), want)
	}
}

// createStream creates the topic of stream.
func createStream(t *testing.T, brokers []string, prefix, stream string) {
	t.Helper()
	app, err := core.New(core.Config{Brokers: brokers, TopicPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.EnsureStream(ctx, stream, 0)
	if cerr := app.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Command-line mistakes are usage errors, exit code 2, naming the flag.
func TestPublishUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "{}"}, "flag --stream is required"},
		{[]string{"--stream", "s", "extra"}, `unexpected argument "extra"`},
		{[]string{"--stream", "s", "--schema", "Order"}, `flag --schema: "Order" has no version`},
		{[]string{"--stream", "s", "--schema", "Order:"}, `flag --schema: "Order:" has no version`},
		{[]string{"--stream", "s", "--schema", ":1"}, `flag --schema: ":1" has no name`},
		{[]string{"--stream", "s", "--schema", "Order:x"}, `flag --schema: version "x" is not a whole number`},
		{[]string{"--stream", "s", "--schema", "Order:0"}, `flag --schema: version "0" is not a whole number`},
		{[]string{"--stream", "s", "--schema", "Order:-1"}, `flag --schema: version "-1" is not a whole number`},
		{[]string{"--stream", "s", "--schema", "Order:+1"}, `flag --schema: version "+1" is not a whole number`},
		{[]string{"--stream", "s", "--schema", "Order:1.5"}, `flag --schema: version "1.5" is not a whole number`},
		{[]string{"--stream", "s", "--schema", "Order:1:2"}, `flag --schema: version "1:2" is not a whole number`},
		{[]string{"--stream", "s", "--schema", `Or"der:1`}, `flag --schema: name "Or\"der" has a character`},
		{[]string{"--stream", "s", "--schema-file", "x.json"}, "flag --schema-file needs --schema"},
		{[]string{"--stream", "s", "--kafka-servers", "nohost"}, "--kafka-servers"},
		{[]string{"--stream", "s", "--replication-factor", "x"}, "--replication-factor"},
		{[]string{"--stream", "s", "--nope"}, "flag provided but not defined: --nope"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runMain(context.Background(), "", publishArgs(tt.args)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit code %d, stderr:\n%s\nwant 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// --schema Name:01 is the same schema as Name:1, and the envelope says 1.
func TestParseSchemaKeyNormalises(t *testing.T) {
	id, v, err := parseSchemaKey("Order:007")
	if err != nil || id != "Order" || v != 7 {
		t.Errorf("parseSchemaKey(Order:007) = %q, %d, %v; want Order, 7", id, v, err)
	}
}

// readLines passes every non-blank line with its number, up to the
// limit, whatever the line ends are; a line over the limit is reported
// alone and reading goes on. A 17 MiB line is read whole at the real
// limit.
func TestReadLines(t *testing.T) {
	type line struct {
		n       int
		text    string
		tooLong bool
	}
	read := func(in io.Reader, maxLen int) []line {
		var got []line
		readLines(in, maxLen, func(l inputLine) bool {
			if l.err != nil {
				t.Fatalf("line %d: %v", l.n, l.err)
			}
			got = append(got, line{l.n, string(l.text), l.tooLong})
			return true
		})
		return got
	}
	got := read(strings.NewReader("a\r\n\n  \nbb\n"+strings.Repeat("c", 30)+"\n dd \r\n"+strings.Repeat("e", 20)+"\nlast"), 20)
	want := []line{{1, "a", false}, {4, "bb", false}, {5, "", true}, {6, "dd", false}, {7, strings.Repeat("e", 20), false}, {8, "last", false}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	big := bytes.Repeat([]byte("x"), 17<<20)
	got = read(io.MultiReader(bytes.NewReader(big), strings.NewReader("\n{}\n")), maxLineBytes)
	if len(got) != 2 || got[0].text != string(big) || got[1] != (line{2, "{}", false}) {
		t.Errorf("17 MiB line: read %d lines; first %d bytes", len(got), len(got[0].text))
	}

	// fn returning false stops the reading.
	n := 0
	readLines(strings.NewReader("a\nb\nc\n"), 10, func(inputLine) bool { n++; return false })
	if n != 1 {
		t.Errorf("read %d lines after fn returned false, want 1", n)
	}

	// A failed read is passed on, with the number of the line it cut.
	var last inputLine
	readLines(io.MultiReader(strings.NewReader("a\nb"), errReader{}), 10, func(l inputLine) bool { last = l; return true })
	if !errors.Is(last.err, errBroken) || last.n != 2 {
		t.Errorf("last call: %+v, want line 2 with the read error", last)
	}
}

var errBroken = errors.New("broken pipe")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// The built-in log event schema applies to --schema PydanticLogModel at
// any version, and to other schemas none applies.
func TestLoadSchema(t *testing.T) {
	s, err := loadSchema(record.SchemaID, 3, "")
	if err != nil || s == nil || s.Key() != "PydanticLogModel:3" {
		t.Fatalf("loadSchema(PydanticLogModel, 3) = %v, %v", s, err)
	}
	if err := s.Validate([]byte(`{"level":"x"}`)); err == nil {
		t.Error("the built-in schema accepts a string level")
	}
	if s, err := loadSchema("Order", 1, ""); s != nil || err != nil {
		t.Errorf("loadSchema(Order, 1) = %v, %v; want nil, nil", s, err)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(s.JSONSchema(), &raw); err != nil {
		t.Errorf("schema document: %v", err)
	}
}

// A spool left by an earlier run (the broker was down when it closed) is
// sent by the next `publish --spool-dir` that opens it, before its own
// document, and the summary accounts for the spool. An unusable
// --spool-dir fails before anything is read, naming the directory.
func TestPublishSpoolDir(t *testing.T) {
	t.Parallel()
	brokers, prefix, args := kafkaArgs(t)
	dir := t.TempDir()
	stream := "spooled"
	leaveInSpool(t, brokers, prefix, dir, stream, 3)

	_, stderr, code := runKafkaesk(t, "", publishArgs(args, []string{"--spool-dir", dir, "--stream", stream, "--schema", "Order:1", "--data", `{"id":4}`})...)
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
	}
	want := "published 1, failed 0 to " + stream + "; spool " + dir + ": 0 written to it, 3 delivered from it, 0 failed from it, 0 left on disk"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant %q", stderr, want)
	}
	got := readValues(t, brokers, prefix+stream, 4)
	for i, v := range got[:3] {
		if want := fmt.Sprintf(`"left %d"`, i); v != want {
			t.Errorf("message %d is %s, want %s: the spool's, in order, first", i, v, want)
		}
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runKafkaesk(t, "", publishArgs(args, []string{"--spool-dir", file, "--stream", stream, "--schema", "Order:1", "--data", `{}`})...)
	if code == 0 || !strings.Contains(stderr, file) {
		t.Errorf("exit code %d, stderr:\n%s\nwant a failure naming %s", code, stderr, file)
	}
}

// leaveInSpool writes n raw messages "left 0", "left 1", ... for stream
// into the spool dir, as a run whose broker went away leaves them.
func leaveInSpool(t *testing.T, brokers []string, prefix, dir, stream string, n int) {
	t.Helper()
	down := kafkaesktest.New(t, nil)
	app, err := core.New(core.Config{Brokers: down.Brokers(), TopicPrefix: prefix, RequestTimeout: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Spool: core.SpoolConfig{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	for i := range n {
		if err := app.RawPublishAsync(t.Context(), stream, []byte(fmt.Sprintf(`"left %d"`, i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := app.SpoolStats(); st.OnDisk != int64(n) {
		t.Fatalf("the spool holds %d messages, want %d", st.OnDisk, n)
	}
}
