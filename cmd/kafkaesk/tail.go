package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

const tailSynopsis = "PATTERN [--group G] [--from-beginning] [--exit] [--format pretty|json]"

// runTail prints the messages of the streams matching a pattern.
func runTail(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("tail", tailSynopsis, std)
	kf := addKafkaFlags(fs)
	group := fs.String("group", "", "consumer group, whose offsets are used and committed (default: a new group of its own that commits nothing)")
	fromBeginning := fs.Bool("from-beginning", false, "start at the beginning of the streams (default: from now, or the group's offsets)")
	exit := fs.Bool("exit", false, "exit once the end of every matched partition, as of the start, is printed")
	format := fs.String("format", "pretty", "pretty (log events as log lines) or json (each message value on a line)")
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
	}
	pattern := rest[0]

	cfg := kf.config(std)
	stopBroker, err := local.startUnlessGiven(kf, &cfg, std)
	if err != nil {
		return err
	}
	defer stopBroker()
	if *group == "" {
		*group = "kafkaesk-tail-" + randomHex()
		cfg.DisableAutoCommit = true
	}
	cfg.CommitInterval = min(cfg.CommitInterval, time.Second)
	cfg.ShutdownTimeout = 5 * time.Second
	app, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp(app)

	var ends *endOffsets
	if *exit {
		if ends, err = findEnds(ctx, app.Config(), pattern, *group, *fromBeginning); err != nil {
			return err
		}
		if ends.done(nil) {
			return nil // nothing to print
		}
	}

	p := newPrinter(std.out, *format, app.Config().TopicPrefix)
	defer p.flush()
	sub, err := core.Subscribe(app, pattern, *group, func(_ context.Context, m *core.Message[[]byte]) error {
		p.print(m.Record)
		return nil
	}, &core.SubscribeOptions{StartFromLatest: !*fromBeginning, DiscoveryInterval: time.Second})
	if err != nil {
		return usagef("%v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if ends != nil {
		go func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
					if ends.done(sub.Partitions()) {
						stop()
						return
					}
				}
			}
		}()
	}
	return app.Run(runCtx)
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
}

func newPrinter(out io.Writer, format, prefix string) *printer {
	p := &printer{w: bufio.NewWriterSize(out, 64<<10), json: format == "json", prefix: prefix}
	// Colours are decided on out: the printer writes to a buffer.
	p.pretty = collector.NewPretty(p.w, &streamhandler.Options{Color: streamhandler.ColorAuto.Resolve(out)})
	return p
}

func (p *printer) print(rec *core.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stream := strings.TrimPrefix(rec.Topic, p.prefix)
	switch {
	case p.json:
		p.w.Write(jsonLine(rec.Value))
	default:
		if _, err := record.DecodeEvent(rec.Value); err == nil {
			_ = p.pretty.Write(&collector.Entry{Stream: stream, Record: rec})
			_ = p.pretty.Flush() // into p.w, in order with other lines
			break
		}
		fmt.Fprintf(p.w, "%s %d@%d %s\n", stream, rec.Partition, rec.Offset, otherMessage(rec.Value))
	}
	if p.n++; p.n%256 == 0 || rec.Offset+1 >= rec.HighWaterMark {
		p.w.Flush()
	}
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
	if json.Valid(value) {
		if err := json.Compact(&b, value); err == nil {
			b.WriteByte('\n')
			return b.Bytes()
		}
	}
	q, _ := json.Marshal(string(value))
	return append(q, '\n')
}

// otherMessage renders a message that is not a log event: its schema and
// data, or its text.
func otherMessage(value []byte) string {
	if e, err := core.DecodeEnvelope(value); err == nil {
		var data bytes.Buffer
		if json.Compact(&data, e.Data) == nil {
			return e.Schema + " " + data.String()
		}
	}
	s := string(value)
	if len(s) > 1024 {
		s = s[:1024] + "..."
	}
	return "(not a kafkaesk envelope) " + strconv.Quote(s)
}

// endOffsets is where --exit stops: per partition, the end offset when
// tail started and where reading starts.
type endOffsets struct {
	parts map[string]map[int][2]int64 // topic → partition → {start, end}
}

// done reports whether every partition was read up to its end.
func (e *endOffsets) done(states []core.PartitionState) bool {
	finished := map[string]map[int]int64{}
	for _, s := range states {
		if finished[s.Topic] == nil {
			finished[s.Topic] = map[int]int64{}
		}
		finished[s.Topic][s.Partition] = s.Finished
	}
	for topic, parts := range e.parts {
		for p, se := range parts {
			start, end := se[0], se[1]
			if end <= start {
				continue
			}
			if f, ok := finished[topic][p]; !ok || f < end {
				return false
			}
		}
	}
	return true
}

// findEnds lists the topics matching pattern and their offsets.
func findEnds(ctx context.Context, cfg core.Config, pattern, group string, fromBeginning bool) (*endOffsets, error) {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.RequestTimeout}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	full := cfg.TopicPrefix + pattern
	match := func(t string) bool { return t == full }
	if strings.Contains(pattern, "*") {
		re, err := core.CompilePattern(full)
		if err != nil {
			return nil, usagef("pattern %q: %v", pattern, err)
		}
		match = re.MatchString
	}
	e := &endOffsets{parts: map[string]map[int][2]int64{}}
	req := map[string][]kafka.OffsetRequest{}
	ids := map[string][]int{}
	for _, t := range meta.Topics {
		if strings.HasPrefix(t.Name, "__") || !match(t.Name) {
			continue
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			ids[t.Name] = append(ids[t.Name], p.ID)
		}
	}
	if len(req) == 0 {
		return nil, fmt.Errorf("no stream matches %q (topic %s)", pattern, full)
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: ids})
	if err == nil {
		err = committed.Error
	}
	switch {
	case errors.Is(err, kafka.GroupIdNotFound):
		committed = &kafka.OffsetFetchResponse{} // a new group: nothing committed (kfake says so)
	case err != nil:
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	for topic, parts := range offs.Topics {
		e.parts[topic] = map[int][2]int64{}
		for _, po := range parts {
			if po.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			start := po.LastOffset // from now
			if fromBeginning {
				start = po.FirstOffset
			}
			for _, c := range committed.Topics[topic] {
				if c.Partition == po.Partition && c.CommittedOffset >= 0 {
					start = c.CommittedOffset
				}
			}
			e.parts[topic][po.Partition] = [2]int64{start, po.LastOffset}
		}
	}
	return e, nil
}
