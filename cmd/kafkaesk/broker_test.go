package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
)

// listenLine is how startBroker announces the address.
var listenLine = regexp.MustCompile(`embedded broker listening on (127\.0\.0\.1:[0-9]+)$`)

// startBrokerProc starts "kafkaesk broker --port 0" with more args and
// returns the process and the address it printed.
func startBrokerProc(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := startKafkaesk(t, append([]string{"broker", "--port", "0"}, args...)...)
	line := p.waitOutput(t, "listening on", 30*time.Second)
	m := listenLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("broker said %q, want %q", line, listenLine)
	}
	return p, m[1]
}

// stopBrokerProc sends SIGINT and requires a clean exit.
func stopBrokerProc(t *testing.T, p *proc) {
	t.Helper()
	p.signal(os.Interrupt)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("broker exit code after SIGINT: got %d, want 0", code)
	}
	if !strings.Contains(p.stderr(), "kafkaesk: embedded broker stopped") {
		t.Errorf("stderr after SIGINT: %q, want the stop said", p.stderr())
	}
}

// publishTo publishes n documents {"n":i} with the binary and requires
// success.
func publishTo(t *testing.T, addr, stream string, from, n int) {
	t.Helper()
	var in strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&in, "{\"n\":%d}\n", i)
	}
	_, stderr, code := runKafkaesk(t, in.String(), "publish", "--kafka-servers", addr, "--stream", stream, "--schema", "Count:1")
	if want := fmt.Sprintf("published %d, failed 0 to %s", n, stream); code != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("publish: exit code %d, stderr:\n%s\nwant 0 and %q", code, stderr, want)
	}
}

