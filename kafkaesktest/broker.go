// Package kafkaesktest runs an in-process Kafka broker for tests and
// development, so that code built on kafkaesk is tested without Docker.
//
// The broker is franz-go's kfake: it speaks the Kafka protocol on a real
// loopback TCP port, so any client connects to it. It is a fake: no
// replication, no retention unless asked, writes are immediate. Tests that
// must also hold against real Kafka use [Brokers], which returns the
// cluster in KAFKA_BROKERS when that variable is set.
//
//	func TestOrders(t *testing.T) {
//		brokers := kafkaesktest.Brokers(t)
//		app, _ := core.New(core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(t)})
//		...
//	}
//
// A broker that requires authentication, to test a client's SASL
// settings, is started with Options.SASL; one that speaks TLS (mutual or
// not) with Options.TLS, from the certificates NewCertificates makes.
package kafkaesktest

import (
	"cmp"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EnvBrokers names the environment variable that points the integration
// tests at a real cluster: a comma-separated host:port list.
const EnvBrokers = "KAFKA_BROKERS"

// Options configures an embedded broker. The zero value is a broker on a
// free loopback port that keeps data in memory.
type Options struct {
	// Port to listen on, on 127.0.0.1. Default: a free port.
	Port int
	// DataDir keeps the broker's data on disk so that it survives a
	// restart. Default: in memory.
	DataDir string
	// Partitions of topics the broker creates by itself (auto-creation).
	// Default: 1, as a default Apache Kafka broker.
	Partitions int
	// SASL, when its Mechanism is set, makes the broker require SASL
	// authentication: a connection must authenticate as this user, with
	// this mechanism and password, before any other request is answered.
	// Default: no authentication.
	SASL SASL
	// Users are more users the broker authenticates, beside SASL's;
	// they need SASL.Mechanism set. Default: none.
	Users []SASL
	// TLS, when not nil, makes the broker's listener TLS: its certificate,
	// and ClientAuth for mutual TLS. Certificates.ServerConfig returns
	// one. With SASL too, the listener is SASL_SSL. Default: plaintext.
	TLS *tls.Config
}

// SASL is the one user of a broker that requires authentication. Its
// fields are those of core.SASL, so that core.SASL(opts.SASL) converts it.
type SASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"; empty means
	// no authentication.
	Mechanism string
	Username  string
	Password  string
}

// String describes s without its password, so that a test's log does
// not show it.
func (s SASL) String() string {
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%d bytes, not shown}", s.Mechanism, s.Username, len(s.Password))
}

// opts returns the kfake options of s, or an error naming what is wrong.
func (s SASL) opts() ([]kfake.Opt, error) {
	if s.Mechanism == "" {
		return nil, nil
	}
	mech := strings.ToUpper(s.Mechanism)
	switch mech {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return nil, fmt.Errorf("SASL.Mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
	}
	if s.Username == "" {
		return nil, fmt.Errorf("SASL.Username is empty: give the user the broker requires")
	}
	return []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(mech, s.Username, s.Password)}, nil
}

// Broker is a running embedded single-node Kafka broker.
// Its methods are safe for concurrent use.
type Broker struct {
	opts Options // as started, with the port it listens on
	addr string

	mu      sync.Mutex
	cluster *kfake.Cluster // nil while stopped
	closed  bool
}

// Start starts an embedded broker. Close it when done.
func Start(opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Partitions == 0 {
		o.Partitions = 1
	}
	cluster, err := o.start()
	if err != nil {
		return nil, err
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) == 0 {
		cluster.Close()
		return nil, fmt.Errorf("kafkaesktest: broker started without a listener")
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	o.Port, _ = strconv.Atoi(port)
	return &Broker{opts: o, addr: addrs[0], cluster: cluster}, nil
}

// start starts a cluster as o says.
func (o Options) start() (*kfake.Cluster, error) {
	kopts := []kfake.Opt{
		kfake.NumBrokers(1), // a single broker, as a default local Kafka: RF 3 is refused
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(o.Partitions),
		kfake.Ports(o.Port),
	}
	if o.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.DataDir))
	}
	sasl, err := o.SASL.opts()
	if err != nil {
		return nil, fmt.Errorf("kafkaesktest: start broker: %w", err)
	}
	kopts = append(kopts, sasl...)
	for i, u := range o.Users {
		if o.SASL.Mechanism == "" {
			return nil, fmt.Errorf("kafkaesktest: start broker: Users need SASL.Mechanism set")
		}
		more, err := u.opts()
		if err != nil || len(more) == 0 {
			return nil, fmt.Errorf("kafkaesktest: start broker: Users[%d]: %w", i, cmp.Or(err, errors.New("no Mechanism")))
		}
		kopts = append(kopts, more[1:]...) // the user, not EnableSASL again
	}
	if o.TLS != nil {
		kopts = append(kopts, kfake.TLS(o.TLS))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		if o.Port != 0 {
			return nil, fmt.Errorf("kafkaesktest: start broker on 127.0.0.1:%d: %w", o.Port, err)
		}
		return nil, fmt.Errorf("kafkaesktest: start broker: %w", err)
	}
	return cluster, nil
}

// New starts an embedded broker for the test and closes it when the test
// ends. It fails the test if the broker cannot start.
func New(t testing.TB, opts *Options) *Broker {
	t.Helper()
	b, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Brokers returns the broker's address as a bootstrap list.
func (b *Broker) Brokers() []string { return []string{b.addr} }

// HighWatermark returns the offset the next record written to topic's
// partition gets: how many it holds, truncation aside. It is -1 for a
// partition that does not exist.
func (b *Broker) HighWatermark(topic string, partition int) int64 {
	c := b.current()
	if c == nil {
		return -1
	}
	p := c.PartitionInfo(topic, int32(partition))
	if p == nil {
		return -1
	}
	return p.HighWatermark
}

// Close stops the broker. Closing twice is safe.
func (b *Broker) Close() {
	b.mu.Lock()
	c := b.cluster
	b.cluster, b.closed = nil, true
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Stop stops the broker as a crash would: its connections drop and its
// port refuses new ones. start starts it again on the same port, with
// the data of Options.DataDir (without one, it starts empty); it fails
// if the port was taken meanwhile, and does nothing after Close or a
// second time. Fault injection controls do not survive a restart.
func (b *Broker) Stop() (start func() error) {
	b.mu.Lock()
	c := b.cluster
	b.cluster = nil
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
	return sync.OnceValue(func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed || b.cluster != nil {
			return nil
		}
		c, err := b.opts.start()
		if err != nil {
			return err
		}
		b.cluster = c
		return nil
	})
}

// current returns the running cluster, nil while stopped.
func (b *Broker) current() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}

// Brokers returns the bootstrap list integration tests run against: the
// cluster in KAFKA_BROKERS when it is set, otherwise a new embedded broker
// closed when the test ends.
func Brokers(t testing.TB) []string {
	t.Helper()
	if env := RealBrokers(); env != nil {
		return env
	}
	return New(t, nil).Brokers()
}

// RealBrokers returns the brokers in KAFKA_BROKERS, or nil when unset.
func RealBrokers() []string {
	var out []string
	for b := range strings.SplitSeq(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// TopicPrefix returns a random topic prefix for one test, so that tests,
// and runs against a shared cluster, never see each other's topics.
func TopicPrefix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b[:]) + "."
}
