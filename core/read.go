package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Reading without a consumer group: a stream's partitions from a start
// position, to their end or forever, as kafka-python's assign and seek and
// kcat do. Nothing is committed and no group is joined.

// Position is where Read starts in each partition. The zero Position is
// Earliest. Build one with Earliest, Latest, AtOffset or AtTime.
type Position struct {
	kind   positionKind
	offset int64     // posOffset
	at     time.Time // posTime
}

type positionKind uint8

const (
	posEarliest positionKind = iota // the zero Position
	posLatest
	posOffset
	posTime
)

// Earliest starts at the first record still in each partition. It is the
// zero Position.
func Earliest() Position { return Position{} }

// Latest starts at the end of each partition as of the start of Read:
// only records written after that are read.
func Latest() Position { return Position{kind: posLatest} }

// AtOffset starts at offset in each partition. An offset below the first
// record still in a partition starts at that first record, and an offset
// past a partition's end starts at the end, as Kafka consumers reset an
// offset out of range. offset must not be negative.
func AtOffset(offset int64) Position { return Position{kind: posOffset, offset: offset} }

// AtTime starts, in each partition, at the first record whose timestamp is
// t or later; at the end of a partition that holds none.
func AtTime(t time.Time) Position { return Position{kind: posTime, at: t} }

// String returns "earliest", "latest", "offset N" or "time T" (RFC 3339).
func (p Position) String() string {
	switch p.kind {
	case posLatest:
		return "latest"
	case posOffset:
		return "offset " + strconv.FormatInt(p.offset, 10)
	case posTime:
		return "time " + p.at.Format(time.RFC3339Nano)
	}
	return "earliest"
}

// ReadOptions configures Application.Read. The zero value (or nil) reads
// every partition from Earliest, forever, read_uncommitted.
type ReadOptions struct {
	// From is where reading starts in each partition. Default: Earliest.
	From Position

	// UntilEnd stops reading each partition at its end as of the start of
	// Read (the high-water mark, or the last stable offset with
	// ReadCommitted); Read returns nil once every partition got there.
	// Records written later are not read. Default: false, read until ctx
	// ends.
	UntilEnd bool

	// ReadCommitted reads with the read_committed isolation level: the
	// broker returns no record of a transaction still open, so reading
	// stops at the last stable offset. On franz-go, fn is given neither
	// the records of aborted transactions nor transaction markers (which
	// it never gets); kafka-go drops neither: fn is given them.
	// Default: false, read_uncommitted.
	ReadCommitted bool

	// Partitions limits reading to these partitions. Default: nil, every
	// partition the stream has when Read starts.
	Partitions []int
}

func (o *ReadOptions) validate() error {
	if o.From.kind == posOffset && o.From.offset < 0 {
		return fmt.Errorf("start offset %d is negative", o.From.offset)
	}
	seen := map[int]bool{}
	for _, p := range o.Partitions {
		if p < 0 {
			return fmt.Errorf("partition %d is negative", p)
		}
		if seen[p] {
			return fmt.Errorf("partition %d is given twice", p)
		}
		seen[p] = true
	}
	return nil
}

// PartitionOffsets are the bounds of one partition of a stream.
type PartitionOffsets struct {
	Partition int
	// First is the offset of the first record still in the partition;
	// End when the partition is empty.
	First int64
	// End is one past the last record: the high-water mark, where the
	// next record written will be.
	End int64
}

// Len is how many offsets the partition holds, End - First.
func (p PartitionOffsets) Len() int64 { return p.End - p.First }

// Streams returns the streams of the existing topics that match pattern
// as Subscribe matches them: with "*", fnmatch-style ("logs.*" matches
// "logs.api" and "logs.api.v2"); without, the one stream of that name.
// Internal topics ("__...") never match. They come sorted, nil when
// none match. The topics are read from a broker, not from a cache.
func (a *Application) Streams(ctx context.Context, pattern string) ([]string, error) {
	m, err := newPatternMatcher(a.cfg.TopicPrefix, pattern)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: stream pattern %q: %w", pattern, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	all, err := a.listTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafkaesk: streams matching %q: %w", pattern, err)
	}
	var out []string
	for _, t := range m.match(all) {
		out = append(out, strings.TrimPrefix(t, a.cfg.TopicPrefix))
	}
	return out, nil
}

