package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// newSource returns a source of topic from start, closed when the test
// ends.
func (e *franzEnv) newSource(topic string, start map[int]int64, readCommitted bool) partitionSource {
	e.t.Helper()
	s, err := e.d.newPartitionSource(sourceSpec{topic: topic, start: start, readCommitted: readCommitted, log: e.cfg.Logger})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.close)
	return s
}

// franzNextValues returns the values of the next n records of f, failing the
// test if one has not the offset expected, counting from first.
func franzNextValues(t *testing.T, f fetcher, first int64, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var values []string
	for i := range n {
		rec, err := f.next(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if first >= 0 && rec.Offset != first+int64(i) {
			t.Errorf("record %d at offset %d; want %d", i, rec.Offset, first+int64(i))
		}
		values = append(values, string(rec.Value))
	}
	return values
}

// franzCheckNothingMore checks that f has no record for a while.
func franzCheckNothingMore(t *testing.T, f fetcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if rec, err := f.next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("next: %+v, %v; want no record", rec, err)
	}
}

func TestFranzSourceReadsFromStartOffsets(t *testing.T) {
	e := newFranzEnv(t)
	e.createTopic("log", 3)
	e.produce("log", 3, 0, 10)
	s := e.newSource("log", map[int]int64{0: 0, 1: 5, 2: 10}, false)

	if got := franzNextValues(t, s.fetcher(0), 0, 10); got[0] != "p0-0" || got[9] != "p0-9" {
		t.Errorf("partition 0: %v", got)
	}
	if got := franzNextValues(t, s.fetcher(1), 5, 5); got[0] != "p1-5" || got[4] != "p1-9" {
		t.Errorf("partition 1: %v", got)
	}
	franzCheckNothingMore(t, s.fetcher(2))

	e.produce("log", 3, 10, 1)
	for p := range 3 {
		rec, err := s.fetcher(p).next(e.ctx())
		if err != nil || rec.Offset != 10 || rec.HighWaterMark != 11 || string(rec.Value) != fmt.Sprintf("p%d-10", p) {
			t.Errorf("partition %d: %+v, %v; want offset 10 of 11", p, rec, err)
		}
	}
	if _, err := s.fetcher(3).next(e.ctx()); err == nil || !strings.Contains(err.Error(), "log partition 3") {
		t.Errorf("fetcher of a partition not read: %v; want an error naming it", err)
	}
}

// TestFranzSourceReadCommittedSkipsAbortedTransaction: franz-go drops
// the records of aborted transactions when reading committed.
func TestFranzSourceReadCommittedSkipsAbortedTransaction(t *testing.T) {
	e := newFranzEnv(t)
	e.createTopic("txn", 1)
	tx, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.TransactionalID("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for _, end := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := range 2 {
			recs = append(recs, &kgo.Record{Topic: "txn", Value: fmt.Appendf(nil, "%v-%d", end == kgo.TryCommit, i)})
		}
		if err := tx.ProduceSync(e.ctx(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(e.ctx(), end); err != nil {
			t.Fatal(err)
		}
	}

	// A source's fetcher hands out the markers too, as control records
	// (Read skips them): "marker" below.
	committed := e.newSource("txn", map[int]int64{0: 0}, true)
	if got := franzNextValues(t, committed.fetcher(0), -1, 4); strings.Join(franzMarkers(got), " ") != "marker true-0 true-1 marker" {
		t.Errorf("read committed: %v; want the abort's marker and the committed transaction", got)
	}
	franzCheckNothingMore(t, committed.fetcher(0))

	all := e.newSource("txn", map[int]int64{0: 0}, false)
	if got := franzNextValues(t, all.fetcher(0), 0, 6); strings.Join(franzMarkers(got), " ") != "false-0 false-1 marker true-0 true-1 marker" {
		t.Errorf("read uncommitted: %v; want both transactions' records and markers", got)
	}
	franzCheckNothingMore(t, all.fetcher(0))
}

// franzMarkers replaces the values of control records (a version and a
// type, binary) by "marker".
func franzMarkers(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v
		if len(v) > 0 && v[0] == 0 {
			out[i] = "marker"
		}
	}
	return out
}

