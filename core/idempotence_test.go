package core_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/internal/testutil"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// EnvBrokerPID names the variable holding the process id of the real
// broker in KAFKA_BROKERS (.ci/run sets it from scripts/kafka-local), so
// that a test can make that broker hang with SIGSTOP.
const envBrokerPID = "KAFKA_BROKER_PID"

// A broker that hangs mid-produce, for longer than RequestTimeout, and
// then resumes: the client gives the requests in flight up, and sends
// them again, while the broker writes them all once it resumes. With
// franz-go's idempotent producer the broker drops the second copies: no
// message is in the topic twice. kafka-go has no idempotent producer: the
// test reports its duplicates. On both, every message is reported once,
// and none reported failed is in the topic.
//
// The hang is the embedded broker answering produce requests late, and,
// when KAFKA_BROKER_PID names the real broker of KAFKA_BROKERS, that
// broker stopped with SIGSTOP and resumed with SIGCONT.
func TestBrokerHangMidProduceDuplicates(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		broker := kafkaesktest.New(t, nil)
		testHangDuplicates(t, broker.Brokers(), func(d time.Duration) {
			restore := broker.SlowProduce(d)
			time.Sleep(d)
			restore()
		})
	})
	brokers, pid := kafkaesktest.RealBrokers(), os.Getenv(envBrokerPID)
	if brokers == nil || pid == "" {
		return // no real broker this test may stop
	}
	t.Run("real broker SIGSTOP", func(t *testing.T) {
		n, err := strconv.Atoi(pid)
		require.NoError(t, err, "%s=%q", envBrokerPID, pid)
		testHangDuplicates(t, brokers, func(d time.Duration) {
			require.NoError(t, syscall.Kill(n, syscall.SIGSTOP), "SIGSTOP broker PID %d", n)
			defer func() { require.NoError(t, syscall.Kill(n, syscall.SIGCONT), "SIGCONT broker PID %d", n) }()
			time.Sleep(d)
		})
	})
}

func testHangDuplicates(t *testing.T, brokers []string, hang func(time.Duration)) {
	const (
		total   = 20_000
		hangFor = 4 * time.Second
	)
	app, err := core.New(core.Config{
		Brokers:         brokers,
		TopicPrefix:     kafkaesktest.TopicPrefix(t),
		Partitions:      3,
		RequestTimeout:  time.Second, // shorter than the hang: requests in flight time out
		RetryBackoffMax: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	defer app.Close(context.Background())
	ctx := testContext(t)
	require.NoError(t, app.EnsureStream(ctx, "hang", 0))
	topic := app.Topic("hang")

	o := newOutcomes()
	values := make([]string, total)
	var hung sync.WaitGroup
	for i := range total {
		values[i] = fmt.Sprintf("m%06d", i)
		if i == total/4 {
			hung.Go(func() { hang(hangFor) })
		}
		require.NoError(t, app.RawPublishAsync(ctx, "hang", []byte(values[i]), o.done(values[i]), core.Key([]byte(strconv.Itoa(i%50)))))
		if i%200 == 0 {
			time.Sleep(5 * time.Millisecond) // a steady load across the hang, not one burst before it
		}
	}
	hung.Wait()
	require.NoError(t, app.Flush(ctx))

	delivered, failed, unknown := o.check(t, brokers, topic, values)
	n := testutil.MessageCount(t, brokers, topic)
	counts := map[string]int{}
	for _, m := range testutil.ReadTopic(t, brokers, topic, int(n), time.Minute) {
		counts[string(m.Value)]++
	}
	duplicates := 0
	for _, c := range counts {
		duplicates += c - 1
	}
	stats := app.ProducerStats()
	t.Logf("client %s: %d messages, %d delivered, %d failed, %d unknown; %d in the topic, %d duplicates; producer retried %d",
		app.Config().Client, total, delivered, failed, unknown, n, duplicates, stats.Retried)
	assert.Equal(t, total, delivered+failed+unknown)
	if app.Config().Client == core.ClientFranzGo {
		assert.Zero(t, duplicates, "franz-go's idempotent producer writes no message twice")
		assert.Equal(t, total, delivered, "franz-go retries through the hang: every message delivered")
	}
}
