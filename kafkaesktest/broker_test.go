package kafkaesktest_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func produce(t *testing.T, addr, topic, value string) {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections() // Writer.Close leaves its transport's connections open
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: tr}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, kafka.Message{Value: []byte(value)}))
}

func consumeOne(t *testing.T, addr, topic string) string {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	require.NoError(t, err)
	return string(m.Value)
}

func TestBrokerOnAChosenPortServesProduceAndFetch(t *testing.T) {
	port := freePort(t)
	b := kafkaesktest.New(t, &kafkaesktest.Options{Port: port})
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(port), b.Addr())
	assert.Equal(t, []string{b.Addr()}, b.Brokers())
	produce(t, b.Addr(), "hello", "world")
	assert.Equal(t, "world", consumeOne(t, b.Addr(), "hello"))
}

func TestBrokerDataDirSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	b, err := kafkaesktest.Start(&kafkaesktest.Options{Port: port, DataDir: dir})
	require.NoError(t, err)
	produce(t, b.Addr(), "kept", "across restarts")
	b.Close()
	b.Close() // twice is safe

	b, err = kafkaesktest.Start(&kafkaesktest.Options{Port: port, DataDir: dir})
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, "across restarts", consumeOne(t, b.Addr(), "kept"))
}

func TestBrokerPortInUseIsAnErrorNamingIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = kafkaesktest.Start(&kafkaesktest.Options{Port: port})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:"+strconv.Itoa(port))
}

func TestBrokersFollowsKafkaBrokers(t *testing.T) {
	t.Setenv(kafkaesktest.EnvBrokers, " a:1, b:2 ,")
	assert.Equal(t, []string{"a:1", "b:2"}, kafkaesktest.Brokers(t))
	t.Setenv(kafkaesktest.EnvBrokers, "")
	embedded := kafkaesktest.Brokers(t)
	require.Len(t, embedded, 1)
	_, err := net.DialTimeout("tcp", embedded[0], time.Second)
	assert.NoError(t, err, "an embedded broker listens when KAFKA_BROKERS is unset")
}

func TestTopicPrefixIsUniquePerCall(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := kafkaesktest.TopicPrefix(t)
		assert.Regexp(t, `^test-[0-9a-f]{12}\.$`, p)
		assert.False(t, seen[p], "prefix %s repeated", p)
		seen[p] = true
	}
}

// saslDialer returns a kafka-go dialer authenticating as s.
func saslDialer(t *testing.T, s kafkaesktest.SASL) *kafka.Dialer {
	d := &kafka.Dialer{Timeout: 5 * time.Second}
	switch s.Mechanism {
	case "PLAIN":
		d.SASLMechanism = plain.Mechanism{Username: s.Username, Password: s.Password}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if s.Mechanism == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		require.NoError(t, err)
		d.SASLMechanism = m
	}
	return d
}

// readMetadata asks the broker for its topics as s.
func readMetadata(t *testing.T, addr string, s kafkaesktest.SASL) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := saslDialer(t, s).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.ReadPartitions()
	return err
}

// A broker started with Options.SASL answers a client that authenticates
// with the mechanism, user and password given, and no other.
func TestBrokerWithSASLRequiresTheCredentials(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			user := kafkaesktest.SASL{Mechanism: mech, Username: "alice", Password: "s3cret"}
			b := kafkaesktest.New(t, &kafkaesktest.Options{SASL: user})
			assert.NoError(t, readMetadata(t, b.Addr(), user))

			assert.Error(t, readMetadata(t, b.Addr(), kafkaesktest.SASL{}), "no authentication")
			wrong := user
			wrong.Password = "guess"
			assert.Error(t, readMetadata(t, b.Addr(), wrong), "a wrong password")
			if mech != "PLAIN" {
				other := user
				other.Mechanism = "PLAIN"
				assert.Error(t, readMetadata(t, b.Addr(), other), "another mechanism")
			}
		})
	}
}

func TestBrokerWithABadSASLOptionDoesNotStart(t *testing.T) {
	for _, tt := range []struct {
		sasl kafkaesktest.SASL
		want string
	}{
		{kafkaesktest.SASL{Mechanism: "GSSAPI", Username: "u"}, `"GSSAPI" is not one of`},
		{kafkaesktest.SASL{Mechanism: "PLAIN"}, "Username is empty"},
	} {
		_, err := kafkaesktest.Start(&kafkaesktest.Options{SASL: tt.sasl})
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
	}
}

// Stop drops the broker's connections and refuses new ones; start brings
// it back on the same address with what its DataDir held.
func TestStopAndStartKeepsTheDataDir(t *testing.T) {
	b := kafkaesktest.New(t, &kafkaesktest.Options{DataDir: t.TempDir()})
	conn, err := kafka.Dial("tcp", b.Addr())
	require.NoError(t, err)
	require.NoError(t, conn.CreateTopics(kafka.TopicConfig{Topic: "kept", NumPartitions: 1, ReplicationFactor: 1}))
	conn.Close()
	testutil.Produce(t, b.Brokers(), "kept", [][]byte{[]byte("a"), []byte("b")})
	require.Equal(t, int64(2), b.HighWatermark("kept", 0))

	start := b.Stop()
	_, err = net.DialTimeout("tcp", b.Addr(), time.Second)
	require.Error(t, err, "a stopped broker refuses connections")
	assert.Equal(t, int64(-1), b.HighWatermark("kept", 0))
	assert.ErrorContains(t, b.Truncate("kept"), "the broker is stopped")

	require.NoError(t, start())
	require.NoError(t, start(), "a second start does nothing")
	assert.Equal(t, int64(2), b.HighWatermark("kept", 0), "the data survived")
	testutil.Produce(t, b.Brokers(), "kept", [][]byte{[]byte("c")})
	assert.Equal(t, int64(3), b.HighWatermark("kept", 0))
	b.Close()
	assert.NoError(t, b.Stop()(), "start after Close does nothing")
}
