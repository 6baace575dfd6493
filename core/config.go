package core

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an [Application]. The zero value of every field except
// Brokers means the documented default; New copies the Config and never
// writes defaults back into it.
type Config struct {
	// Brokers lists the bootstrap addresses, host:port. Required.
	Brokers []string

	// Client is the Kafka client library the application runs on:
	// ClientKafkaGo or ClientFranzGo. Default: $KAFKAESK_CLIENT when it
	// is set, else ClientKafkaGo. Everything core offers works on both,
	// except what a client lacks: kafka-go has no idempotent producer (a
	// retry after a lost answer can write a message twice), no
	// transactions, and only eager rebalancing.
	Client string

	// Rebalance is the consumer groups' rebalance protocol. Default:
	// RebalanceEager, the only one kafka-go has.
	Rebalance Rebalance

	// TransactionalID names the application's transactional producer
	// (kafka-python's transactional_id), for Application.Transact and
	// transactional subscriptions (which use TransactionalID + "." + the
	// group). Give each running instance its own, and the same one again
	// when it restarts: the new producer then fences the old one, and
	// aborts what it left open. Needs ClientFranzGo and AcksAll.
	// Default: none (no transactions).
	TransactionalID string

	// TopicPrefix is prepended to every stream id to form the topic name,
	// by plain concatenation with no separator, as kafkaesk does:
	// prefix "dev." and stream "orders" give topic "dev.orders".
	TopicPrefix string

	// ReplicationFactor of topics the application creates. Default:
	// min(3, brokers up), or the cluster's default.replication.factor
	// when it is configured higher. A topic is never created with fewer
	// replicas than that: while too few brokers are up, creating it fails
	// with ErrNotEnoughBrokers, which the producer retries. (Python
	// kafkaesk takes min(3, bootstrap servers configured).)
	ReplicationFactor int

	// Partitions of topics the application creates. Default: 7, as kafkaesk.
	Partitions int

	// ClientID identifies this client to the brokers. Default: "kafkaesk-go".
	ClientID string

	// TLS, when not nil, is used for every connection to the brokers.
	TLS *tls.Config

	// SASL authentication. Default: none.
	SASL SASL

	// RequiredAcks is how many replicas must acknowledge a write.
	// Default: AcksAll.
	RequiredAcks Acks

	// Compression of produced batches. Default: CompressionNone.
	Compression Compression

	// BatchSize is the most messages a producer batch holds for one
	// partition before it is sent. Default: 1000.
	BatchSize int

	// BatchBytes is the largest producer batch for one partition, in bytes;
	// a single message larger than this is refused. Default: 1 MiB.
	BatchBytes int64

	// BatchTimeout is how long a partial producer batch waits for more
	// messages before it is sent. Default: 5ms (the client's own default
	// of one second would hold every waiting Publish for a second).
	BatchTimeout time.Duration

	// MaxBufferedMessages bounds the messages handed to the producer and not
	// yet acknowledged. PublishAsync waits for room when it is reached.
	// Default: 100,000.
	MaxBufferedMessages int

	// DeliveryTimeout is how long the producer keeps retrying a message
	// whose sends fail retriably (a broker down, a leader that moved, a
	// timeout), counted from when it was accepted; then it fails with
	// ErrDeliveryTimeout. Default: 2m, as the Java producer's
	// delivery.timeout.ms.
	DeliveryTimeout time.Duration

	// RetryBackoff is the wait before the producer's first retry; each
	// retry round in a row that fails doubles it, up to RetryBackoffMax.
	// Defaults: 100ms and 1s, as the Java producer's retry.backoff.ms and
	// retry.backoff.max.ms.
	RetryBackoff, RetryBackoffMax time.Duration

	// RequestTimeout bounds each request to a broker (metadata, topic
	// creation, produce) when the caller's context has no earlier deadline.
	// Default: 10s.
	RequestTimeout time.Duration

	// DialTimeout bounds connecting to a broker. Default: 5s.
	DialTimeout time.Duration

	// MetadataMaxAge is how long cluster metadata is cached before it is
	// refreshed; subscriptions to patterns list topics at this interval too.
	// Default: 5s.
	MetadataMaxAge time.Duration

	// DisableAutoCommit turns off the consumers' commits: handlers commit
	// their own messages. Default: false (auto-commit on).
	DisableAutoCommit bool

	// CommitInterval is how often consumers commit finished offsets.
	// Default: 5s, as kafkaesk.
	CommitInterval time.Duration

	// SessionTimeout of consumer group members. Default: 10s.
	SessionTimeout time.Duration

	// HeartbeatInterval of consumer group members; a rebalance is noticed
	// within one interval. Default: 3s.
	HeartbeatInterval time.Duration

	// ShutdownTimeout is how long a graceful stop of Run lets handlers in
	// flight finish before their contexts are cancelled. Default: 10s.
	ShutdownTimeout time.Duration

	// Spool is the producer's disk spool: messages that find the buffer
	// full wait on disk instead of being refused, and survive the
	// process. Default: none. See SpoolConfig.
	Spool SpoolConfig

	// Logger receives the application's own diagnostics (skipped messages,
	// retries). Default: slog.Default().
	Logger *slog.Logger

	// TracerProvider makes the application's spans: a "send" span per
	// message published within a trace, ended at the broker's
	// acknowledgement, and a "process" span around each handler call,
	// following OpenTelemetry's messaging conventions (see the package
	// doc, Tracing). Default: otel.GetTracerProvider(), looked up until
	// the program sets one: no spans, and nothing paid for them, while
	// it is the global no-op, or with a noop.TracerProvider.
	TracerProvider trace.TracerProvider

	// Propagator writes the trace context (W3C traceparent and
	// tracestate, and baggage, with the usual propagators) of a publish's
	// ctx into the message headers, never replacing a header the caller
	// set, and reads it back into the handler's ctx. Default:
	// otel.GetTextMapPropagator(), which propagates nothing until the
	// program sets one (otel.SetTextMapPropagator).
	Propagator propagation.TextMapPropagator

	// Metrics is where the application registers its Prometheus metrics:
	// Python kafkaesk's kafkaesk_* metrics, with its names and labels, and
	// the producer's, subscriptions' and lag metrics beyond them (see
	// metrics.go and the README). Applications given the same registerer
	// share the kafkaesk_* collectors, as kafkaesk's are process-wide;
	// prometheus.DefaultRegisterer is what kafkaesk uses. Default: nil,
	// no metrics, and nothing is measured.
	Metrics prometheus.Registerer

	caFile  string // the ssl_cafile of ApplySettings, for errors that name it
	flagErr error  // a --kafka-settings value AddFlags could not apply
}

