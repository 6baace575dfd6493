package benchmarks

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// RequestLog is the log model of the shared event: sloghandler merges its
// fields into the event, other handlers log it as an ordinary value.
type RequestLog struct {
	record.Model
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// NewLogger returns a logger on h with the two attributes every service
// adds once (pre-formatted by handlers that can).
func NewLogger(h slog.Handler) *slog.Logger {
	return slog.New(h).With("service", "checkout", "version", "1.4.2")
}

// Log makes the call every contender handles: five attributes and a log
// model, as sloghandler's own benchmark does. Through sloghandler it
// encodes to about 300 bytes.
func Log(l *slog.Logger) {
	l.LogAttrs(context.Background(), slog.LevelInfo, "request served",
		slog.String("user", "ana"),
		slog.Int("items", 3),
		slog.Duration("took", 1500*time.Microsecond),
		slog.Bool("cached", true),
		slog.Float64("ratio", 0.75),
		slog.Any("request", RequestLog{Method: "POST", Path: "/api/v1/orders", Status: 201}),
	)
}

// Key is the record key sloghandler gives every event by default (the
// hostname, so that one process's events stay in order on one
// partition); the raw producers send it too, so that they place events
// exactly as sloghandler does.
func Key() []byte { return []byte(record.LocalHost().Hostname) }

var encoded = sync.OnceValue(func() []byte {
	var value []byte
	h := record.NewHandler(func(b []byte) error {
		value = append([]byte(nil), b...)
		return nil
	}, nil, nil)
	Log(NewLogger(h))
	return value
})

// Encoded returns what sloghandler sends for Log's call with its default
// options: the raw producers send these bytes. The caller must not modify
// them.
func Encoded() []byte { return encoded() }
