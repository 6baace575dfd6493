package collector

import (
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// Entry is one log event on its way to the outputs. It is valid only
// during the Output.Write call that receives it; an output that keeps
// anything copies it.
type Entry struct {
	// Stream is the stream the event was read from: its topic without
	// the topic prefix.
	Stream string
	// Record is the consumed Kafka record.
	Record *core.Record
	// Data is the event, the envelope's "data" object, as JSON on one
	// line (as published, unless it spanned several lines).
	Data []byte
	// Level is the event's Python level number (10 DEBUG ... 50
	// CRITICAL), 0 when it has none.
	Level int

	// schema and raw are the Schema and Data of the collector's scan of
	// Record.Value, all that EventView.Event reads; raw is nil when the
	// entry was not made by the collector.
	schema, raw []byte
}

// Event decodes the whole event, for outputs that need more than Data.
// It decodes from the collector's scan of the message: the event's data
// is walked once more, but neither the envelope read nor the JSON
// validated again.
func (e *Entry) Event() (*record.Event, error) {
	if e.raw != nil {
		v := record.EventView{Schema: e.schema, Data: e.raw}
		return v.Event()
	}
	return record.DecodeEvent(e.Record.Value)
}
