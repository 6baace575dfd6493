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
