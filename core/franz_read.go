package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How a franz-go fetcher bounds what it holds, and how long a fetch waits
// at the broker.
const (
	// franzPauseAt is how many fetched batches (one partition's records
	// from one fetch: on Kafka, about FetchMaxPartitionBytes, 1 MiB by
	// default, at most) a fetcher queues before its partition is paused.
	// With the batch being handed out, about 4 MiB a partition, as
	// kafka-go's readers hold.
	franzPauseAt = 3
	// franzResumeAt is how many queued batches are left when the
	// partition is resumed: the next fetch overlaps their handling.
	franzResumeAt = 1
	// franzFetchMaxWait is how long a broker holds a fetch that has no
	// records: short, so that pausing, resuming and stopping are quick.
	franzFetchMaxWait = 250 * time.Millisecond
)

// errFetcherClosed is next's error on a closed fetcher.
var errFetcherClosed = errors.New("fetcher closed")

// franzPauser pauses and resumes fetching partitions: a *kgo.Client.
type franzPauser interface {
	PauseFetchPartitions(map[string][]int32) map[string][]int32
	ResumeFetchPartitions(map[string][]int32)
}

// franzBatch is one partition's records from one fetch, and the
// partition's high watermark in that fetch.
type franzBatch struct {
	recs []*kgo.Record
	hwm  int64
}

// franzFetcher is the fetcher of one partition of a kgo client. The
// client's poll loop (the group member's run, or a partition source's
// goroutine) pushes each fetch's records of the partition; next hands them
// out one at a time, in offset order.
//
// push never blocks, so a poll loop never waits for a handler: the
// queue is bounded by pausing the partition in the client once it holds
// franzPauseAt batches (kgo then drops the partition's buffered records
// and fetches them again after the resume), and next resumes it when
// franzResumeAt are left. A closed fetcher drops what it holds and what
// is pushed to it.
//
// push, fail and close may be called from any goroutine; next from one
// goroutine at a time.
type franzFetcher struct {
	topic     string
	partition int32
	pauser    franzPauser // nil when it has no partition to pause (see franzSource.fetcher)
	// group tells what close does to a partition that is paused: a group
	// member's resumes it, since the partition may be assigned again; a
	// source's pauses it, since nobody reads it any more.
	group bool

	ready chan struct{} // cap 1: a token when queue, err or closed changed

	closed atomic.Bool // set under mu; read by next without it

	mu     sync.Mutex
	queue  []franzBatch // oldest first
	err    error        // the partition's failure, returned once queue is drained
	paused bool         // the partition is paused in the client by this fetcher

	// The batch being handed out; next's alone.
	cur []*kgo.Record
	hwm int64

	// What a transactional member waits for (see awaitHandled): records
	// pushed and not handed out, whether the last one handed out is
	// being handled (next was not called since), whether handing out is
	// held, and whether records were dropped unhandled (closed while
	// holding some, or while one was being handled: its handler did not
	// finish it). onIdle, when set, is called when handling ends and
	// when the fetcher closes; pending and handling are kept only then
	// (a transactional member's fetchers), off the plain consume path.
	pending   atomic.Int64
	handling  atomic.Bool
	held      atomic.Bool
	abandoned atomic.Bool
	onIdle    func()
}

func newFranzFetcher(p franzPauser, topic string, partition int32, group bool) *franzFetcher {
	return &franzFetcher{topic: topic, partition: partition, pauser: p, group: group, ready: make(chan struct{}, 1)}
}

// push queues recs, fetched with the partition's high watermark hwm,
// and pauses the partition when the queue is full. It does not block;
// on a closed fetcher it does nothing.
func (f *franzFetcher) push(recs []*kgo.Record, hwm int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		f.abandoned.Store(true)
		return
	}
	if f.onIdle != nil {
		f.pending.Add(int64(len(recs)))
	}
	f.queue = append(f.queue, franzBatch{recs: recs, hwm: hwm})
	if len(f.queue) >= franzPauseAt {
		f.setPaused(true)
	}
	f.wake()
}

