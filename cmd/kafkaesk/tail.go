package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

const tailSynopsis = "PATTERN [--group G] [--from-beginning] [--exit] [--read-committed] [--format pretty|json] [--trace-id ID...]"

// runTail prints the messages of the streams matching a pattern.
func runTail(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("tail", tailSynopsis, std)
	kf := addKafkaFlags(fs)
	group := fs.String("group", "", "consumer group, whose offsets are used and committed (default: no group: read the partitions directly, committing nothing)")
	fromBeginning := fs.Bool("from-beginning", false, "start at the beginning of the streams (default: from now, or the group's offsets)")
	exit := fs.Bool("exit", false, "exit once the end of every matched partition, as of the start, is printed")
	readCommitted := fs.Bool("read-committed", false, "without --group: read with the read_committed isolation level, up to the last stable offset")
	format := fs.String("format", "pretty", "pretty (log events as log lines) or json (each message value on a line)")
	var traceIDs stringList
	fs.Var(&traceIDs, "trace-id", "print only messages of this trace (32 hex digits): those whose traceparent header carries it, and log events whose trace_id is it; repeatable")
	local := addEmbeddedBrokerFlags(fs)
	rest, err := kf.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0:
		return usagef("give the stream PATTERN to tail")
	case len(rest) > 1:
		return usagef("unexpected argument %q: give one PATTERN", rest[1])
	case *format != "pretty" && *format != "json":
		return usagef("flag --format: want pretty or json, got %q", *format)
	case *readCommitted && *group != "":
		return usagef("flag --read-committed: only without --group")
	}
	ids, err := parseTraceIDs(traceIDs)
	if err != nil {
		return usagef("flag --trace-id: %v", err)
	}
	t := &tail{pattern: rest[0], fromBeginning: *fromBeginning, exit: *exit, readCommitted: *readCommitted}
	if strings.Contains(t.pattern, "*") {
		if _, err := core.CompilePattern(t.pattern); err != nil {
			return usagef("pattern %q: %v", t.pattern, err)
		}
	}

	cfg := kf.config(std)
	stopBroker, err := local.startUnlessGiven(kf, &cfg, std)
	if err != nil {
		return err
	}
	defer stopBroker()
	cfg.CommitInterval = min(cfg.CommitInterval, time.Second)
	cfg.ShutdownTimeout = 5 * time.Second
	app, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp(app)
	t.app = app
	t.printer = newPrinter(std.out, *format, app.Config().TopicPrefix)
	t.printer.traceIDs = ids
	defer t.printer.flush()
	if *group != "" {
		return t.withGroup(ctx, *group)
	}
	return t.read(ctx)
}

// tail is one kafkaesk tail.
type tail struct {
	app           *core.Application
	printer       *printer
	pattern       string
	fromBeginning bool
	exit          bool
	readCommitted bool
}

// discoveryInterval is how often a tail that follows looks for new
// streams matching its pattern.
const discoveryInterval = time.Second

// read reads the matching streams without a group, each partition from
// the start or the end: to the end as of now with --exit, otherwise until
// ctx ends, then looking for new streams every discoveryInterval. A
// stream that appears meanwhile is read from its beginning: everything in
// it is new.
func (t *tail) read(ctx context.Context) error {
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error // the first stream's failure; set once, then ctx is cancelled
		reading = map[string]bool{}
	)
	defer wg.Wait() // after cancel: every stream's Read has returned before tail does
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := core.ReadOptions{UntilEnd: t.exit, ReadCommitted: t.readCommitted, From: core.Latest()}
	if t.fromBeginning {
		opts.From = core.Earliest()
	}
	for first := true; ; first = false {
		streams, err := t.app.Streams(ctx, t.pattern)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && first:
			return err
		case err != nil:
			t.app.Config().Logger.Warn("kafkaesk: listing streams", "err", err)
		case len(streams) == 0 && first && t.exit:
			return fmt.Errorf("no stream matches %q (topic %s)", t.pattern, t.app.Topic(t.pattern))
		}
		for _, stream := range streams {
			if reading[stream] {
				continue
			}
			reading[stream] = true
			o := opts
			if !first {
				o.From = core.Earliest()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := t.app.Read(ctx, stream, &o, func(_ context.Context, rec *core.Record) error {
					t.printer.print(rec)
					return nil
				})
				if err != nil && ctx.Err() == nil {
					errOnce.Do(func() { failure = err })
					cancel()
				}
			}()
		}
		if t.exit {
			wg.Wait()
			return failure
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return failure // nil when stopped by a signal
		case <-time.After(discoveryInterval):
		}
	}
}

