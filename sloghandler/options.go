package sloghandler

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Options configures a Handler. The zero value logs Info and above to a
// 10,000-event queue that drops new events when full, as kafkaesk's
// handler does.
type Options struct {
	// Level is the minimum level handled. Default: slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds the caller's function, file and line to each event.
	AddSource bool
	// ReplaceAttr rewrites or drops attributes, as in slog.HandlerOptions.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
	// ContextAttrs pull attributes from each record's context (trace ids,
	// request ids), logged like the record's own.
	ContextAttrs []func(ctx context.Context) []slog.Attr
	// StackLevel, when set, puts the caller's stack in the "trace" field
	// of events at or above its level, as Python's stack_info does (see
	// record.Options.StackLevel): a stack walk on the caller per such
	// event. Default: nil, no stack. An error attribute needs no option:
	// it always fills "exception" (its meaningful type) and "stack" (its
	// chain).
	StackLevel slog.Leveler
	// Logger is the events' "logger" field. Default: the program's name.
	Logger string
	// Schema is the envelope's schema key. Default: "PydanticLogModel:1",
	// which Python kafkaesk services read.
	Schema string
	// Key is the record key of every event: it picks the partition.
	// Default: the hostname, so that one process's events stay on one
	// partition, in the order they were logged.
	Key []byte

	// QueueSize is how many encoded events may wait for Kafka's
	// acknowledgement, in the producer's buffer or in flight: it bounds
	// the handler's memory. The application's MaxBufferedMessages bounds
	// its producer as a whole. Default: 10,000.
	QueueSize int
	// WhenFull says what Handle does when the queue is full.
	// Default: DropNewest.
	WhenFull FullPolicy
	// BlockTimeout bounds the wait of the Block policy. Default: 100ms.
	BlockTimeout time.Duration
	// SpoolDir, with Open, is the directory of the application's disk
	// spool (core.Config.Spool.Dir, its other settings at their
	// defaults): when Kafka does not take events as fast as they come, or
	// is away, they wait on disk instead of being dropped, and a restart
	// sends them. With New the application's own Config.Spool applies, and
	// SpoolDir must be empty. Default: none.
	SpoolDir string
	// Warnings receives the handler's own warnings (drops, delivery
	// failures), at most one every 30 seconds, never through slog (which
	// could be this handler). Default: os.Stderr.
	Warnings io.Writer
}

// FullPolicy is what Handle does when the queue is full.
type FullPolicy int

const (
	// DropNewest drops the event being logged and counts it: the caller is
	// never held. The default, as kafkaesk.
	DropNewest FullPolicy = iota
	// Block waits up to BlockTimeout for room, then drops: back-pressure
	// for those who prefer it to loss.
	Block
)

// Defaults, named so that docs, tests and the bench command agree.
const (
	DefaultQueueSize    = 10_000
	DefaultBlockTimeout = 100 * time.Millisecond
	// WarnInterval is the least time between two warnings, as kafkaesk.
	WarnInterval = 30 * time.Second
)
