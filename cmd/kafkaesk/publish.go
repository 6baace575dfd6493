package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

const publishSynopsis = "--stream STREAM [--schema NAME:VERSION] [--schema-file FILE.json] [--key KEY] [--data JSON]"

// maxLineBytes is the longest stdin line publish reads; a longer one is
// refused with its line number, and the lines after it are still read.
// Kafka's own limit is lower (1 MiB per message unless BatchBytes is
// raised with --kafka-settings), and reported per line too.
const maxLineBytes = 64 << 20

// flushTimeout bounds the wait for the outcome of the messages handed to
// the producer, once stdin ends or a signal arrives. The producer retries
// retriable failures meanwhile; when the bound passes, Close gives up on
// what is left and reports each message as failed (never sent, so not in
// the topic) or with an unknown outcome (a request carried it). A
// variable for the tests.
var flushTimeout = 30 * time.Second

// runPublish publishes JSON documents, from --data or one per stdin line,
// to a stream, wrapped in the envelope of --schema or already enveloped.
// localBroker is where publish sends without --kafka-servers: where
// `kafkaesk broker` and collect's embedded broker listen by default.
var localBroker = "127.0.0.1:" + strconv.Itoa(defaultBrokerPort)

func runPublish(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("publish", publishSynopsis, std)
	kf := addKafkaFlags(fs)
	kf.addSpoolFlags(fs)
	stream := fs.String("stream", "", "stream to publish to; its topic is the topic prefix followed by the stream; required")
	schemaKey := fs.String("schema", "", "wrap each document as the data of an envelope of this schema, NAME:VERSION\n(default: each document is a whole envelope, published as it is)")
	schemaFile := fs.String("schema-file", "", "JSON Schema file the data of --schema must match\n(default: the built-in one for "+record.SchemaID+", none for other schemas)")
	key := fs.String("key", "", "record key of every message, which picks the partition (default: none, a random partition)")
	data := fs.String("data", "", "publish this one JSON document instead of reading one per line from stdin")
	rest, err := kf.parse(fs, args)
	if err != nil {
		return err
	}
	dataGiven := flagGiven(fs, "data")
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q: give the document with --data or on stdin", rest[0])
	case *stream == "":
		return usagef("flag --stream is required")
	case *schemaFile != "" && *schemaKey == "":
		return usagef("flag --schema-file needs --schema NAME:VERSION, the schema it describes")
	}
	p := &publisher{stream: *stream, errOut: std.err}
	if *schemaKey != "" {
		id, version, err := parseSchemaKey(*schemaKey)
		if err != nil {
			return err
		}
		p.wrapKey = id + ":" + strconv.Itoa(version)
		if p.schema, err = loadSchema(id, version, *schemaFile); err != nil {
			return err
		}
	} else {
		// Replayed envelopes of log events are checked as --schema
		// PydanticLogModel:N would check their data.
		if p.eventSchema, err = loadSchema(record.SchemaID, 1, ""); err != nil {
			return err
		}
	}
	if *key != "" {
		p.opts = append(p.opts, core.Key([]byte(*key)))
	}

	var dataValue []byte
	if dataGiven {
		// A bad --data is reported before anything connects.
		if dataValue, err = p.value([]byte(*data)); err != nil {
			p.refuse("--data", err)
			return p.finish(nil)
		}
	}
	cfg := kf.config(std)
	if !kf.brokersGiven() {
		cfg.Brokers = []string{localBroker}
	}
	app, err := connect(ctx, cfg)
	if err != nil {
		if !kf.brokersGiven() {
			return fmt.Errorf("%w (no --kafka-servers given: start a broker with 'kafkaesk broker', or give --kafka-servers)", err)
		}
		return err
	}
	p.app = app
	// The producer would create the topic on the first line; creating it
	// now fails at once, with one error, when the broker refuses to,
	// instead of once for every line read.
	if err := app.EnsureStream(ctx, *stream, 0); err != nil {
		closeApp(app)
		return err
	}
	if dataGiven {
		_ = p.send(ctx, "--data", dataValue) // reported and counted by send
		return p.finish(nil)
	}
	if f, ok := std.in.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		fmt.Fprintln(std.err, "kafkaesk publish: reading JSON documents from stdin, one per line; end with Ctrl-D")
	}
	return p.finish(p.publishLines(ctx, std.in))
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// parseSchemaKey parses --schema NAME:VERSION.
func parseSchemaKey(s string) (id string, version int, err error) {
	id, v, ok := strings.Cut(s, ":")
	switch {
	case !ok || v == "":
		return "", 0, usagef("flag --schema: %q has no version: give NAME:VERSION, as %s:1", s, id)
	case id == "":
		return "", 0, usagef("flag --schema: %q has no name: give NAME:VERSION", s)
	case !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }):
		return "", 0, usagef("flag --schema: name %q has a character the envelope would have to escape", id)
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 || strings.TrimLeft(v, "0123456789") != "" {
		return "", 0, usagef("flag --schema: version %q is not a whole number from 1 up", v)
	}
	return id, version, nil
}