// withGroup consumes the matching streams in consumer group group, from
// its committed offsets (or the start or the end where it has none), and
// commits as it goes. With --exit it stops once every partition is
// finished up to its end as of now.
func (t *tail) withGroup(ctx context.Context, group string) error {
	var ends *groupEnds
	if t.exit {
		var err error
		if ends, err = t.ends(ctx); err != nil {
			return err
		}
		if ends.done(nil) {
			return nil // nothing to print
		}
	}
	sub, err := core.Subscribe(t.app, t.pattern, group, func(_ context.Context, m *core.Message[[]byte]) error {
		t.printer.print(m.Record)
		return nil
	}, &core.SubscribeOptions{StartFromLatest: !t.fromBeginning, DiscoveryInterval: discoveryInterval})
	if err != nil {
		return usagef("%v", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after stop: the watcher has returned before tail does
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if ends != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
					if ends.done(sub.Partitions()) {
						stop()
						return
					}
				}
			}
		}()
	}
	return t.app.Run(runCtx)
}

// ends returns where a group tail with --exit stops: the end of each
// partition of the matching streams, as of now.
func (t *tail) ends(ctx context.Context) (*groupEnds, error) {
	streams, err := t.app.Streams(ctx, t.pattern)
	if err != nil {
		return nil, err
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("no stream matches %q (topic %s)", t.pattern, t.app.Topic(t.pattern))
	}
	e := &groupEnds{fromBeginning: t.fromBeginning, parts: map[string][]core.PartitionOffsets{}}
	for _, s := range streams {
		offs, err := t.app.StreamOffsets(ctx, s)
		if err != nil {
			return nil, err
		}
		e.parts[t.app.Topic(s)] = offs
	}
	return e, nil
}

// printer writes messages to the output, buffered, flushed whenever a
// partition is caught up so that a live tail shows lines at once.
type printer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	json   bool
	prefix string
	pretty *collector.Pretty
	n      int

	traceIDs []string // --trace-id, lowercase; nil: every message
}

func newPrinter(out io.Writer, format, prefix string) *printer {
	p := &printer{w: bufio.NewWriterSize(out, 64<<10), json: format == "json", prefix: prefix}
	// Colours are decided on out: the printer writes to a buffer.
	p.pretty = collector.NewPretty(p.w, &streamhandler.Options{Color: streamhandler.ColorAuto.Resolve(out)})
	return p
}

// print writes rec as a line. The value is parsed once: as JSON with
// --format json, otherwise as a kafkaesk envelope, whose data goes on to
// the pretty output when it is a log event.
func (p *printer) print(rec *core.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stream := strings.TrimPrefix(rec.Topic, p.prefix)
	if p.traceIDs != nil && !p.inTraces(rec) {
		p.flushAt(rec)
		return
	}
	if p.json {
		p.w.Write(jsonLine(rec.Value))
		p.flushAt(rec)
		return
	}
	switch e, err := core.DecodeEnvelope(rec.Value); {
	case err != nil:
		fmt.Fprintf(p.w, "%s %d@%d %s\n", stream, rec.Partition, rec.Offset, notEnvelope(rec.Value))
	case isLogEvent(e.Schema):
		_ = p.pretty.Write(&collector.Entry{Stream: stream, Record: rec, Data: e.Data})
		_ = p.pretty.Flush() // into p.w, in order with other lines
	default:
		fmt.Fprintf(p.w, "%s %d@%d %s\n", stream, rec.Partition, rec.Offset, otherMessage(e))
	}
	p.flushAt(rec)
}