// StreamOffsets returns the bounds of each partition of stream, ordered by
// partition. A stream whose topic does not exist is ErrUnknownStream.
func (a *Application) StreamOffsets(ctx context.Context, stream string) ([]PartitionOffsets, error) {
	sr := a.newStreamRead(stream, &ReadOptions{})
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	parts, err := sr.partitions(ctx)
	if err != nil {
		return nil, err
	}
	ranges, err := sr.offsets(ctx, parts)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionOffsets, len(ranges))
	for i, r := range ranges {
		out[i] = PartitionOffsets{Partition: r.partition, First: r.first, End: r.end}
	}
	return out, nil
}

// Read reads the partitions of stream's topic without a consumer group,
// from opts.From, and calls fn with each record, in offset order within
// each partition. fn is called from one goroutine at a time, with a
// context that ends when Read stops; fn may keep rec.
//
// Read returns nil once every partition was read to its end when
// opts.UntilEnd is set; otherwise it reads until ctx ends and returns
// ctx's error. It stops at fn's first error and returns it, wrapped, and
// at the first error of a partition that retrying cannot help (a
// broker refusing the credentials, say). Retriable failures (a broker
// restarting, a leader moving) are logged and retried with backoff. The
// partitions are those the topic has when Read starts. A stream whose
// topic does not exist is ErrUnknownStream; Read never creates a topic.
//
// Read connects with the application's configuration: its brokers, TLS,
// SASL and client id. Every goroutine it starts has ended when it
// returns. A nil opts is the zero ReadOptions.
func (a *Application) Read(ctx context.Context, stream string, opts *ReadOptions, fn func(context.Context, *Record) error) error {
	var o ReadOptions
	if opts != nil {
		o = *opts
		o.Partitions = slices.Clone(o.Partitions)
	}
	if fn == nil {
		return fmt.Errorf("kafkaesk: read stream %q: fn is nil", stream)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("kafkaesk: read stream %q: %w", stream, err)
	}
	if a.closed.Load() {
		return ErrClosed
	}
	sr := a.newStreamRead(stream, &o)
	mctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	parts, err := sr.partitions(mctx)
	var ranges []partitionRange
	if err == nil {
		ranges, err = sr.offsets(mctx, parts)
	}
	cancel()
	if err != nil {
		return err
	}
	start := map[int]int64{}
	for _, r := range ranges {
		if !o.UntilEnd || r.start < r.end {
			start[r.partition] = r.start
		}
	}
	src, err := a.driver.newPartitionSource(sourceSpec{
		topic:         sr.topic,
		start:         start,
		readCommitted: o.ReadCommitted,
		log:           a.cfg.Logger.With("stream", stream, "topic", sr.topic),
	})
	if err != nil {
		return sr.errorf("%w", err)
	}
	defer src.close() // after the partitions' goroutines: deferred first, run last

	// Each partition is read by a goroutine of its own. The first to fail
	// stops the others; ctx's end stops them all.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	sr.stop = stop
	var wg sync.WaitGroup
	for _, r := range ranges {
		if _, ok := start[r.partition]; !ok {
			continue // nothing to read up to the end
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sr.readPartition(rctx, src.fetcher(r.partition), r, fn); err != nil {
				sr.fail(err)
			}
		}()
	}
	wg.Wait()
	if err := sr.err; err != nil && ctx.Err() != nil && errors.Is(err, rctx.Err()) {
		return ctx.Err() // stopped by ctx, not by a partition
	}
	return sr.err
}

// streamRead is one Read, or one StreamOffsets, of a stream.
type streamRead struct {
	a      *Application
	stream string
	topic  string
	opts   *ReadOptions

	mu sync.Mutex // held around each call of fn: one at a time

	stop    context.CancelFunc // ends every partition's reading
	errOnce sync.Once
	err     error // the first failure; set once, before stop is called
}

// fail records the first failure and stops reading.
func (sr *streamRead) fail(err error) {
	sr.errOnce.Do(func() { sr.err = err })
	sr.stop()
}

// partitionRange is where reading one partition starts and, with
// UntilEnd, stops.
type partitionRange struct {
	partition   int
	first, end  int64 // the partition's bounds when Read started
	start       int64 // the first offset to read
	startAtTime int64 // offset at opts.From's time; -1 for none
}

// newStreamRead returns the read of stream with opts.
func (a *Application) newStreamRead(stream string, opts *ReadOptions) *streamRead {
	return &streamRead{a: a, stream: stream, topic: a.Topic(stream), opts: opts}
}

