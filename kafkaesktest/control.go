package kafkaesktest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fault injection: each control returns the function that undoes it, so
// that a test writes
//
//	resume := b.Pause()
//	defer resume()
//
// Controls only ever touch produce requests: metadata, fetches and group
// requests are answered as usual, so clients stay connected and see the
// broker recover as soon as the control is undone. Controls may overlap (a
// slow broker that is also paused); each undo function undoes its own
// control only and is safe to call more than once. Controls act on the
// running broker: installed while it is stopped, they do nothing, and a
// restart (Stop) drops them.

// SlowProduce makes the broker answer every produce request d later than
// it would, until restore is called. Requests on one connection queue
// behind each other, as they do on a real broker, so a client that sends
// one produce request at a time per connection gets at most one answer
// per d from it. restore also answers at once the requests sleeping when
// it is called; the control then stays installed as a pass-through. A d
// of zero or less does nothing.
func (b *Broker) SlowProduce(d time.Duration) (restore func()) {
	if d <= 0 {
		return func() {}
	}
	c := b.current()
	if c == nil {
		return func() {} // stopped: controls do not survive a restart anyway
	}
	stop := make(chan struct{})
	var stopped atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if stopped.Load() {
			// Restored: pass the request on. The control is not
			// dropped, because kfake, when an unhandled control drops
			// itself, skips the next control in line for that request.
			return nil, nil, false
		}
		// Sleep this request only: other connections go on meanwhile.
		c.SleepControl(func() {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-stop:
			}
		})
		return nil, nil, false // not handled: the broker answers it now
	})
	return sync.OnceFunc(func() {
		stopped.Store(true)
		close(stop)
	})
}

// PausedErrorCode is the Kafka error code a paused broker answers
// produce requests with: NOT_ENOUGH_REPLICAS (19), which every Kafka
// client retries.
const PausedErrorCode = 19

// Pause makes the broker refuse every produce request, until resume is
// called: each partition of each request is answered with [PausedErrorCode]
// and nothing is written. To a producer this is an outage (its writes
// fail and are retried, and what it buffers meanwhile piles up) while its
// connections and metadata stay valid, so that writes go through again
// on the first retry after resume.
func (b *Broker) Pause() (resume func()) {
	c := b.current()
	if c == nil {
		return func() {}
	}
	h := c.Fault(kfake.Fault{
		Keys:  []kmsg.Key{kmsg.Produce},
		Err:   kerr.ErrorForCode(PausedErrorCode).(*kerr.Error),
		Count: -1, // until removed
	})
	return sync.OnceFunc(h.Remove)
}

// CountProduce counts the produce requests the broker receives from now
// on, until stop is called; count returns how many so far. It changes
// nothing else.
func (b *Broker) CountProduce() (count func() int64, stop func()) {
	var n atomic.Int64
	var stopped atomic.Bool
	c := b.current()
	if c == nil {
		return n.Load, func() {}
	}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !stopped.Load() {
			n.Add(1)
		}
		// Not handled, so kept; and kept as a pass-through once stopped:
		// kfake, when an unhandled control drops itself, skips the next
		// control in line.
		return nil, nil, false
	})
	return n.Load, func() { stopped.Store(true) }
}

// Truncate drops every record stored for topic, as a DeleteRecords request
// to the end of each of its partitions does: offsets go on from where they
// were. Long load tests call it now and then so that the broker does not
// hold everything they produce in memory. A topic that does not exist is
// an error.
func (b *Broker) Truncate(topic string) error {
	c := b.current()
	if c == nil {
		return fmt.Errorf("kafkaesktest: truncate %s: the broker is stopped", topic)
	}
	parts := c.PartitionInfos(topic)
	if len(parts) == 0 {
		return fmt.Errorf("kafkaesktest: truncate %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	var errs []error
	for _, p := range parts {
		if err := c.DeleteRecords(topic, p.Partition, -1); err != nil {
			errs = append(errs, fmt.Errorf("kafkaesktest: truncate %s partition %d: %w", topic, p.Partition, err))
		}
	}
	return errors.Join(errs...)
}
