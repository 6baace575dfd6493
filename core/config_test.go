package core_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// validBrokers is an address New accepts. Nothing needs to listen there:
// New connects to nothing.
var validBrokers = []string{"127.0.0.1:9092"}

// newApp calls core.New and closes the application when the test ends.
func newApp(t *testing.T, cfg core.Config) *core.Application {
	t.Helper()
	app, err := core.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := app.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return app
}

// requireErrorContains fails the test unless err is non-nil and its text
// holds every one of want.
func requireErrorContains(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// Each invalid field is reported by New, naming the field (or the broker
// address) and the offending value.
func TestConfigNewRejectsInvalidField(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  core.Config
		want []string
	}{
		{"no brokers", core.Config{}, []string{"Brokers"}},
		{"empty broker list", core.Config{Brokers: []string{}}, []string{"Brokers"}},
		{"broker without port", core.Config{Brokers: []string{"localhost"}}, []string{`"localhost"`}},
		{"broker empty string", core.Config{Brokers: []string{""}}, []string{`""`}},
		{"broker without host", core.Config{Brokers: []string{":9092"}}, []string{`":9092"`}},
		{"broker port not a number", core.Config{Brokers: []string{"host:abc"}}, []string{`"host:abc"`, `"abc"`}},
		{"broker port too large", core.Config{Brokers: []string{"host:70000"}}, []string{`"host:70000"`, `"70000"`}},
		{"broker port zero", core.Config{Brokers: []string{"host:0"}}, []string{`"host:0"`}},
		{"broker port negative", core.Config{Brokers: []string{"host:-1"}}, []string{`"host:-1"`}},
		{"bad broker among good", core.Config{Brokers: []string{"a:1", "b", "c:3"}}, []string{`"b"`}},
		{"Partitions", core.Config{Brokers: validBrokers, Partitions: -1}, []string{"Partitions -1 is less than allowed 1"}},
		{"ReplicationFactor", core.Config{Brokers: validBrokers, ReplicationFactor: -1}, []string{"ReplicationFactor -1 is less than allowed 0"}},
		{"BatchSize", core.Config{Brokers: validBrokers, BatchSize: -3}, []string{"BatchSize -3 is less than allowed 1"}},
		{"BatchBytes", core.Config{Brokers: validBrokers, BatchBytes: -1}, []string{"BatchBytes -1 is less than allowed 1"}},
		{"MaxBufferedMessages", core.Config{Brokers: validBrokers, MaxBufferedMessages: -10}, []string{"MaxBufferedMessages -10 is less than allowed 1"}},
		{"BatchTimeout negative", core.Config{Brokers: validBrokers, BatchTimeout: -time.Second}, []string{"BatchTimeout -1s is less than allowed 1ms"}},
		{"BatchTimeout below minimum", core.Config{Brokers: validBrokers, BatchTimeout: 500 * time.Microsecond}, []string{"BatchTimeout 500µs is less than allowed 1ms"}},
		{"RequestTimeout", core.Config{Brokers: validBrokers, RequestTimeout: -time.Millisecond}, []string{"RequestTimeout -1ms"}},
		{"DialTimeout", core.Config{Brokers: validBrokers, DialTimeout: time.Nanosecond}, []string{"DialTimeout 1ns"}},
		{"MetadataMaxAge", core.Config{Brokers: validBrokers, MetadataMaxAge: 5 * time.Millisecond}, []string{"MetadataMaxAge 5ms is less than allowed 10ms"}},
		{"CommitInterval", core.Config{Brokers: validBrokers, CommitInterval: -time.Second}, []string{"CommitInterval -1s"}},
		{"SessionTimeout", core.Config{Brokers: validBrokers, SessionTimeout: 500 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond}, []string{"SessionTimeout 500ms is less than allowed 1s"}},
		{"HeartbeatInterval negative", core.Config{Brokers: validBrokers, HeartbeatInterval: -time.Second}, []string{"HeartbeatInterval -1s"}},
		{"HeartbeatInterval equal to SessionTimeout", core.Config{Brokers: validBrokers, HeartbeatInterval: 10 * time.Second, SessionTimeout: 10 * time.Second},
			[]string{"HeartbeatInterval 10s must be less than SessionTimeout 10s"}},
		{"HeartbeatInterval above SessionTimeout", core.Config{Brokers: validBrokers, HeartbeatInterval: 20 * time.Second},
			[]string{"HeartbeatInterval 20s", "SessionTimeout 10s"}},
		{"default HeartbeatInterval above short SessionTimeout", core.Config{Brokers: validBrokers, SessionTimeout: 2 * time.Second},
			[]string{"HeartbeatInterval 3s", "SessionTimeout 2s"}},
		{"RequiredAcks too high", core.Config{Brokers: validBrokers, RequiredAcks: 2}, []string{"RequiredAcks 2"}},
		{"RequiredAcks too low", core.Config{Brokers: validBrokers, RequiredAcks: -2}, []string{"RequiredAcks -2"}},
		{"Compression", core.Config{Brokers: validBrokers, Compression: "brotli"}, []string{"Compression", `"brotli"`}},
		{"SASL mechanism", core.Config{Brokers: validBrokers, SASL: core.SASL{Mechanism: "GSSAPI"}}, []string{"SASL", `"GSSAPI"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, err := core.New(tt.cfg)
			if app != nil {
				t.Errorf("New returned an application with error %v", err)
				_ = app.Close(context.Background())
			}
			requireErrorContains(t, err, tt.want...)
			requireErrorContains(t, err, "invalid config")
		})
	}
}

// Every problem in a Config is reported in the one error New returns, not
// only the first.
func TestConfigNewReportsAllProblems(t *testing.T) {
	_, err := core.New(core.Config{
		Brokers:           []string{"localhost", "host:abc", "ok:1"},
		Partitions:        -1,
		BatchTimeout:      -time.Millisecond,
		RequiredAcks:      7,
		Compression:       "brotli",
		SASL:              core.SASL{Mechanism: "GSSAPI"},
		HeartbeatInterval: time.Minute,
	})
	want := []string{
		`"localhost"`,
		`"host:abc"`,
		"Partitions -1",
		"BatchTimeout -1ms",
		"RequiredAcks 7",
		`"brotli"`,
		`"GSSAPI"`,
		"HeartbeatInterval 1m0s must be less than SessionTimeout 10s",
	}
	requireErrorContains(t, err, want...)
	// errors.Join puts each problem on a line of its own.
	if got := strings.Count(err.Error(), "\n") + 1; got != len(want) {
		t.Errorf("error has %d lines, want %d:\n%v", got, len(want), err)
	}
}

// The boundary values and the other spellings the Config documents are
// accepted.
func TestConfigNewAcceptsValidEdgeCases(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  core.Config
	}{
		{"IPv6 broker", core.Config{Brokers: []string{"[::1]:9092"}}},
		{"host name broker", core.Config{Brokers: []string{"kafka-0.kafka.svc:9093", "b:65535", "c:1"}}},
		{"minimums", core.Config{
			Brokers: validBrokers, Partitions: 1, BatchSize: 1, BatchBytes: 1, MaxBufferedMessages: 1,
			BatchTimeout: time.Millisecond, RequestTimeout: time.Millisecond, DialTimeout: time.Millisecond,
			MetadataMaxAge: 10 * time.Millisecond, CommitInterval: time.Millisecond,
			SessionTimeout: time.Second, HeartbeatInterval: time.Second - time.Millisecond,
		}},
		{"ReplicationFactor set", core.Config{Brokers: validBrokers, ReplicationFactor: 3}},
		{"AcksLeader", core.Config{Brokers: validBrokers, RequiredAcks: core.AcksLeader}},
		{"AcksNone", core.Config{Brokers: validBrokers, RequiredAcks: core.AcksNone}},
		{"Compression upper case", core.Config{Brokers: validBrokers, Compression: "LZ4"}},
		{"Compression none", core.Config{Brokers: validBrokers, Compression: "none"}},
		{"Compression zstd", core.Config{Brokers: validBrokers, Compression: core.CompressionZstd}},
		{"SASL plain lower case", core.Config{Brokers: validBrokers, SASL: core.SASL{Mechanism: "plain", Username: "u", Password: "p"}}},
		{"SASL SCRAM-SHA-256", core.Config{Brokers: validBrokers, SASL: core.SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}}},
		{"SASL SCRAM-SHA-512", core.Config{Brokers: validBrokers, SASL: core.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}},
		{"TLS", core.Config{Brokers: validBrokers, TLS: &tls.Config{MinVersion: tls.VersionTLS12}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			newApp(t, tt.cfg)
		})
	}
}

// New connects to nothing: it returns at once, and the broker it is given
// sees no connection from New or from a Close with nothing published.
func TestConfigNewDoesNotConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	start := time.Now()
	app, err := core.New(core.Config{Brokers: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("New took %v, want it to return at once", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}

	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err == nil {
		conn.Close()
		t.Fatal("the broker address received a connection; New and Close must not connect")
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("Accept: %v, want a timeout", err)
	}
}

// New with a nearly empty Config (on an address where nothing needs to
// listen) succeeds at once.
func TestConfigNewWithOnlyBrokers(t *testing.T) {
	start := time.Now()
	newApp(t, core.Config{Brokers: []string{"127.0.0.1:9092"}})
	if d := time.Since(start); d > time.Second {
		t.Errorf("New took %v, want it to return at once", d)
	}
}

// app.Config returns every default filled in. The values are literal, so
// that a changed default is a failing test rather than a silent change.
func TestConfigDefaults(t *testing.T) {
	app := newApp(t, core.Config{Brokers: []string{"a:1", "b:2"}})
	want := core.Config{
		Brokers:             []string{"a:1", "b:2"},
		Client:              clientUnderTest(),
		Rebalance:           core.RebalanceEager,
		ReplicationFactor:   0, // min(3, brokers), decided when a topic is created
		Partitions:          7,
		ClientID:            "kafkaesk-go",
		RequiredAcks:        core.AcksAll,
		Compression:         core.CompressionNone,
		BatchSize:           1000,
		BatchBytes:          1 << 20,
		BatchTimeout:        5 * time.Millisecond,
		MaxBufferedMessages: 100_000,
		RequestTimeout:      10 * time.Second,
		DeliveryTimeout:     2 * time.Minute,
		RetryBackoff:        100 * time.Millisecond,
		RetryBackoffMax:     time.Second,
		DialTimeout:         5 * time.Second,
		MetadataMaxAge:      5 * time.Second,
		CommitInterval:      5 * time.Second,
		SessionTimeout:      10 * time.Second,
		HeartbeatInterval:   3 * time.Second,
		ShutdownTimeout:     10 * time.Second,
		Logger:              slog.Default(),
	}
	if got := app.Config(); !reflect.DeepEqual(got, want) {
		t.Errorf("app.Config() =\n%+v\nwant\n%+v", got, want)
	}

	// The exported constants agree with the documented values.
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"DefaultPartitions", core.DefaultPartitions, 7},
		{"DefaultClientID", core.DefaultClientID, "kafkaesk-go"},
		{"DefaultBatchSize", core.DefaultBatchSize, 1000},
		{"DefaultBatchTimeout", core.DefaultBatchTimeout, 5 * time.Millisecond},
		{"DefaultMaxBufferedMessages", core.DefaultMaxBufferedMessages, 100_000},
		{"DefaultCommitInterval", core.DefaultCommitInterval, 5 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Values the caller sets are kept, not replaced by defaults.
func TestConfigKeepsExplicitValues(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS13}
	cfg := core.Config{
		Brokers:             []string{"a:1"},
		TopicPrefix:         "dev.",
		ReplicationFactor:   2,
		Partitions:          3,
		ClientID:            "mine",
		Client:              core.ClientKafkaGo,
		Rebalance:           core.RebalanceEager,
		TLS:                 tlsCfg,
		SASL:                core.SASL{Mechanism: "PLAIN", Username: "u", Password: "p"},
		RequiredAcks:        core.AcksLeader,
		Compression:         core.CompressionGzip,
		BatchSize:           10,
		BatchBytes:          2048,
		BatchTimeout:        20 * time.Millisecond,
		MaxBufferedMessages: 50,
		RequestTimeout:      time.Second,
		DeliveryTimeout:     time.Minute,
		RetryBackoff:        10 * time.Millisecond,
		RetryBackoffMax:     500 * time.Millisecond,
		DialTimeout:         2 * time.Second,
		MetadataMaxAge:      time.Minute,
		DisableAutoCommit:   true,
		CommitInterval:      time.Second,
		SessionTimeout:      30 * time.Second,
		HeartbeatInterval:   time.Second,
		ShutdownTimeout:     3 * time.Second,
		Logger:              logger,
	}
	want := cfg
	want.Brokers = slices.Clone(cfg.Brokers)
	app := newApp(t, cfg)
	if got := app.Config(); !reflect.DeepEqual(got, want) {
		t.Errorf("app.Config() =\n%+v\nwant\n%+v", got, want)
	}
}

// New never writes defaults into the caller's Config, and keeps its own
// copy of Brokers: changing the caller's slice afterwards does not change
// the application's configuration.
func TestConfigNewDoesNotShareCallerConfig(t *testing.T) {
	tlsCfg := &tls.Config{ServerName: "kafka"}
	cfg := core.Config{Brokers: []string{"a:1", "b:2"}, TLS: tlsCfg}
	before := cfg
	before.Brokers = slices.Clone(cfg.Brokers)
	beforeTLS := tlsCfg.Clone()

	app := newApp(t, cfg)

	if !reflect.DeepEqual(cfg, before) {
		t.Errorf("caller's Config changed by New:\n%+v\nwas\n%+v", cfg, before)
	}
	if !reflect.DeepEqual(tlsCfg, beforeTLS) {
		t.Errorf("caller's tls.Config changed by New")
	}

	cfg.Brokers[0] = "changed:9"
	cfg.Brokers = append(cfg.Brokers, "added:9")
	if got, want := app.Config().Brokers, []string{"a:1", "b:2"}; !slices.Equal(got, want) {
		t.Errorf("after changing the caller's slice, app.Config().Brokers = %q, want %q", got, want)
	}
}

// app.Config returns a copy: changing the Brokers slice it returns must not
// change the application's configuration, which is "never changed after
// New". Bug: Config returned a.cfg as is, sharing its Brokers array.
func TestConfigReturnsCopyOfBrokers(t *testing.T) {
	app := newApp(t, core.Config{Brokers: []string{"a:1", "b:2"}})
	got := app.Config()
	got.Brokers[0] = "changed:9"
	if again, want := app.Config().Brokers, []string{"a:1", "b:2"}; !slices.Equal(again, want) {
		t.Errorf("after changing a returned Config, app.Config().Brokers = %q, want %q", again, want)
	}
}

// clientUnderTest is the client every Application of the tests runs on:
// $KAFKAESK_CLIENT, which make test sets to each client in turn.
func clientUnderTest() string {
	if c := os.Getenv(core.EnvClient); c != "" {
		return c
	}
	return core.ClientKafkaGo
}

// A client that does not exist, or a rebalance protocol the client lacks,
// is refused by New, naming the field (and the variable it came from).
func TestConfigClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		cfg  core.Config
		want string
	}{
		{"unknown client", "", core.Config{Client: "sarama"}, `Client "sarama" is not one of kafka-go, franz-go`},
		{"unknown client from env", "sarama", core.Config{}, `Client "sarama" (from $KAFKAESK_CLIENT) is not one of kafka-go, franz-go`},
		{"cooperative on kafka-go", "", core.Config{Client: core.ClientKafkaGo, Rebalance: core.RebalanceCooperative}, `Rebalance "cooperative" needs Client franz-go`},
		{"unknown rebalance", "", core.Config{Client: core.ClientFranzGo, Rebalance: "sticky"}, `Rebalance "sticky" is not one of eager, cooperative, consumer`},
		{"transactions without acks all", "", core.Config{Client: core.ClientFranzGo, TransactionalID: "t", RequiredAcks: core.AcksLeader}, `TransactionalID needs RequiredAcks AcksAll`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(core.EnvClient, tc.env)
			tc.cfg.Brokers = []string{"127.0.0.1:9092"}
			_, err := core.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}
