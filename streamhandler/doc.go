// Package streamhandler is the console side of kafkaesk's logging: a
// [log/slog] handler that writes one human-readable line per record, the
// Go counterpart of kafkaesk's PydanticStreamHandler. The lines are those
// of github.com/lmittmann/tint:
//
//	Jan  2 15:04:05.000 INF signed in: user=ana, attempts=2 ip=10.0.0.1
//
// # Options
//
// [Options] has the field names of slog.HandlerOptions and tint.Options
// (Level, AddSource, ReplaceAttr, TimeFormat) and a zero value that is all
// defaults: level Info, no source, time as time.StampMilli. Colours follow
// [Options.Color]: by default they are used only when the writer is a
// terminal and NO_COLOR is not set, so a log file or a pipe gets plain
// text. [ColorAlways] and [ColorNever] force the choice.
//
//	h := streamhandler.New(os.Stderr, &streamhandler.Options{
//		Level:      slog.LevelDebug,
//		TimeFormat: time.TimeOnly,
//	})
//	slog.SetDefault(slog.New(h))
//
// tint.Attr and tint.Err work with this handler as with tint.
//
// # Log models
//
// A log model (a struct embedding record.Model) passed as an attribute
// value is taken out of the attributes and its fields are appended to the
// message, as kafkaesk does with a pydantic model marked _is_log_model:
//
//	type UserLog struct {
//		record.Model
//		User     string `json:"user"`
//		Attempts int    `json:"attempts"`
//	}
//
//	logger.Info("signed in", "event", UserLog{User: "ana", Attempts: 2})
//	// INF signed in: user=ana, attempts=2
//
// Fields are shown by JSON name in field order, and a model's pairs stop
// once they pass 256 characters, kafkaesk's budget; [Handler.Handle] has
// the exact rule. The Kafka handler publishes all of a model's fields.
//
// # Console and Kafka together
//
// [slog.NewMultiHandler] sends each record to several handlers, so one
// logger can write to the console and publish to Kafka:
//
//	logger := slog.New(slog.NewMultiHandler(
//		streamhandler.New(os.Stderr, nil),
//		kafkaHandler,
//	))
//
// Each handler filters by its own level.
//
// # Groups and ReplaceAttr
//
// Groups behave as in slog.TextHandler: keys are prefixed with their
// groups joined by dots, groups without attributes are left out, and
// ReplaceAttr receives the full list of open groups. The handler keeps
// WithGroup's groups itself rather than in tint, working around tint's
// slice aliasing between sibling groups; see [Handler.WithGroup].
package streamhandler
