package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesk-go/kafkaesk/internal/errname"
)

// The outcomes a producing call or a delivery callback can report beside
// success. Test for them with errors.Is; every one comes wrapped in a
// *PublishError naming the topic.
var (
	// ErrBufferFull: the producer holds MaxBufferedMessages messages whose
	// outcome is not known yet. TryProduce returns it at once; the other
	// producing calls wait for room first, and return it when the wait
	// ends.
	ErrBufferFull = errors.New("kafkaesk: producer buffer full")

	// ErrMessageTooLarge: the message is larger than the producer's batch
	// limit (Config.BatchBytes), or the broker refused it as larger than
	// the topic's max.message.bytes. It is not in the topic, and sending
	// it again cannot help.
	ErrMessageTooLarge = errors.New("kafkaesk: message too large")

	// ErrDeliveryTimeout: the message was retried for Config.DeliveryTimeout
	// without being acknowledged, and given up on.
	ErrDeliveryTimeout = errors.New("kafkaesk: delivery timeout")

	// ErrOutcomeUnknown: the message was given up on (by Close's deadline,
	// by DeliveryTimeout, or by an error that does not say) after a
	// request carrying it was sent, and no answer told whether the broker
	// wrote it. It may be in the topic. A failure without
	// ErrOutcomeUnknown means the message is not in the topic.
	ErrOutcomeUnknown = errors.New("kafkaesk: delivery outcome unknown: the message may be in the topic")

	// ErrSpooled is not a failure: the message was written to the
	// producer's disk spool (Config.Spool), from which this process, or
	// the next one to open the spool, delivers it. A callback gets it
	// as it is, not in a *PublishError; the record is the caller's again.
	ErrSpooled = errors.New("kafkaesk: written to the spool, to be delivered from there")

	// ErrNotEnoughBrokers: a topic to create needs more replicas than
	// brokers are up (a broker is down, or the replication factor asked
	// for is larger than the cluster). The producer retries it until
	// DeliveryTimeout rather than create the topic with fewer replicas.
	ErrNotEnoughBrokers = errors.New("kafkaesk: not enough brokers up for the replication factor")

	// ErrSpoolLocked: another process (or Application) uses the spool
	// directory. New returns it.
	ErrSpoolLocked = errors.New("kafkaesk: spool directory in use")
)

// IsRetryable reports whether a produce that failed with err may succeed
// when sent again: the broker or the network failed (a broker down or
// restarting, a leader that moved, a timeout), not the message (too
// large, refused by a policy) or the credentials. The producer retries
// these by itself, until Config.DeliveryTimeout; a caller sees them only
// after that.
func IsRetryable(err error) bool {
	return classify(err).retryable
}

// failure is what a produce error means for the message.
type failure struct {
	retryable bool // sending again may succeed
	written   bool // the broker may have written it anyway
	tooLarge  bool // the message, or its batch, is too large
}

// classify is the one place that reads the clients' (kafka-go's and
// franz-go's) and the network's errors. Anything it does not recognise is
// taken as final and as possibly written: an unknown error must never
// make the producer report a written message as failed.
//
// Two markers a produce client wraps around a cause override what the
// cause says: *notSentError (no request carried the message: not
// written) and *finalError (the client retried it as far as it will:
// not retryable).
func classify(err error) failure {
	f := classifyCause(err)
	var notSent *notSentError
	if errors.As(err, &notSent) {
		f.written = false
	}
	var final *finalError
	if errors.As(err, &final) {
		f.retryable = false
	}
	return f
}

// classifyCause classifies err by its cause, ignoring the markers.
func classifyCause(err error) failure {
	var kafkaErr kafka.Error
	var franzErr *kerr.Error
	var tooLarge kafka.MessageTooLargeError
	var opErr *net.OpError
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
	)
	switch {
	case err == nil:
		return failure{}
	case errors.Is(err, ErrNotEnoughBrokers), errors.As(err, new(*retryLaterError)):
		// The topic could not be created yet: nothing was sent.
		return failure{retryable: true}
	case errors.Is(err, ErrMisconfigured):
		// The connection could not authenticate: no request was sent.
		return failure{}
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &header),
		errors.Is(err, kafka.SASLAuthenticationFailed), errors.Is(err, kafka.UnsupportedSASLMechanism), errors.Is(err, kafka.IllegalSASLState),
		errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState),
		errors.As(err, new(*kgo.ErrFirstReadEOF)),
		strings.Contains(err.Error(), "speaking to a tls endpoint"): // franz-go's plaintext against TLS, untyped
		// The connection failed before any request could be sent: a TLS
		// handshake or the SASL exchange. Retried, so that the doctor's
		// probe says what is wrong (and a certificate or a credential
		// being renewed passes).
		return failure{retryable: true}
	case errors.Is(err, ErrMessageTooLarge), errors.As(err, &tooLarge),
		errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return failure{tooLarge: true}
	case errors.As(err, &kafkaErr):
		switch kafkaErr {
		case kafka.MessageSizeTooLarge:
			return failure{tooLarge: true}
		case kafka.RequestTimedOut, kafka.NotEnoughReplicasAfterAppend:
			// The leader appended it and waited for replicas in vain.
			return failure{retryable: true, written: true}
		}
		// Any other error code: the broker did not write the batch.
		return failure{retryable: kafkaErr.Temporary()}
	case errors.As(err, &franzErr):
		// franz-go's kerr: the same codes, the same meanings.
		switch franzErr {
		case kerr.RequestTimedOut, kerr.NotEnoughReplicasAfterAppend:
			return failure{retryable: true, written: true}
		}
		return failure{retryable: franzErr.Retriable}
	case errors.Is(err, kgo.ErrMaxBuffered):
		// franz-go refused it before buffering it.
		return failure{retryable: true}
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, kgo.ErrAborting), errors.Is(err, kgo.ErrClientClosed):
		// franz-go gave the record up: without the idempotent producer,
		// possibly after a request carried it (the produce client marks
		// with notSentError what franz-go fails only when safe).
		return failure{written: true}
	case errors.Is(err, errAborted), errors.Is(err, io.ErrClosedPipe):
		// The producer is closing: nothing more is sent.
		return failure{}
	case errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		// No connection, so no request: not written.
		return failure{retryable: true}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		// The connection failed or timed out with a request on it: the
		// broker may have written it before the answer was lost.
		return failure{retryable: true, written: true}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return failure{retryable: true, written: true}
	}
	return failure{written: true}
}

