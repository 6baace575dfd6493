package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Options configures a Collector. Patterns, Group and Outputs are
// required; every other field's zero value is valid.
type Options struct {
	// Patterns are the streams to collect, fnmatch-style patterns as
	// core.Subscribe takes them ("logs.*"). Each is its own subscription
	// in the one consumer group. Required.
	Patterns []string
	// Group is the consumer group: collectors sharing it share the
	// partitions. Required.
	Group string
	// Outputs receive every event that passes Filter, in order within a
	// partition. The collector closes them when Run returns. Required.
	Outputs []Output
	// Filter drops events before the outputs. Default: none.
	Filter Filter
	// DeadLetterStream, when set, receives every message that is not a
	// log event, unchanged, with kafkaesk's dead-letter headers (see
	// core.HeaderError). Default: such messages are counted, logged and
	// skipped.
	DeadLetterStream string
	// Concurrency is how many messages are handled at once, across
	// partitions. Default: 4.
	Concurrency int
	// StartFromLatest starts a group with no committed offsets at the end
	// of each partition. Default: from the earliest offset.
	StartFromLatest bool
	// FlushInterval is how often offsets are committed, each commit
	// after the outputs have flushed (and synced, with FileOptions.Sync):
	// the longest an event waits in an output's buffer, and about what a
	// crash redelivers. The application's Config.CommitInterval applies
	// instead when it is shorter. An idle collector does not flush.
	// Default: 1s; at least 1ms.
	FlushInterval time.Duration
	// Logger receives the collector's warnings (skipped messages, failing
	// outputs). Default: the application's Config.Logger.
	Logger *slog.Logger
}

// Filter selects the events written. Each list holds fnmatch-style
// patterns ("api-*"), or trace ids; an event passes a list when it
// matches one of them, and passes the filter when it passes every
// non-empty list and MinLevel.
type Filter struct {
	// MinLevel drops events below it. An event with no level is at
	// Python's NOTSET, below every level. Default (nil): none dropped.
	MinLevel slog.Leveler
	// Services, Loggers and Streams match the event's "service" and
	// "logger" fields and the stream it was read from.
	Services, Loggers, Streams []string
	// TraceIDs match the event's "trace_id" field (record.TraceIDKey),
	// which the Go handlers write from the slog call's span: each is an
	// OpenTelemetry trace id, 32 hex digits in either case, compared
	// without regard to case. Events without a trace_id do not pass.
	TraceIDs []string
}

// parseTraceIDs returns ids in lowercase, checked to be trace ids.
func parseTraceIDs(ids []string) ([][]byte, error) {
	var out [][]byte
	var errs []error
	for i, id := range ids {
		lower := strings.ToLower(id)
		if _, err := trace.TraceIDFromHex(lower); err != nil {
			errs = append(errs, fmt.Errorf("Filter.TraceIDs[%d] %q is not a trace id: want 32 hex digits, not all zero", i, id))
			continue
		}
		out = append(out, []byte(lower))
	}
	return out, errors.Join(errs...)
}

const (
	defaultConcurrency   = 4
	defaultFlushInterval = time.Second
)

// validate reports every problem of o, naming the field.
func (o *Options) validate() error {
	var errs []error
	if len(o.Patterns) == 0 {
		errs = append(errs, errors.New("Patterns is empty: give at least one stream pattern"))
	}
	for i, p := range o.Patterns {
		if p == "" {
			errs = append(errs, fmt.Errorf("Patterns[%d] is empty", i))
		} else if _, err := core.CompilePattern(p); err != nil {
			errs = append(errs, fmt.Errorf("Patterns[%d] %q: %w", i, p, err))
		}
	}
	if o.Group == "" {
		errs = append(errs, errors.New("Group is empty: give the consumer group"))
	}
	if len(o.Outputs) == 0 {
		errs = append(errs, errors.New("Outputs is empty: give at least one output"))
	}
	for i, out := range o.Outputs {
		if out == nil {
			errs = append(errs, fmt.Errorf("Outputs[%d] is nil", i))
		}
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("Concurrency is %d: want 0 (the default) or more", o.Concurrency))
	}
	if o.FlushInterval < 0 || (o.FlushInterval > 0 && o.FlushInterval < time.Millisecond) {
		errs = append(errs, fmt.Errorf("FlushInterval is %v: want 0 (the default) or 1ms or more", o.FlushInterval))
	}
	return errors.Join(errs...)
}

// matcher matches names against a list of patterns, remembering the
// answers: services and loggers are few, and a regexp per event is not.
type matcher struct {
	res   []*regexp.Regexp
	cache syncMap
}

func newMatcher(field string, patterns []string) (*matcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	m := &matcher{}
	for i, p := range patterns {
		re, err := core.CompilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("Filter.%s[%d] %q: %w", field, i, p, err)
		}
		m.res = append(m.res, re)
	}
	return m, nil
}

// match reports whether name matches a pattern; a nil matcher matches
// everything.
func (m *matcher) match(name []byte) bool {
	if m == nil {
		return true
	}
	if ok, found := m.cache.load(name); found {
		return ok
	}
	ok := false
	for _, re := range m.res {
		if re.Match(name) {
			ok = true
			break
		}
	}
	m.cache.store(string(name), ok)
	return ok
}
