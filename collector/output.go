package collector

import (
	"fmt"
	"io"
	"strings"
)

// Output is where the collector writes events.
//
// Write is called concurrently, from the goroutines of several
// partitions; an output serialises as it needs. Write may buffer: the
// collector calls Flush before it commits offsets, and commits only when
// every output's Flush returned nil, so Flush must make everything written
// so far as durable as the output promises. An error from Write or Flush
// is retried by the collector, with backoff, until it succeeds or the
// collector stops; the event's offset is not committed meanwhile. Write
// must not buffer without bound while it fails.
type Output interface {
	Write(e *Entry) error
	Flush() error
	Close() error
	// String names the output in metrics, logs and errors, as the
	// command line does: "pretty", "jsonl", "jsonl:PATH", "file:PATH".
	String() string
}

// ParseOutput builds an output from its command-line form:
//
//	pretty        human-readable lines on stdout (colours on a terminal)
//	jsonl         JSON lines on stdout, one event per line
//	jsonl:PATH    JSON lines appended to the file PATH
//	file:PATH     JSON lines to PATH, rotated by size (see FileOptions)
//
// file and jsonl:PATH outputs are opened at once, so a path that cannot
// be written is an error here, naming it.
func ParseOutput(spec string, stdout io.Writer, file *FileOptions) (Output, error) {
	kind, path, hasPath := strings.Cut(spec, ":")
	switch {
	case spec == "pretty":
		return NewPretty(stdout, nil), nil
	case spec == "jsonl":
		return NewJSONLines(stdout), nil
	case kind == "jsonl" && hasPath && path != "":
		return CreateJSONLines(path, file)
	case kind == "file" && hasPath && path != "":
		return OpenRotating(path, file)
	}
	return nil, fmt.Errorf("output %q: want pretty, jsonl, jsonl:PATH or file:PATH", spec)
}
