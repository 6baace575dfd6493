package collector_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/collector"
)

// tracedEvent is a log event with a trace_id, as the Go handlers write
// it inside a span.
func tracedEvent(traceID string, seq int) []byte {
	return fmt.Appendf(nil, `{"schema":"PydanticLogModel:1","data":{"logger":"http","level":20,"message":"m","service":"api",`+
		`"trace_id":%q,"span_id":"00f067aa0ba902b7","seq":%d}}`, traceID, seq)
}

// Filter.TraceIDs keeps the events of the given traces, whatever the
// case of their hex digits, and drops the others and the events with no
// trace_id, counted under the reason "trace_id".
func TestTraceIDFilter(t *testing.T) {
	e := newEnv(t)
	const a, b = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	e.publish("logs.a",
		tracedEvent(a, 1), // kept
		tracedEvent("4BF92F3577B34DA6A3CE929D0E0E4736", 2), // kept: case does not matter
		tracedEvent(b, 3), // kept
		tracedEvent("11111111111111111111111111111111", 4),
		logEvent("api", "http", 20, 5), // no trace_id
	)
	var buf syncBuffer
	c, err := collector.New(e.app(), collector.Options{
		Patterns: []string{"logs.*"},
		Group:    e.group,
		Outputs:  []collector.Output{collector.NewJSONLines(&buf)},
		Filter:   collector.Filter{TraceIDs: []string{a, b}},
	})
	require.NoError(t, err)
	start(t, c)
	waitFor(t, "every message handled", func() bool { return c.Stats().Received == 5 })
	waitFor(t, "flushed", func() bool { return bytes.Count(buf.bytes(), []byte("\n")) == 3 })
	assert.Equal(t, int64(2), c.Stats().Dropped)
	for _, seq := range []string{`"seq":1}`, `"seq":2}`, `"seq":3}`} {
		assert.Contains(t, buf.String(), seq)
	}
}

// A trace id that is not one is refused, naming the field and the value.
func TestTraceIDFilterRefusesWhatIsNotATraceID(t *testing.T) {
	e := newEnv(t)
	_, err := collector.New(e.app(), collector.Options{Patterns: []string{"logs.*"}, Group: "g",
		Outputs: []collector.Output{collector.NewJSONLines(io.Discard)},
		Filter:  collector.Filter{TraceIDs: []string{"4bf92f35", "00000000000000000000000000000000", "4bf92f3577b34da6a3ce929d0e0e4736"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Filter.TraceIDs[0] "4bf92f35" is not a trace id`)
	assert.Contains(t, err.Error(), `Filter.TraceIDs[1] "00000000000000000000000000000000" is not a trace id`)
	assert.NotContains(t, err.Error(), "TraceIDs[2]")
}
