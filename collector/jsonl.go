package collector

import (
	"errors"
	"fmt"
	"io"
)

// JSONLines writes each event's data object on a line of its own: the
// event exactly as published (one line; an event that spanned several is
// compacted), ready for jq, Vector or Loki. It buffers up to
// FileOptions.BufferSize (256 KiB) between flushes.
type JSONLines struct {
	name   string
	lines  *lineBuffer
	closer io.Closer // nil for a writer the output does not own
}

// NewJSONLines returns an output writing JSON lines to w, which it does
// not close. Flush writes out the buffer; it does not sync w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{name: "jsonl", lines: newLineBuffer(w, 0)}
}

// CreateJSONLines returns an output appending JSON lines to the file at
// path, created if missing, never rotated (see OpenRotating for that). A
// last line cut short by a crash is removed first (its events were not
// committed and come again). With opts.Sync, Flush fsyncs the file.
func CreateJSONLines(path string, opts *FileOptions) (*JSONLines, error) {
	o := opts.withDefaults()
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("output jsonl:%s: %w", path, err)
	}
	out := &JSONLines{name: "jsonl:" + path, lines: newLineBuffer(f, o.BufferSize), closer: f}
	if o.Sync {
		out.lines.sync = f.Sync
	}
	return out, nil
}

// Write buffers e.Data and a newline.
func (o *JSONLines) Write(e *Entry) error { return o.lines.writeLine(e.Data) }

// Flush writes out what is buffered (and fsyncs, when asked to).
func (o *JSONLines) Flush() error {
	if err := o.lines.flush(); err != nil {
		return fmt.Errorf("output %s: %w", o.name, err)
	}
	return nil
}

// Close flushes, then closes the file it opened.
func (o *JSONLines) Close() error {
	err := o.Flush()
	if o.closer != nil {
		err = errors.Join(err, o.closer.Close())
	}
	return err
}

func (o *JSONLines) String() string { return o.name }
