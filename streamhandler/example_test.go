package streamhandler_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// removeTime drops the leading time, so that the output below is fixed.
func removeTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

func Example() {
	logger := slog.New(streamhandler.New(os.Stdout, &streamhandler.Options{
		Color:       streamhandler.ColorNever,
		ReplaceAttr: removeTime,
	}))
	logger.Info("started", "port", 8080)
	logger.Debug("not shown: the default level is Info")
	logger.With("component", "auth").Warn("slow login", "path", "/login", "took", 1500*time.Millisecond)
	// Output:
	// INF started port=8080
	// WRN slow login component=auth path=/login took=1.5s
}

// LoginLog is a log model: it embeds record.Model.
type LoginLog struct {
	record.Model
	User     string `json:"user"`
	Attempts int    `json:"attempts"`
}

// A log model's fields go into the message, kafkaesk's way; its key is
// not shown. Past 256 characters of pairs, the rest of a model's fields
// are left out of the line (not out of what the Kafka handler publishes).
func Example_logModel() {
	logger := slog.New(streamhandler.New(os.Stdout, &streamhandler.Options{
		Color:       streamhandler.ColorNever,
		ReplaceAttr: removeTime,
	}))
	logger.Info("signed in", "event", LoginLog{User: "ana", Attempts: 2}, "ip", "10.0.0.1")
	// Output:
	// INF signed in: user=ana, attempts=2 ip=10.0.0.1
}

// One logger, two handlers: the console and, here standing in for the
// Kafka handler, slog's JSON handler. Each filters by its own level, and
// a handler that does not know log models logs them as ordinary values.
func Example_multiHandler() {
	console := streamhandler.New(os.Stdout, &streamhandler.Options{
		Level:       slog.LevelDebug,
		Color:       streamhandler.ColorNever,
		ReplaceAttr: removeTime,
	})
	published := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: removeTime})
	logger := slog.New(slog.NewMultiHandler(console, published))

	logger.Debug("checking password", "user", "ana")
	logger.Info("signed in", "event", LoginLog{User: "ana", Attempts: 2})
	// Output:
	// DBG checking password user=ana
	// INF signed in: user=ana, attempts=2
	// {"level":"INFO","msg":"signed in","event":{"user":"ana","attempts":2}}
}

// Groups prefix the keys that follow, and ReplaceAttr receives them.
func ExampleHandler_WithGroup() {
	logger := slog.New(streamhandler.New(os.Stdout, &streamhandler.Options{
		Color: streamhandler.ColorNever,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 && groups[len(groups)-1] == "user" && a.Key == "password" {
				return slog.String(a.Key, "***")
			}
			return removeTime(groups, a)
		},
	}))
	req := logger.WithGroup("req").With("id", 7)
	req.WithGroup("user").Info("signed in", "name", "ana", "password", "hunter2")
	req.Info("done")
	// Output:
	// INF signed in req.id=7 req.user.name=ana req.user.password=***
	// INF done req.id=7
}
