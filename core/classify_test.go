package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// classify decides, for every error a produce can end with, whether the
// producer sends the message again and whether the broker may have
// written it: a message it reports failed must not be in the topic.
func TestClassify(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	readReset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name string
		err  error
		want failure
	}{
		{"nil", nil, failure{}},
		{"dial refused: no request", dialRefused, failure{retryable: true}},
		{"refused, wrapped", fmt.Errorf("kafka.(*Client).Metadata: %w", syscall.ECONNREFUSED), failure{retryable: true}},
		{"leader moved", kafka.NotLeaderForPartition, failure{retryable: true}},
		{"leader not available", kafka.LeaderNotAvailable, failure{retryable: true}},
		{"not enough replicas: refused before the append", kafka.NotEnoughReplicas, failure{retryable: true}},
		{"not enough replicas after the append", kafka.NotEnoughReplicasAfterAppend, failure{retryable: true, written: true}},
		{"broker timed out waiting for replicas", kafka.RequestTimedOut, failure{retryable: true, written: true}},
		{"message too large", kafka.MessageSizeTooLarge, failure{tooLarge: true}},
		{"ours too large", fmt.Errorf("%w: 2048 bytes", ErrMessageTooLarge), failure{tooLarge: true}},
		{"not authorized: final", kafka.TopicAuthorizationFailed, failure{}},
		{"connection reset with a request on it", readReset, failure{retryable: true, written: true}},
		{"EOF with a request on it", io.EOF, failure{retryable: true, written: true}},
		{"i/o timeout", os.ErrDeadlineExceeded, failure{retryable: true, written: true}},
		{"context deadline", context.DeadlineExceeded, failure{retryable: true, written: true}},
		{"closed by Close giving up", net.ErrClosed, failure{retryable: true, written: true}},
		{"dial refused after Close gave up", errAborted, failure{}},
		{"not sent, whatever the cause", &notSentError{io.EOF}, failure{retryable: true}},
		{"not sent and final", &notSentError{kafka.TopicAuthorizationFailed}, failure{}},
		{"unknown: final, and maybe written", errors.New("something new"), failure{written: true}},

		// franz-go's errors.
		{"franz: leader moved", kerr.NotLeaderForPartition, failure{retryable: true}},
		{"franz: not enough replicas: refused before the append", kerr.NotEnoughReplicas, failure{retryable: true}},
		{"franz: not enough replicas after the append", kerr.NotEnoughReplicasAfterAppend, failure{retryable: true, written: true}},
		{"franz: broker timed out waiting for replicas", kerr.RequestTimedOut, failure{retryable: true, written: true}},
		{"franz: message too large", fmt.Errorf("%w (uncompressed_bytes=9)", kerr.MessageTooLarge), failure{tooLarge: true}},
		{"franz: batch too large for a segment", kerr.RecordListTooLarge, failure{tooLarge: true}},
		{"franz: not authorized: final", kerr.TopicAuthorizationFailed, failure{}},
		{"franz: record timeout, maybe after a request", kgo.ErrRecordTimeout, failure{written: true}},
		{"franz: retries exhausted, maybe after a request", kgo.ErrRecordRetries, failure{written: true}},
		{"franz: aborted, maybe in flight", kgo.ErrAborting, failure{written: true}},
		{"franz: client closed, maybe in flight", kgo.ErrClientClosed, failure{written: true}},
		{"franz: refused before buffering", kgo.ErrMaxBuffered, failure{retryable: true}},
		{"final: retriable cause, not retried", &finalError{kerr.NotEnoughReplicas}, failure{}},
		{"final and maybe written", &finalError{io.EOF}, failure{written: true}},
		{"final, not sent: the idempotent producer's timeout", &notSentError{&finalError{franzOutcome(kgo.ErrRecordTimeout, []string{"b:9092"}, time.Minute)}}, failure{}},
		{"markers in either order", &finalError{&notSentError{io.EOF}}, failure{}},
		{"final, wrapped by the producer", &PublishError{Topic: "t", Err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, &finalError{io.EOF})}, failure{written: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %+v, want %+v", tc.err, got, tc.want)
			}
			if got := IsRetryable(tc.err); got != tc.want.retryable {
				t.Errorf("IsRetryable(%v) = %v", tc.err, got)
			}
		})
	}
}

// franzOutcome puts franz-go's failures under the outcomes callers test
// for, keeping the cause, and leaves the others alone.
func TestClassifyFranzOutcome(t *testing.T) {
	brokers := []string{"b1:9092", "b2:9092"}
	for _, tc := range []struct {
		err  error
		want error // nil: err unchanged
	}{
		{kgo.ErrRecordTimeout, ErrDeliveryTimeout},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotEnoughReplicas), ErrDeliveryTimeout},
		{kerr.MessageTooLarge, ErrMessageTooLarge},
		{kerr.RecordListTooLarge, ErrMessageTooLarge},
		{kgo.ErrAborting, ErrClosed},
		{kgo.ErrClientClosed, ErrClosed},
		{context.Canceled, ErrClosed},
		{kerr.TopicAuthorizationFailed, nil},
		{fmt.Errorf("%w: already ours", ErrMessageTooLarge), nil},
	} {
		got := franzOutcome(tc.err, brokers, time.Minute)
		assert.ErrorIs(t, got, tc.err, "the cause is kept")
		if tc.want == nil {
			assert.Equal(t, tc.err, got)
			continue
		}
		assert.ErrorIs(t, got, tc.want, "%v", tc.err)
		if tc.want == ErrDeliveryTimeout || tc.want == ErrClosed {
			assert.ErrorContains(t, got, "b1:9092")
		}
		assert.Equal(t, classify(tc.err).tooLarge, classify(got).tooLarge, "classify reads the same")
	}
	assert.NoError(t, franzOutcome(nil, brokers, time.Minute))
}

// The backoff doubles from RetryBackoff with each failed round in a row,
// up to RetryBackoffMax, and never overflows.
func TestBackoff(t *testing.T) {
	p := &producer{cfg: &Config{RetryBackoff: 100 * time.Millisecond, RetryBackoffMax: time.Second}}
	var got []time.Duration
	for _, streak := range []int{1, 2, 3, 4, 5, 64, 1 << 20} {
		p.streak = streak
		got = append(got, p.backoff())
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backoff after rounds = %v, want %v", got, want)
			break
		}
	}
}