// fail makes next return err once the records queued before it are
// handed out, and on every call after.
func (f *franzFetcher) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() || f.err != nil {
		return
	}
	f.err = err
	f.wake()
}

// next returns the partition's next record, waiting until one is fetched
// or ctx ends. Its error is ctx's, the partition's failure (see fail),
// or errFetcherClosed.
func (f *franzFetcher) next(ctx context.Context) (Record, error) {
	f.handled()
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		if f.closed.Load() {
			return Record{}, errFetcherClosed
		}
		if f.held.Load() {
			select {
			case <-f.ready:
			case <-ctx.Done():
			}
			continue
		}
		if len(f.cur) > 0 {
			r := f.cur[0]
			f.cur = f.cur[1:]
			if f.onIdle != nil {
				// handling first: a member that sees pending drop sees it.
				f.handling.Store(true)
				f.pending.Add(-1)
			}
			return recordOfFranz(r, f.hwm), nil
		}
		if err := f.take(); err != nil {
			return Record{}, err
		}
		if len(f.cur) > 0 {
			continue
		}
		select {
		case <-f.ready:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// handled records that the record handed out last, if any, is done with.
func (f *franzFetcher) handled() {
	if f.onIdle != nil && f.handling.Swap(false) {
		f.onIdle()
	}
}

// hold stops next handing out records, until the fetcher is closed.
func (f *franzFetcher) hold() {
	f.held.Store(true)
	f.wake()
}

// take makes the oldest queued batch the current one, and resumes the
// partition when few are left. With nothing queued, cur stays empty and
// it returns the partition's failure, if any.
func (f *franzFetcher) take() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return errFetcherClosed
	}
	if len(f.queue) == 0 {
		return f.err
	}
	b := f.queue[0]
	f.queue[0] = franzBatch{}
	f.queue = f.queue[1:]
	f.cur, f.hwm = b.recs, b.hwm
	if len(f.queue) <= franzResumeAt {
		f.setPaused(false)
	}
	return nil
}

// close drops what the fetcher holds and leaves the partition paused
// (a source's) or resumed (a group member's). A next waiting returns
// errFetcherClosed. Closing twice is safe.
func (f *franzFetcher) close() { f.shut(true) }

// shut closes the fetcher; the client's pause state is left alone when
// touchClient is false (the client is closing).
func (f *franzFetcher) shut(touchClient bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return
	}
	if f.handling.Swap(false) || f.pending.Load() > 0 {
		f.abandoned.Store(true)
	}
	f.closed.Store(true)
	f.queue = nil
	if touchClient {
		f.setPaused(!f.group)
	}
	f.wake()
	if f.onIdle != nil {
		f.onIdle()
	}
}

// setPaused pauses or resumes the partition in the client, if not done
// already. f.mu is held: a push and a take cannot interleave their
// decisions.
func (f *franzFetcher) setPaused(paused bool) {
	if f.paused == paused || f.pauser == nil {
		return
	}
	f.paused = paused
	tps := map[string][]int32{f.topic: {f.partition}}
	if paused {
		f.pauser.PauseFetchPartitions(tps)
	} else {
		f.pauser.ResumeFetchPartitions(tps)
	}
}

func (f *franzFetcher) wake() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// recordOfFranz returns the Record of a record kgo fetched, with the
// partition's high watermark hwm. It shares r's key, value and header
// values: kgo does not reuse them.
func recordOfFranz(r *kgo.Record, hwm int64) Record {
	rec := Record{
		Topic:         r.Topic,
		Partition:     int(r.Partition),
		Offset:        r.Offset,
		HighWaterMark: hwm,
		Key:           r.Key,
		Value:         r.Value,
		Time:          r.Timestamp,
		control:       r.Attrs.IsControl(),
	}
	if len(r.Headers) > 0 {
		rec.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			rec.Headers[i] = Header(h)
		}
	}
	return rec
}

// franzSource reads partitions of a topic without a group: one kgo client
// consuming them directly, and a goroutine polling it for the fetchers.
type franzSource struct {
	topic    string
	log      *slog.Logger
	cl       *kgo.Client // nil when there is nothing to read
	fetchers map[int]*franzFetcher

	stop      context.CancelFunc // ends poll
	done      chan struct{}      // closed when poll returned
	closeOnce sync.Once
}

