package kafkaesktest_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