// SASL selects an authentication mechanism and its credentials.
type SASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512";
	// empty means no authentication.
	Mechanism string
	Username  string
	Password  string
}

// String describes s without its password, so that printing a Config
// (fmt's %v and %+v, slog) never shows it.
func (s SASL) String() string {
	if s.Mechanism == "" && s.Username == "" && s.Password == "" {
		return "{none}"
	}
	pw := "not set"
	if s.Password != "" {
		pw = "set, not shown"
	}
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s}", s.Mechanism, s.Username, pw)
}

// GoString is String, for fmt's %#v.
func (s SASL) GoString() string { return "core.SASL" + s.String() }

// LogValue is String, for log/slog.
func (s SASL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Acks is how many replicas must acknowledge a produced batch.
type Acks int8

const (
	// AcksAll waits for every in-sync replica. The default.
	AcksAll Acks = 0
	// AcksLeader waits for the partition leader only.
	AcksLeader Acks = 1
	// AcksNone waits for nothing: fire and forget.
	AcksNone Acks = -1
)

func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("Acks(%d)", int8(a))
}

func (a Acks) kafka() kafka.RequiredAcks {
	switch a {
	case AcksLeader:
		return kafka.RequireOne
	case AcksNone:
		return kafka.RequireNone
	}
	return kafka.RequireAll
}

// Compression names a producer batch codec.
type Compression string