func (sr *streamRead) brokers() string { return strings.Join(sr.a.cfg.Brokers, ",") }

// errorf returns an error naming the stream and its topic.
func (sr *streamRead) errorf(format string, args ...any) error {
	return fmt.Errorf("kafkaesk: read stream %q (topic %s): %w", sr.stream, sr.topic, fmt.Errorf(format, args...))
}

// partitions returns the topic's partitions to read, sorted: opts'
// Partitions, each checked to exist, or all of them.
func (sr *streamRead) partitions(ctx context.Context) ([]int, error) {
	all, _, err := sr.a.driver.describeTopic(ctx, sr.topic)
	if err != nil {
		return nil, sr.errorf("%w", err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w %q: no topic %s on %s", ErrUnknownStream, sr.stream, sr.topic, sr.brokers())
	}
	slices.Sort(all)
	if len(sr.opts.Partitions) == 0 {
		return all, nil
	}
	want := slices.Sorted(slices.Values(sr.opts.Partitions))
	for _, p := range want {
		if _, ok := slices.BinarySearch(all, p); !ok {
			return nil, sr.errorf("no partition %d: the topic has %d partitions, 0 to %d", p, len(all), len(all)-1)
		}
	}
	return want, nil
}

// offsets lists the bounds of parts, and the offsets at opts.From's time,
// in one request per partition and bound, and resolves where each
// partition starts.
func (sr *streamRead) offsets(ctx context.Context, parts []int) ([]partitionRange, error) {
	var at time.Time
	if sr.opts.From.kind == posTime {
		at = sr.opts.From.at
	}
	bounds, err := sr.a.driver.listOffsets(ctx, sr.topic, parts, sr.opts.ReadCommitted, at)
	if err != nil {
		return nil, sr.errorf("%w", err)
	}
	out := make([]partitionRange, 0, len(parts))
	for _, p := range parts {
		b := bounds[p]
		r := partitionRange{partition: p, first: b.first, end: b.end, startAtTime: b.atTime}
		r.start = r.resolve(sr.opts.From)
		out = append(out, r)
	}
	return out, nil
}

// resolve returns where reading starts for from.
func (r *partitionRange) resolve(from Position) int64 {
	switch from.kind {
	case posLatest:
		return r.end
	case posOffset:
		return min(max(from.offset, r.first), r.end)
	case posTime:
		if r.startAtTime < 0 {
			return r.end
		}
		return min(max(r.startAtTime, r.first), r.end)
	}
	return r.first
}

// readPartition reads one partition from r.start, until its end with
// UntilEnd (then it returns nil), or until ctx ends (then it returns
// ctx's error), or an error stops it.
func (sr *streamRead) readPartition(ctx context.Context, f fetcher, r partitionRange, fn func(context.Context, *Record) error) error {
	next := r.start
	for {
		rec, err := f.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return sr.errorf("partition %d at offset %d, from %s: %w", r.partition, next, sr.brokers(), err)
		}
		if sr.opts.UntilEnd && rec.Offset >= r.end {
			return nil // the records up to the end were deleted meanwhile
		}
		next = rec.Offset + 1
		if !rec.control {
			if err := sr.call(ctx, fn, &rec); err != nil {
				return err
			}
		}
		if sr.opts.UntilEnd && next >= r.end {
			return nil
		}
	}
}

// hangUpHint diagnoses a broker that hangs up on a client's first request:
// it expects authentication or TLS the client does not give.
func (c *Config) hangUpHint(err error) string {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		return ""
	}
	switch {
	case c.SASL.Mechanism == "" && c.TLS == nil:
		return " (the broker hung up: does it require SASL or TLS?)"
	case c.SASL.Mechanism == "":
		return " (the broker hung up: does it require SASL?)"
	case c.TLS == nil:
		return " (the broker hung up: does it require TLS, or other SASL credentials?)"
	}
	return " (the broker hung up: are the SASL credentials right?)"
}

// call runs fn on rec, one call at a time across partitions. A call is
// not started once ctx ended: it returns ctx's error. fn's error stops
// the other partitions before the next call can start.
func (sr *streamRead) call(ctx context.Context, fn func(context.Context, *Record) error, rec *Record) error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	err := fn(ctx, rec)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err // fn saw ctx end
	}
	err = sr.errorf("partition %d offset %d: %w", rec.Partition, rec.Offset, err)
	sr.fail(err)
	return err
}