// loadSchema returns the schema validating the data of id:version: the
// one in file, else the built-in log event schema for record.SchemaID,
// else nil (published unvalidated).
func loadSchema(id string, version int, file string) (*core.Schema, error) {
	doc := []byte(record.EventSchemaJSON)
	if file != "" {
		var err error
		if doc, err = os.ReadFile(file); err != nil {
			var perr *os.PathError
			if errors.As(err, &perr) {
				err = perr.Err
			}
			return nil, fmt.Errorf("schema file %s: %w", file, err)
		}
	} else if id != record.SchemaID {
		return nil, nil
	}
	s, err := core.CompileSchema(core.SchemaOptions{ID: id, Version: version}, doc)
	if err != nil {
		if file == "" {
			return nil, err // never: the record package tests compile it
		}
		return nil, fmt.Errorf("schema file %s: %w", file, err)
	}
	return s, nil
}

// publisher turns documents into message values, hands them to the
// producer and counts the outcome. Its counters and errOut are shared
// with the delivery callbacks, which run on the producer's goroutine.
type publisher struct {
	stream      string
	wrapKey     string       // --schema, normalised; "" when documents are envelopes
	schema      *core.Schema // validates the data of wrapKey; nil: none
	eventSchema *core.Schema // validates replayed log event envelopes
	opts        []core.PublishOption
	app         *core.Application // nil until connected

	refused   atomic.Int64 // documents never handed to the producer
	sent      atomic.Int64 // handed to the producer
	published atomic.Int64 // acknowledged by the broker
	failed    atomic.Int64 // reported failed by the producer: not in the topic
	unknown   atomic.Int64 // reported with core.ErrOutcomeUnknown: may be in the topic
	spooled   atomic.Int64 // written to the --spool-dir spool, which delivers them

	mu       sync.Mutex // guards errOut and finished
	errOut   io.Writer
	finished bool // set by finish: late callbacks write nothing
}

// reportf writes one line on stderr, unless finish has returned.
func (p *publisher) reportf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.finished {
		fmt.Fprintf(p.errOut, format+"\n", args...)
	}
}

// refuse reports a document that is not handed to the producer.
func (p *publisher) refuse(label string, err error) {
	p.refused.Add(1)
	p.reportf("%s: %v", label, err)
}