// flushAt flushes the buffer every 256 lines, and when rec is the last of
// its partition as of its fetch, so that a live tail shows lines at once.
func (p *printer) flushAt(rec *core.Record) {
	if p.n++; p.n%256 == 0 || rec.Offset+1 >= rec.HighWaterMark {
		p.w.Flush()
	}
}

// inTraces reports whether rec belongs to one of the --trace-id traces:
// its W3C traceparent header ("00-<trace id>-<span id>-<flags>") names
// one, or it is a log event whose trace_id is one.
func (p *printer) inTraces(rec *core.Record) bool {
	for _, h := range rec.Headers {
		if h.Key == "traceparent" && len(h.Value) >= 35 && h.Value[2] == '-' && slices.Contains(p.traceIDs, strings.ToLower(string(h.Value[3:35]))) {
			return true
		}
	}
	var v record.EventView
	return record.ScanEvent(rec.Value, &v) == nil && v.TraceID != nil && slices.Contains(p.traceIDs, strings.ToLower(string(v.TraceID)))
}

// parseTraceIDs returns ids in lowercase, checked to be OpenTelemetry
// trace ids: 32 hex digits, not all zero. nil for none.
func parseTraceIDs(ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		lower := strings.ToLower(id)
		if _, err := trace.TraceIDFromHex(lower); err != nil {
			return nil, fmt.Errorf("%q is not a trace id: want 32 hex digits, not all zero", id)
		}
		out = append(out, lower)
	}
	return out, nil
}

// isLogEvent reports whether schema, "id:version", is the log event's.
func isLogEvent(schema string) bool {
	id, _, _ := strings.Cut(schema, ":")
	return id == record.SchemaID
}

func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.pretty.Flush()
	p.w.Flush()
}

// jsonLine returns value on one line: compacted JSON, or a JSON string
// when the value is not JSON.
func jsonLine(value []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, value); err == nil {
		b.WriteByte('\n')
		return b.Bytes()
	}
	q, _ := json.Marshal(string(value))
	return append(q, '\n')
}

// otherMessage renders an envelope that is not a log event: its schema
// and data.
func otherMessage(e core.Envelope) string {
	var data bytes.Buffer
	if json.Compact(&data, e.Data) != nil {
		return e.Schema + " " + string(e.Data)
	}
	return e.Schema + " " + data.String()
}

// notEnvelope renders a value that is not a kafkaesk envelope: its text,
// quoted and cut at 1 KiB.
func notEnvelope(value []byte) string {
	s := string(value)
	if len(s) > 1024 {
		s = s[:1024] + "..."
	}
	return "(not a kafkaesk envelope) " + strconv.Quote(s)
}

// groupEnds is where a group tail with --exit stops: each partition's
// bounds when tail started.
type groupEnds struct {
	fromBeginning bool
	parts         map[string][]core.PartitionOffsets // by topic
}

// done reports whether the group finished every partition up to its end,
// given its assigned partitions' states. An empty partition is done at
// once. So is a partition that the group has no offset for (nothing
// committed, nothing finished) when tail started from now: the group
// started reading it at its end, which is no earlier than the end taken
// before the group joined.
func (e *groupEnds) done(states []core.PartitionState) bool {
	assigned := map[string]map[int]core.PartitionState{}
	for _, s := range states {
		if assigned[s.Topic] == nil {
			assigned[s.Topic] = map[int]core.PartitionState{}
		}
		assigned[s.Topic][s.Partition] = s
	}
	for topic, parts := range e.parts {
		for _, p := range parts {
			if p.Len() <= 0 {
				continue
			}
			s, ok := assigned[topic][p.Partition]
			switch {
			case !ok:
				return false // not assigned yet
			case s.Finished >= p.End:
			case s.Finished < 0 && s.Committed < 0 && !e.fromBeginning:
			default:
				return false
			}
		}
	}
	return true
}
