package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"

	"github.com/kafkaesk-go/kafkaesk/internal/jsonscan"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// Pretty writes events as human-readable lines through streamhandler
// (tint): time, level, message, then service, logger and the event's own
// fields. Events from every level are written: filter with
// Options.Filter. It buffers between flushes, as JSONLines.
type Pretty struct {
	lines *lineBuffer
	h     *streamhandler.Handler
}

// NewPretty returns an output writing to w, which it does not close.
// opts.Color ColorAuto (the default) colours the lines when w is a
// terminal and NO_COLOR is unset; opts.Level is ignored.
func NewPretty(w io.Writer, opts *streamhandler.Options) *Pretty {
	var o streamhandler.Options
	if opts != nil {
		o = *opts
	}
	o.Color = o.Color.Resolve(w) // on w: the handler writes to a buffer
	o.Level = slog.Level(math.MinInt32)
	lines := newLineBuffer(w, 64<<10)
	return &Pretty{lines: lines, h: streamhandler.New(lines, &o)}
}

// Write renders e from the collector's scan of the message. An event
// that does not decode in full (a base field of an unexpected type) is
// written as its stream and raw data.
func (p *Pretty) Write(e *Entry) error {
	ev, err := e.Event()
	if err != nil {
		return p.lines.writeLine(fmt.Appendf(nil, "%s %s", e.Stream, e.Data))
	}
	r := slog.NewRecord(ev.Timestamp, ev.SlogLevel(), ev.Message, 0)
	if ev.Service != "" {
		r.AddAttrs(slog.String("service", ev.Service))
	}
	if ev.Logger != "" {
		r.AddAttrs(slog.String("logger", ev.Logger))
	}
	for _, k := range ev.Order {
		if a, ok := jsonAttr(k, ev.Fields[k]); ok {
			r.AddAttrs(a)
		}
	}
	for _, f := range [...]struct{ k, v string }{{"exception", ev.Exception}, {"stack", ev.Stack}, {"trace", ev.Trace}} {
		if f.v != "" {
			r.AddAttrs(slog.String(f.k, f.v))
		}
	}
	return p.h.Handle(context.Background(), r)
}

// Flush writes out the buffered lines.
func (p *Pretty) Flush() error {
	if err := p.lines.flush(); err != nil {
		return fmt.Errorf("output pretty: %w", err)
	}
	return nil
}

// Close flushes.
func (p *Pretty) Close() error { return p.Flush() }

func (p *Pretty) String() string { return "pretty" }

// jsonAttr turns a JSON field into an attribute: objects into groups,
// numbers into ints or floats, arrays into their JSON text; nulls are
// left out.
func jsonAttr(k string, raw json.RawMessage) (slog.Attr, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return slog.Attr{}, false
	}
	switch raw[0] {
	case 'n':
		return slog.Attr{}, false
	case 't', 'f':
		return slog.Bool(k, raw[0] == 't'), true
	case '"':
		content := raw[1 : len(raw)-1]
		return slog.String(k, jsonscan.Text(content, bytes.IndexByte(content, '\\') >= 0)), true
	case '{':
		// The value was validated by the event's scan; a walk of its
		// members turns them into the group's attributes.
		sc := jsonscan.New(raw)
		sc.Object()
		var attrs []any
		for sc.More() {
			key, esc, ok := sc.Key()
			if !ok {
				break
			}
			v, ok := sc.Value()
			if !ok {
				break
			}
			if a, ok := jsonAttr(jsonscan.Text(key, esc), v); ok {
				attrs = append(attrs, a)
			}
		}
		return slog.Group(k, attrs...), true
	case '[':
		return slog.String(k, string(raw)), true
	default:
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return slog.Int64(k, n), true
		}
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return slog.Float64(k, f), true
		}
	}
	return slog.String(k, string(raw)), true
}