// connectionFailure reports whether err is a failure to reach a broker
// (the network, TLS, SASL, a connection closed) rather than a broker's
// answer about the request (NOT_LEADER, a topic to wait for): what the
// doctor looks into.
func connectionFailure(err error) bool {
	var franzErr *kerr.Error
	var kafkaErr kafka.Error
	switch {
	case errors.Is(err, ErrMisconfigured):
		return true
	case errors.Is(err, ErrNotEnoughBrokers), errors.As(err, new(*retryLaterError)):
		return false
	case errors.As(err, &franzErr):
		return franzErr == kerr.SaslAuthenticationFailed || franzErr == kerr.UnsupportedSaslMechanism || franzErr == kerr.IllegalSaslState
	case errors.As(err, &kafkaErr):
		return kafkaErr == kafka.SASLAuthenticationFailed || kafkaErr == kafka.UnsupportedSASLMechanism || kafkaErr == kafka.IllegalSASLState
	}
	return true
}

// notAllowed reports whether err is the broker refusing a request the
// user may not make, or does not know: no use asking again.
func notAllowed(err error) bool {
	return errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.UnsupportedVersion) ||
		errors.Is(err, kafka.ClusterAuthorizationFailed) || errors.Is(err, kafka.UnsupportedVersion)
}

// retryLaterError marks a failure before anything was sent that may
// pass when tried again.
type retryLaterError struct{ err error }

func (e *retryLaterError) Error() string { return e.err.Error() }
func (e *retryLaterError) Unwrap() error { return e.err }

// finalError marks a failure the client has already retried as far as it
// will: the producer reports it without retrying.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// franzOutcome returns the error a franz-go produce failure is reported
// with: err under the outcome callers test for with errors.Is
// (ErrDeliveryTimeout for franz-go's record timeout, ErrMessageTooLarge,
// ErrClosed for records Close gave up on), naming brokers where the
// cause does not.
func franzOutcome(err error, brokers []string, deliveryTimeout time.Duration) error {
	switch {
	case err == nil, errors.Is(err, ErrMessageTooLarge), errors.Is(err, ErrDeliveryTimeout), errors.Is(err, ErrClosed), errors.Is(err, ErrMisconfigured):
		return err
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%v) producing to %s: %w", ErrDeliveryTimeout, deliveryTimeout, brokers, err)
	case classify(err).tooLarge:
		return fmt.Errorf("%w: the broker refused it: %w", ErrMessageTooLarge, err)
	case errors.Is(err, kgo.ErrAborting), errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: Close gave up waiting for %s: %w", ErrClosed, brokers, err)
	}
	return err
}

// errAborted is what the producer's connections answer once Close gave
// up: nothing is sent after that.
var errAborted = errors.New("kafkaesk: producer closed: not sent")

// errorClass names err for the error label of metrics: a small, bounded
// set of names in the style of Python's exception classes (kafkaesk's
// labels are aiokafka's class names): the outcome sentinels, a Kafka
// error code as aiokafka names it ("NotLeaderForPartitionError"), a
// ValidationError, a cancelled or timed-out wait; else the error's
// meaningful Go type (errname.Of), which a program's code bounds.
func errorClass(err error) string {
	var kafkaErr kafka.Error
	var franzErr *kerr.Error
	var verr *ValidationError
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, ErrOutcomeUnknown):
		return "OutcomeUnknown"
	case errors.Is(err, ErrDeliveryTimeout):
		return "DeliveryTimeout"
	case errors.Is(err, ErrMessageTooLarge):
		return "MessageTooLarge"
	case errors.Is(err, ErrBufferFull):
		return "BufferFull"
	case errors.Is(err, ErrClosed):
		return "ApplicationClosed"
	case errors.As(err, &verr):
		return "ValidationError"
	case errors.As(err, &kafkaErr):
		return codeClass(kafkaErr.Title())
	case errors.As(err, &franzErr):
		return codeClass(strings.ReplaceAll(franzErr.Message, "_", " "))
	case errors.Is(err, context.Canceled):
		return "Cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "Timeout"
	}
	return errname.Of(err)
}

// codeClass turns a Kafka error code's words ("Not Leader For Partition",
// any case) into aiokafka's class name, "NotLeaderForPartitionError".
func codeClass(words string) string {
	var b strings.Builder
	for _, w := range strings.Fields(strings.ToLower(words)) {
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	b.WriteString("Error")
	return b.String()
}