// readNs reads n messages of topic and returns the set of their data's "n".
func readNs(t *testing.T, addr, topic string, n int) map[int]bool {
	t.Helper()
	got := map[int]bool{}
	for _, m := range testutil.ReadTopic(t, []string{addr}, topic, n, 30*time.Second) {
		var v struct {
			Schema string          `json:"schema"`
			Data   struct{ N int } `json:"data"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || v.Schema != "Count:1" {
			t.Fatalf("message %s: schema %q, %v", m.Value, v.Schema, err)
		}
		got[v.Data.N] = true
	}
	return got
}

// "kafkaesk broker --port 0" listens on a free port and says which; a
// client publishes to it; SIGINT stops it with exit code 0.
func TestBrokerPortZeroServesAndStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	p, addr := startBrokerProc(t)
	if strings.HasSuffix(addr, ":9092") {
		t.Errorf("--port 0 listens on %s, the default port", addr)
	}
	publishTo(t, addr, "orders", 0, 3)
	if got := readNs(t, addr, "orders", 3); len(got) != 3 || !got[0] || !got[1] || !got[2] {
		t.Errorf("read back n = %v, want 0, 1, 2", got)
	}
	stopBrokerProc(t, p)
}

// SIGTERM stops the broker as SIGINT does.
func TestBrokerStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p, _ := startBrokerProc(t)
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM: got %d, want 0", code)
	}
}

// With --data-dir, what was published survives a restart of the broker,
// and the restarted broker takes more.
func TestBrokerDataDirSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, addr := startBrokerProc(t, "--data-dir", dir)
	publishTo(t, addr, "kept", 0, 5)
	stopBrokerProc(t, p)

	p, addr = startBrokerProc(t, "--data-dir", dir)
	publishTo(t, addr, "kept", 5, 2)
	got := readNs(t, addr, "kept", 7)
	for i := range 7 {
		if !got[i] {
			t.Errorf("after the restart, message n=%d is missing; read %v", i, got)
		}
	}
	stopBrokerProc(t, p)
}

// --partitions sets the partitions of topics the broker creates by itself,
// as when a client produces to a topic that does not exist. The client is
// a plain kafka-go writer that leaves the creation to the broker: core's
// producer creates a missing topic itself, with its own Config.Partitions
// (num_partitions), so it never gets the broker's auto-creation.
func TestBrokerPartitionsOfAutoCreatedTopics(t *testing.T) {
	t.Parallel()
	p, addr := startBrokerProc(t, "--partitions", "3")
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Transport: tr, AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, kafka.Message{Topic: "auto", Value: []byte(`{"schema":"X:1","data":{}}`)})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	tr.CloseIdleConnections()
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.Partitions(t, []string{addr}, "auto"); len(got) != 3 {
		t.Errorf("auto-created topic has partitions %v, want 3", got)
	}
	stopBrokerProc(t, p)
}

// kafkaesk's own publishers create a missing stream's topic themselves,
// with num_partitions (default 7), whatever the broker's --partitions.
func TestBrokerPartitionsDoNotApplyToKafkaeskPublishers(t *testing.T) {
	t.Parallel()
	p, addr := startBrokerProc(t, "--partitions", "3")
	app, err := core.New(core.Config{Brokers: []string{addr}, Partitions: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.RawPublish(ctx, "created", []byte(`{"schema":"X:1","data":{}}`))
	if cerr := app.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.Partitions(t, []string{addr}, "created"); len(got) != 5 {
		t.Errorf("topic created by the producer has partitions %v, want Config.Partitions 5", got)
	}
	stopBrokerProc(t, p)
}

// The broker takes only its flags; each bad one is a usage error, exit
// code 2, naming it.
func TestBrokerUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "extra"}, `unexpected argument "extra"`},
		{[]string{"broker", "--port", "-1"}, "--port: -1 is not a port"},
		{[]string{"broker", "--port", "65536"}, "--port: 65536 is not a port"},
		{[]string{"broker", "--port", "x"}, `invalid value "x" for flag --port`},
		{[]string{"broker", "--partitions", "0"}, "--partitions: 0 is less than allowed 1"},
		{[]string{"broker", "--kafka-servers", "h:1"}, "flag provided but not defined: --kafka-servers"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runMain(context.Background(), "", tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("exit code %d, stdout %q, stderr:\n%s\nwant 2 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

// A port already taken is an error (exit code 1) that says so.
func TestBrokerPortInUse(t *testing.T) {
	t.Parallel()
	p, addr := startBrokerProc(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	_, stderr, code := runKafkaesk(t, "", "broker", "--port", port)
	if code != 1 || !strings.Contains(stderr, "127.0.0.1:"+port) {
		t.Errorf("second broker on %s: exit code %d, stderr:\n%s\nwant 1 naming the address", port, code, stderr)
	}
	stopBrokerProc(t, p)
}

// settingsLine is how the broker tells clients their --kafka-settings.
var settingsLine = regexp.MustCompile(`clients connect with --kafka-settings '(.*)' \(the user's password for PASSWORD\)$`)

// The broker can require TLS (certificates it makes), a client
// certificate and SASL; it tells the settings clients connect with, and
// a client that uses them publishes and reads, one that does not is
// refused.
func TestBrokerWithTLSAndSASL(t *testing.T) {
	const password = "broker-test-s3cret"
	t.Setenv(envBrokerSASLPassword, password)
	for _, tc := range []struct {
		name     string
		args     []string
		protocol string
	}{
		{"SASL_SSL", []string{"--tls-dir", t.TempDir(), "--sasl-mechanism", "scram-sha-256", "--sasl-user", "alice"}, "SASL_SSL"},
		{"SASL_PLAINTEXT", []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "bob"}, "SASL_PLAINTEXT"},
		{"mutual TLS", []string{"--tls-dir", t.TempDir(), "--mtls"}, "SSL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, addr := startBrokerProc(t, tc.args...)
			m := settingsLine.FindStringSubmatch(p.waitOutput(t, "clients connect with", 30*time.Second))
			require.NotNil(t, m, p.stderr())
			assert.NotContains(t, p.stderr(), password)
			settings := strings.Replace(m[1], `"PASSWORD"`, `"`+password+`"`, 1)
			assert.Contains(t, settings, `"security_protocol":"`+tc.protocol+`"`)

			_, stderr, code := runKafkaesk(t, logLines(0, 3), "publish", "--kafka-servers", addr, "--kafka-settings", settings,
				"--stream", "logs.sec", "--schema", "PydanticLogModel:1")
			require.Equal(t, 0, code, stderr)
			stdout, stderr, code := runKafkaesk(t, "", "tail", "--kafka-servers", addr, "--kafka-settings", settings,
				"logs.sec", "--from-beginning", "--exit", "--format", "json")
			require.Equal(t, 0, code, stderr)
			assert.Equal(t, seqRange(0, 3), jsonSeqs(t, stdout))

			_, stderr, code = runKafkaesk(t, "", "tail", "--kafka-servers", addr, "logs.sec", "--exit")
			assert.Equal(t, 1, code, "no settings: refused")
			assert.Contains(t, stderr, "broker "+addr+": ")
			stopBrokerProc(t, p)
		})
	}
}

func TestBrokerSecurityUsageErrors(t *testing.T) {
	t.Setenv(envBrokerSASLPassword, "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "--mtls"}, "--mtls needs --tls-dir"},
		{[]string{"broker", "--sasl-user", "u"}, "need --sasl-mechanism"},
		{[]string{"broker", "--sasl-mechanism", "PLAIN"}, "needs --sasl-user"},
		{[]string{"broker", "--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, "needs --sasl-password or " + envBrokerSASLPassword},
		{[]string{"broker", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u", "--sasl-password", "p"}, `--sasl-mechanism: "GSSAPI" is not one of`},
	} {
		_, stderr, code := runMain(context.Background(), "", tt.args...)
		assert.Equal(t, 2, code, "%v: %s", tt.args, stderr)
		assert.Contains(t, stderr, tt.want, tt.args)
	}
}