// The compression codecs Kafka supports.
const (
	CompressionNone   Compression = ""
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLz4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

func (c Compression) kafka() (kafka.Compression, error) {
	switch strings.ToLower(string(c)) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("compression %q is not one of none, gzip, snappy, lz4, zstd", string(c))
}

// Defaults, named so that docs, tests and validation agree.
const (
	DefaultPartitions          = 7
	DefaultClientID            = "kafkaesk-go"
	DefaultBatchSize           = 1000
	DefaultBatchBytes          = 1 << 20
	DefaultBatchTimeout        = 5 * time.Millisecond
	DefaultMaxBufferedMessages = 100_000
	DefaultDeliveryTimeout     = 2 * time.Minute
	DefaultRetryBackoff        = 100 * time.Millisecond
	DefaultRetryBackoffMax     = time.Second
	DefaultRequestTimeout      = 10 * time.Second
	DefaultDialTimeout         = 5 * time.Second
	DefaultMetadataMaxAge      = 5 * time.Second
	DefaultCommitInterval      = 5 * time.Second
	DefaultSessionTimeout      = 10 * time.Second
	DefaultHeartbeatInterval   = 3 * time.Second
	DefaultShutdownTimeout     = 10 * time.Second
)

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Brokers = append([]string(nil), c.Brokers...)
	setDefault(&c.Client, os.Getenv(EnvClient))
	setDefault(&c.Client, ClientKafkaGo)
	setDefault(&c.Rebalance, RebalanceEager)
	setDefault(&c.Partitions, DefaultPartitions)
	setDefault(&c.ClientID, DefaultClientID)
	setDefault(&c.BatchSize, DefaultBatchSize)
	setDefault(&c.BatchBytes, DefaultBatchBytes)
	setDefault(&c.BatchTimeout, DefaultBatchTimeout)
	setDefault(&c.MaxBufferedMessages, DefaultMaxBufferedMessages)
	setDefault(&c.DeliveryTimeout, DefaultDeliveryTimeout)
	setDefault(&c.RetryBackoff, DefaultRetryBackoff)
	setDefault(&c.RetryBackoffMax, DefaultRetryBackoffMax)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.MetadataMaxAge, DefaultMetadataMaxAge)
	setDefault(&c.CommitInterval, DefaultCommitInterval)
	setDefault(&c.SessionTimeout, DefaultSessionTimeout)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// validate reports every problem in a Config with defaults applied,