// value returns the message value of one document, or why it is refused.
func (p *publisher) value(doc []byte) ([]byte, error) {
	// Unmarshal, unlike Compact, says where a syntax error is.
	if err := json.Unmarshal(doc, new(json.RawMessage)); err != nil {
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			return nil, fmt.Errorf("invalid JSON: %v (at byte %d)", err, serr.Offset)
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if p.wrapKey != "" {
		if c := compact.Bytes()[0]; c != '{' {
			return nil, fmt.Errorf("does not match schema %s: the data is a JSON %s, not an object", p.wrapKey, jsonKind(c))
		}
		if p.schema != nil {
			if err := p.schema.Validate(compact.Bytes()); err != nil {
				return nil, fmt.Errorf("does not match schema %s: %s", p.wrapKey, describeValidation(err))
			}
		}
		return core.AppendEnvelope(make([]byte, 0, compact.Len()+len(p.wrapKey)+24), p.wrapKey, compact.Bytes()), nil
	}
	env, err := core.DecodeEnvelope(compact.Bytes())
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "kafkaesk: message is not a kafkaesk envelope: ")
		return nil, fmt.Errorf(`not a kafkaesk envelope {"schema":"NAME:VERSION","data":{...}}: %s (give --schema NAME:VERSION to publish documents as data)`, reason)
	}
	if id, _, _ := strings.Cut(env.Schema, ":"); id == record.SchemaID {
		if err := p.eventSchema.Validate(env.Data); err != nil {
			return nil, fmt.Errorf("does not match schema %s: %s", env.Schema, describeValidation(err))
		}
	}
	return bytes.Clone(bytes.TrimSpace(doc)), nil
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// describeValidation lists the failing fields of a *core.ValidationError.
func describeValidation(err error) string {
	var verr *core.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) == 0 {
		return err.Error()
	}
	parts := make([]string, len(verr.Problems))
	for i, pr := range verr.Problems {
		field := pr.Field
		if field == "" {
			field = "(document)"
		}
		parts[i] = "field " + field + ": " + pr.Reason
	}
	return strings.Join(parts, "; ")
}

// send hands value to the producer; label names the document in errors.
// It returns the error of a hand-over the producer refused (the document
// is then counted and reported as refused), or nil.
func (p *publisher) send(ctx context.Context, label string, value []byte) error {
	done := func(err error) {
		switch {
		case err == nil:
			p.published.Add(1)
		case errors.Is(err, core.ErrSpooled):
			p.spooled.Add(1)
		case errors.Is(err, core.ErrOutcomeUnknown):
			p.unknown.Add(1)
			p.reportf("%s: %v", label, err)
		default:
			// A message over the batch limit (core.ErrMessageTooLarge)
			// comes here too, from the producer, not from the call.
			p.failed.Add(1)
			p.reportf("%s: %v", label, err)
		}
	}
	if err := p.app.RawPublishAsync(ctx, p.stream, value, done, p.opts...); err != nil {
		p.refuse(label, err)
		return err
	}
	p.sent.Add(1)
	return nil
}

// inputLine is one line of stdin, copied, or the error that ended the
// reading.
type inputLine struct {
	n       int // from 1
	text    []byte
	tooLong bool // text is empty: the line had more than maxLineBytes
	err     error
}

// publishLines publishes each non-blank line of in until it ends or ctx
// does. Reading happens on a goroutine of its own, so that a signal stops
// a publish waiting on a terminal; that goroutine returns once this one
// does, unless it is blocked in a Read, which only the process exit ends.
func (p *publisher) publishLines(ctx context.Context, in io.Reader) error {
	lines := make(chan inputLine, 64)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(lines)
		readLines(in, maxLineBytes, func(l inputLine) bool {
			select {
			case lines <- l:
				return true
			case <-stop:
				return false
			}
		})
	}()
	for {
		var l inputLine
		var ok bool
		select {
		case l, ok = <-lines:
		case <-ctx.Done():
			return errInterrupted
		}
		switch {
		case !ok:
			return nil
		case l.err != nil:
			return fmt.Errorf("read stdin: %w", l.err)
		case l.tooLong:
			p.refuse("stdin:"+strconv.Itoa(l.n), fmt.Errorf("line longer than %d MiB", maxLineBytes>>20))
			continue
		}
		label := "stdin:" + strconv.Itoa(l.n)
		value, err := p.value(l.text)
		if err != nil {
			p.refuse(label, err)
			continue
		}
		err = p.send(ctx, label, value)
		if ctx.Err() != nil {
			return errInterrupted
		}
		if errors.Is(err, core.ErrBufferFull) {
			// The producer took nothing for RequestTimeout: the broker
			// is down or far too slow. Waiting as long again for each of
			// the lines left would look like a hang.
			return fmt.Errorf("stopped reading stdin at line %d: the producer's buffer stayed full (is the broker reachable?)", l.n)
		}
	}
}