// TestFranzSourceSurfacesAnAuthorizationFailure reads as a user that may
// not read the topic: next returns the broker's refusal, naming the
// topic, instead of waiting.
func TestFranzSourceSurfacesAnAuthorizationFailure(t *testing.T) {
	checkFranzLeaks(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("PLAIN", "admin", "secret"), kfake.User("PLAIN", "reader", "secret"), kfake.SeedTopics(1, "private"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := Config{Brokers: c.ListenAddrs(), SASL: SASL{Mechanism: "PLAIN", Username: "reader", Password: "secret"}}.withDefaults()
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.newPartitionSource(sourceSpec{topic: "private", start: map[int]int64{0: 0}, log: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = s.fetcher(0).next(ctx)
	if !errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "topic private") {
		t.Errorf("next: %v; want TOPIC_AUTHORIZATION_FAILED naming the topic", err)
	}
	if _, err2 := s.fetcher(0).next(ctx); !errors.Is(err2, kerr.TopicAuthorizationFailed) {
		t.Errorf("next after the failure: %v; want it again", err2)
	}
}

func TestFranzSourceWithoutPartitionsRunsNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	cfg := Config{Brokers: []string{"127.0.0.1:1"}}.withDefaults()
	d, err := newFranzDriver(&cfg, newAbortableDialer(cfg.DialTimeout), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.newPartitionSource(sourceSpec{topic: "t", log: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	s.close()
	goleak.VerifyNone(t, ignore)
}

// franzFakePauser records pauses and resumes.
type franzFakePauser struct {
	mu     sync.Mutex
	calls  []string
	paused bool
}

func (p *franzFakePauser) PauseFetchPartitions(tps map[string][]int32) map[string][]int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprint("pause ", tps))
	p.paused = true
	return tps
}

func (p *franzFakePauser) ResumeFetchPartitions(tps map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprint("resume ", tps))
	p.paused = false
}

func (p *franzFakePauser) history() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.calls, "; ")
}

func franzFakeBatch(from, n int) []*kgo.Record {
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: "t", Partition: 2, Offset: int64(i), Value: []byte{byte(i)}})
	}
	return recs
}

// TestFranzFetcherPausesWhenFullAndResumesWhenDrained checks the
// fetcher's backpressure: push never blocks, the partition is paused at
// franzPauseAt batches and resumed at franzResumeAt; closing drops the
// queue and resumes a group's partition.
func TestFranzFetcherPausesWhenFullAndResumesWhenDrained(t *testing.T) {
	p := &franzFakePauser{}
	f := newFranzFetcher(p, "t", 2, true)
	for i := range franzPauseAt {
		f.push(franzFakeBatch(2*i, 2), 100)
	}
	if got := p.history(); got != "pause map[t:[2]]" {
		t.Fatalf("after %d batches: %q; want one pause", franzPauseAt, got)
	}
	f.push(franzFakeBatch(2*franzPauseAt, 2), 100) // kgo may still deliver one
	// The batches are taken one by one; the one that leaves
	// franzResumeAt queued resumes the partition.
	takes := franzPauseAt + 1 - franzResumeAt
	for i := range 2*(takes-1) + 1 {
		if i == 2*(takes-1) && !p.paused {
			t.Errorf("calls %q: resumed with %d batches queued", p.history(), franzResumeAt+1)
		}
		rec, err := f.next(context.Background())
		if err != nil || rec.Offset != int64(i) || rec.HighWaterMark != 100 || rec.Topic != "t" || rec.Partition != 2 {
			t.Fatalf("next %d: %+v, %v", i, rec, err)
		}
	}
	if p.paused {
		t.Errorf("calls %q: still paused with %d batches queued", p.history(), franzResumeAt)
	}

	f.push(franzFakeBatch(100, 1), 100)
	f.push(franzFakeBatch(101, 1), 100)
	f.close()
	f.push(franzFakeBatch(102, 1), 100) // dropped
	if _, err := f.next(context.Background()); !errors.Is(err, errFetcherClosed) {
		t.Errorf("next after close: %v; want errFetcherClosed", err)
	}
	if p.paused {
		t.Errorf("calls %q: a group's partition stays paused after close", p.history())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newFranzFetcher(p, "t", 2, true).next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("next with an ended ctx: %v", err)
	}
	s := newFranzFetcher(p, "t", 2, false)
	s.close()
	if !p.paused {
		t.Errorf("calls %q: a source's partition is not paused after close", p.history())
	}
}

func TestFranzFetcherReturnsAFailureAfterTheRecordsBeforeIt(t *testing.T) {
	f := newFranzFetcher(nil, "t", 2, false)
	f.push(franzFakeBatch(0, 1), 1)
	boom := errors.New("boom")
	f.fail(boom)
	if rec, err := f.next(context.Background()); err != nil || rec.Offset != 0 {
		t.Errorf("next: %+v, %v; want the record fetched before the failure", rec, err)
	}
	for range 2 {
		if _, err := f.next(context.Background()); err != boom {
			t.Errorf("next: %v; want the failure", err)
		}
	}
}

func TestFranzRecordSharesTheFetchedSlices(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte("v"), Timestamp: at,
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}}}
	rec := recordOfFranz(r, 9)
	if rec.Topic != "t" || rec.Partition != 1 || rec.Offset != 7 || rec.HighWaterMark != 9 || !rec.Time.Equal(at) ||
		&rec.Key[0] != &r.Key[0] || &rec.Value[0] != &r.Value[0] ||
		len(rec.Headers) != 2 || rec.Headers[0].Key != "a" || string(rec.Headers[0].Value) != "1" || rec.Headers[1].Key != "b" {
		t.Errorf("recordOfFranz: %+v", rec)
	}
	if rec := recordOfFranz(&kgo.Record{}, 0); rec.Headers != nil {
		t.Errorf("a record without headers got %v", rec.Headers)
	}
}