// joined, each naming the field at fault.
func (c *Config) validate() error {
	var errs []error
	if c.flagErr != nil {
		errs = append(errs, c.flagErr)
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers is empty: give at least one host:port"))
	}
	for _, b := range c.Brokers {
		if err := checkBrokerAddr(b); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range []struct {
		name       string
		value, min int64
	}{
		{"ReplicationFactor", int64(c.ReplicationFactor), 0},
		{"Partitions", int64(c.Partitions), 1},
		{"BatchSize", int64(c.BatchSize), 1},
		{"BatchBytes", c.BatchBytes, 1},
		{"MaxBufferedMessages", int64(c.MaxBufferedMessages), 1},
	} {
		if r.value < r.min {
			errs = append(errs, fmt.Errorf("%s %d is less than allowed %d", r.name, r.value, r.min))
		}
	}
	for _, d := range []struct {
		name       string
		value, min time.Duration
	}{
		{"BatchTimeout", c.BatchTimeout, time.Millisecond},
		{"DeliveryTimeout", c.DeliveryTimeout, time.Millisecond},
		{"RetryBackoff", c.RetryBackoff, time.Millisecond},
		{"RetryBackoffMax", c.RetryBackoffMax, time.Millisecond},
		{"RequestTimeout", c.RequestTimeout, time.Millisecond},
		{"DialTimeout", c.DialTimeout, time.Millisecond},
		{"MetadataMaxAge", c.MetadataMaxAge, 10 * time.Millisecond},
		{"CommitInterval", c.CommitInterval, time.Millisecond},
		{"SessionTimeout", c.SessionTimeout, time.Second},
		{"HeartbeatInterval", c.HeartbeatInterval, time.Millisecond},
		{"ShutdownTimeout", c.ShutdownTimeout, time.Millisecond},
	} {
		if d.value < d.min {
			errs = append(errs, fmt.Errorf("%s %v is less than allowed %v", d.name, d.value, d.min))
		}
	}
	if c.RetryBackoffMax < c.RetryBackoff {
		errs = append(errs, fmt.Errorf("RetryBackoffMax %v is less than RetryBackoff %v", c.RetryBackoffMax, c.RetryBackoff))
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("HeartbeatInterval %v must be less than SessionTimeout %v", c.HeartbeatInterval, c.SessionTimeout))
	}
	switch c.RequiredAcks {
	case AcksAll, AcksLeader, AcksNone:
	default:
		errs = append(errs, fmt.Errorf("RequiredAcks %d is not one of AcksAll (0), AcksLeader (1), AcksNone (-1)", c.RequiredAcks))
	}
	if _, err := c.Compression.kafka(); err != nil {
		errs = append(errs, fmt.Errorf("Compression: %w", err))
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, err)
	}
	switch c.Client {
	case ClientKafkaGo, ClientFranzGo:
	default:
		from := ""
		if c.Client == os.Getenv(EnvClient) {
			from = " (from $" + EnvClient + ")"
		}
		errs = append(errs, fmt.Errorf("Client %q%s is not one of %s, %s", c.Client, from, ClientKafkaGo, ClientFranzGo))
	}
	switch c.Rebalance {
	case RebalanceEager:
	case RebalanceCooperative, RebalanceConsumer:
		if c.Client == ClientKafkaGo {
			errs = append(errs, fmt.Errorf("Rebalance %q needs Client %s: %s has eager rebalancing only", c.Rebalance, ClientFranzGo, ClientKafkaGo))
		}
	default:
		errs = append(errs, fmt.Errorf("Rebalance %q is not one of %s, %s, %s", c.Rebalance, RebalanceEager, RebalanceCooperative, RebalanceConsumer))
	}
	if c.TransactionalID != "" {
		if c.Client == ClientKafkaGo {
			errs = append(errs, fmt.Errorf("TransactionalID needs Client %s: %s has no transactional producer", ClientFranzGo, ClientKafkaGo))
		}
		if c.RequiredAcks != AcksAll {
			errs = append(errs, fmt.Errorf("TransactionalID needs RequiredAcks AcksAll: transactions need the idempotent producer"))
		}
	}
	if sp := c.Spool; sp.Dir != "" {
		if sp.MaxBytes < 0 {
			errs = append(errs, fmt.Errorf("Spool.MaxBytes %d is negative", sp.MaxBytes))
		}
		if sp.SyncInterval < 0 {
			errs = append(errs, fmt.Errorf("Spool.SyncInterval %v is negative", sp.SyncInterval))
		}
		if sp.Sync < SpoolSyncInterval || sp.Sync > SpoolSyncNever {
			errs = append(errs, fmt.Errorf("Spool.Sync %d is not SpoolSyncInterval, SpoolSyncBatch nor SpoolSyncNever", sp.Sync))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafkaesk: invalid config: %w", err)
	}
	return nil
}

// checkBrokerAddr rejects addresses that could never be dialled, so that a
// typo is reported by name at construction instead of as a timeout later.
func checkBrokerAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("broker address %q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("broker address %q has port %q, not a number from 1 to 65535", addr, port)
	}
	return nil
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		m, err := scram.Mechanism(scram.SHA256, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("SASL SCRAM-SHA-256: %w", err)
		}
		return m, nil
	case "SCRAM-SHA-512":
		m, err := scram.Mechanism(scram.SHA512, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("SASL SCRAM-SHA-512: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("SASL.Mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
}

// transport builds the kafka-go transport shared by the producer and the
// admin client, so that topics the admin creates are seen by the producer's
// metadata cache at once. Its connections are dial's, which Close can cut.
func (c *Config) transport(dial *abortableDialer) (*kafka.Transport, error) {
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		Dial:        dial.DialContext,
		DialTimeout: c.DialTimeout,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: c.MetadataMaxAge,
		ClientID:    c.ClientID,
		TLS:         c.TLS,
		SASL:        mech,
	}, nil
}

// dialer returns a kafka-go dialer with the Config's client id, TLS and SASL,
// for readers and direct connections.
func (c Config) dialer() (*kafka.Dialer, error) {
	c = c.withDefaults()
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: mech,
	}, nil
}