// readLines reads in line by line and calls fn with every line that is
// not blank, until in ends (fn is not called for io.EOF), a read fails
// (fn gets the error, and the number of the line it cut) or fn returns
// false. Lines end with "\n" or "\r\n" and are trimmed of spaces; a line
// longer than maxLen is passed with tooLong set, and reading goes on.
func readLines(in io.Reader, maxLen int, fn func(inputLine) bool) {
	r := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		var line []byte
		tooLong := false
		var err error
		for {
			var chunk []byte
			chunk, err = r.ReadSlice('\n')
			if !tooLong {
				if len(line)+len(chunk) > maxLen+2 { // room for "\r\n"
					tooLong, line = true, nil
				} else {
					line = append(line, chunk...)
				}
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			fn(inputLine{n: n, err: err})
			return
		}
		line = bytes.TrimSpace(line)
		if tooLong || len(line) > maxLen {
			if !fn(inputLine{n: n, tooLong: true}) {
				return
			}
		} else if len(line) > 0 {
			if !fn(inputLine{n: n, text: line}) {
				return
			}
		}
		if err != nil { // io.EOF
			return
		}
	}
}

// errInterrupted ends publishLines when a signal arrives first. It is
// not a failure: the documents read so far are published.
var errInterrupted = errors.New("interrupted before the end of stdin")

// finish waits for the outcome of what was handed to the producer,
// closes the application and reports the counts. end is why the input
// ended early, or nil. It returns an error when a document failed, its
// outcome is unknown, or the input could not be read.
func (p *publisher) finish(end error) error {
	var spool core.SpoolStats
	if p.app != nil {
		// Messages already accepted go out even after a signal. Flush and
		// Close share one deadline: when it passes, Close gives up and
		// reports every message left, each through its callback.
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		// With a spool, Close alone: it stops waiting once delivery
		// stalls, and leaves the rest on disk.
		if p.app.SpoolStats().Dir == "" {
			if err := p.app.Flush(ctx); err != nil {
				p.reportf("kafkaesk publish: gave up waiting for acknowledgements after %v: %v", flushTimeout, err)
			}
		}
		if err := p.app.Close(ctx); err != nil && ctx.Err() == nil {
			p.reportf("kafkaesk publish: %v", err)
		}
		cancel()
		spool = p.app.SpoolStats()
	}
	p.mu.Lock()
	p.finished = true
	p.mu.Unlock()
	published, unknown, spooled := p.published.Load(), p.unknown.Load(), p.spooled.Load()
	failed := p.failed.Load() + p.refused.Load()
	// Close reports every message it held; one whose report never came
	// is not known to be out of the topic.
	unknown += p.sent.Load() - published - p.failed.Load() - p.unknown.Load() - spooled
	summary := fmt.Sprintf("published %d, failed %d to %s", published, failed, p.stream)
	if unknown > 0 {
		summary += fmt.Sprintf("; %d with an unknown outcome, which may be in the topic", unknown)
	}
	if spool.Dir != "" && (spooled > 0 || spool.Recovered > 0 || spool.OnDisk > 0) {
		// Spooled messages are safe on disk: not a failure.
		summary += fmt.Sprintf("; spool %s: %d written to it, %d delivered from it, %d failed from it, %d left on disk for the next kafkaesk to open it",
			spool.Dir, spooled, spool.Delivered, spool.Failed, spool.OnDisk)
	}
	switch {
	case errors.Is(end, errInterrupted):
		summary += " (" + end.Error() + ")"
	case end != nil:
		return fmt.Errorf("%s; %w", summary, end)
	}
	if failed > 0 || unknown > 0 {
		return errors.New(summary)
	}
	fmt.Fprintf(p.errOut, "kafkaesk publish: %s\n", summary)
	return nil
}