// newPartitionSource returns a source of spec's partitions, each fetched
// from its start offset (a start below the partition's first record, or
// otherwise out of range, starts at its first record). With
// readCommitted, franz-go drops the records of aborted transactions and
// the transaction markers. The source runs a goroutine until close.
func (d *franzDriver) newPartitionSource(spec sourceSpec) (partitionSource, error) {
	s := &franzSource{
		topic:    spec.topic,
		log:      spec.log,
		fetchers: make(map[int]*franzFetcher, len(spec.start)),
		stop:     func() {},
		done:     make(chan struct{}),
	}
	if len(spec.start) == 0 {
		close(s.done)
		return s, nil
	}
	offsets := make(map[int32]kgo.Offset, len(spec.start))
	for p, at := range spec.start {
		offsets[int32(p)] = kgo.NewOffset().At(at)
	}
	opts := d.options(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{spec.topic: offsets}),
		kgo.FetchMaxWait(franzFetchMaxWait),
		kgo.WithLogger(franzLogger{log: spec.log, warn: true}),
		// The transaction markers too (the fetcher hands them out, Read
		// skips them), so that a read up to a partition's end sees it
		// reached when the last records before it are a marker, or an
		// aborted transaction's records, which kgo drops read committed.
		kgo.KeepControlRecords(),
	)
	if spec.readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("read topic %s: %w", spec.topic, err)
	}
	s.cl = cl
	for p := range spec.start {
		s.fetchers[p] = newFranzFetcher(cl, spec.topic, int32(p), false)
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.poll(ctx)
	return s, nil
}

// fetcher returns partition's fetcher; one of a partition the source was
// not given fails at once.
func (s *franzSource) fetcher(partition int) fetcher {
	if f, ok := s.fetchers[partition]; ok {
		return f
	}
	f := newFranzFetcher(nil, s.topic, int32(partition), false)
	f.fail(fmt.Errorf("topic %s partition %d: not one of the partitions read", s.topic, partition))
	return f
}

// poll dispatches fetched records to the fetchers until ctx ends.
func (s *franzSource) poll(ctx context.Context) {
	defer close(s.done)
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		for i := range fs {
			for j := range fs[i].Topics {
				t := &fs[i].Topics[j]
				for k := range t.Partitions {
					p := &t.Partitions[k]
					if f := s.fetchers[int(p.Partition)]; f != nil && t.Topic == s.topic && len(p.Records) > 0 {
						f.push(p.Records, p.HighWatermark)
					}
					if p.Err != nil {
						s.failed(t.Topic, p.Partition, p.Err)
					}
				}
			}
		}
	}
}

// failed hands a fetch error over to the fetchers it concerns (all of
// them when partition is -1: the topic failed). kgo retries what can be
// retried before it reports an error, and stops fetching a partition it
// reports one for, so next returns it. Data loss is only logged: kgo
// resets the partition and fetches on.
func (s *franzSource) failed(topic string, partition int32, err error) {
	var loss *kgo.ErrDataLoss
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
		return
	case errors.As(err, &loss):
		s.log.Warn("kafkaesk: fetch lost data; reading on", "topic", topic, "partition", partition, "err", err)
		return
	case partition < 0:
		for _, f := range s.fetchers {
			f.fail(fmt.Errorf("topic %s: %w", s.topic, err))
		}
		return
	}
	if f := s.fetchers[int(partition)]; f != nil && topic == s.topic {
		f.fail(fmt.Errorf("topic %s partition %d: %w", topic, partition, err))
	}
}

// close stops polling, closes the fetchers and the client. The source's
// goroutine has ended when it returns (a few of kgo's finish winding down
// just after its Close returns). Closing twice is safe.
func (s *franzSource) close() {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		for _, f := range s.fetchers {
			f.shut(false)
		}
		if s.cl != nil {
			s.cl.Close()
		}
	})
}
